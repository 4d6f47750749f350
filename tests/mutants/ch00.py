import torch

from interp_lib import dataset_examples
from interp_lib.hooks import capture


def _scores(model, images, layer, channel, reduce):
    with torch.no_grad(), capture(model, layer) as acts:
        model(images)
    return reduce(acts[layer][:, channel])


def _leaves_a_hook(model, images, layer, channel, k):
    store = {}
    dict(model.named_modules())[layer].register_forward_hook(
        lambda m, i, o: store.__setitem__("a", o.detach()))  # never removed
    with torch.no_grad():
        model(images)
    return torch.topk(store["a"][:, channel].mean(dim=(1, 2)), k).indices


def _switches_to_training(model, images, layer, channel, k):
    model.train()
    return torch.topk(_scores(model, images, layer, channel, lambda a: a.mean((1, 2))), k).indices


def _relu_first(model, images, layer, channel, k):
    return torch.topk(_scores(model, images, layer, channel,
                              lambda a: a.clamp_min(0).mean((1, 2))), k).indices


def _squeezed(model, images, layer, channel, k):
    return torch.topk(_scores(model, images, layer, channel, lambda a: a.mean((1, 2))),
                      k).indices.squeeze()


def _normalises_in_place(r):
    r /= r.amax(dim=1, keepdim=True).clamp_min(1e-12)  # changes the caller's tensor
    peak, mean = r.amax(1), r.mean(1)
    return torch.where(mean > 0, peak / mean.clamp_min(1e-12), torch.zeros_like(peak))


MUTANTS = {
    "channel_means": [
        ("wrong axis: mean over channels", lambda a: a.mean(dim=1)),
        ("forgot the batch axis", lambda a: a.mean(dim=(2, 3))),
        ("sum instead of mean", lambda a: a.sum(dim=(0, 2, 3))),
        ("max instead of mean", lambda a: a.amax(dim=(0, 2, 3))),
        ("mean over positions of image 0 only", lambda a: a[0].mean(dim=(1, 2))),
        ("side effect: ReLU in place", lambda a: a.clamp_(min=0).mean(dim=(0, 2, 3))),
        ("edge: squeeze breaks a batch of one", lambda a: a.squeeze().mean(dim=(0, 2, 3))),
        ("negative values dropped", lambda a: a.relu().mean(dim=(0, 2, 3))),
    ],
    "top_activating": [
        ("ascending order", lambda m, x, layer, c, k: torch.argsort(
            _scores(m, x, layer, c, lambda a: a.mean((1, 2))))[:k]),
        ("off-by-one channel", lambda m, x, layer, c, k: torch.topk(
            _scores(m, x, layer, (c + 1) % 6, lambda a: a.mean((1, 2))), k).indices),
        ("max over positions", lambda m, x, layer, c, k: torch.topk(
            _scores(m, x, layer, c, lambda a: a.amax((1, 2))), k).indices),
        ("returns the scores, not the indices", lambda m, x, layer, c, k: torch.topk(
            _scores(m, x, layer, c, lambda a: a.mean((1, 2))), k).values),
        ("centre neuron instead of the channel", lambda m, x, layer, c, k: torch.topk(
            _scores(m, x, layer, c, lambda a: a[:, a.shape[1] // 2, a.shape[2] // 2]), k).indices),
        ("side effect: a hook left on the model", _leaves_a_hook),
        ("side effect: switches the model to training mode", _switches_to_training),
        ("pre-activation layer passed through a ReLU", _relu_first),
        ("edge: squeeze breaks k = 1", _squeezed),
    ],
    "peak_to_mean": [
        ("no guard for silent channels", lambda r: r.amax(1) / r.mean(1)),
        ("wrong axis", lambda r: r.amax(0) / r.mean(0).clamp_min(1e-12)),
        ("peak over min", lambda r: torch.nan_to_num(r.amax(1) / r.amin(1), 0.0, 0.0, 0.0)),
        ("mean over peak (inverted)", lambda r: torch.nan_to_num(r.mean(1) / r.amax(1))),
        ("silent channels give 1", lambda r: torch.where(
            r.mean(1) > 0, r.amax(1) / r.mean(1).clamp_min(1e-12), torch.ones(r.shape[0]))),
        ("side effect: normalises the caller's responses in place", _normalises_in_place),
        ("edge: squeeze breaks one channel", lambda r: torch.nan_to_num(
            r.squeeze().amax(-1) / r.squeeze().mean(-1))),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _top_by_getattr(model, images, layer, channel, k):
    seen = {}
    handle = getattr(model, layer).register_forward_hook(lambda m, i, o: seen.update(out=o))
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    return torch.topk(seen["out"][:, channel].mean(dim=(1, 2)), k).indices


MUTANTS["top_activating"] += [
    ("[network] getattr: no dotted layer names", _top_by_getattr, "could not find layer"),
    ("[learner] the library's unit_scores", lambda m, images, layer, c, k: torch.topk(
        dataset_examples.unit_scores(m, images, layer, c), k).indices, "dataset_examples.unit_scores"),
    ("[learner] the library's top_examples", lambda m, images, layer, c, k: dataset_examples.top_examples(
        m, images, layer, c, k=k).indices, "dataset_examples.top_examples"),
]


# Fresh wrong answers from an independent author (issue 21's audit), now caught.
def _top_eval_left(model, images, layer, channel, k):
    model.eval()  # and never restored: the caller's model stays in eval mode
    with torch.no_grad(), capture(model, layer) as acts:
        model(images)
    return torch.topk(acts[layer][:, channel].mean(dim=(1, 2)), k).indices


MUTANTS["top_activating"] += [
    ("[fresh] switches the caller's model to eval mode and leaves it", _top_eval_left, "eval mode"),
]


# Fresh wrong answers, round 3 (issue 21), now caught.
def _means_from_items(acts):
    return torch.tensor([acts[:, c].mean().item() for c in range(acts.shape[1])])  # float32, CPU


def _mean_of_nonzero(responses):
    peak, nz = responses.amax(dim=1), (responses > 0).sum(dim=1)
    mean = responses.sum(dim=1) / nz.clamp_min(1)
    return torch.where(nz > 0, peak / mean.clamp_min(1e-12), torch.zeros_like(peak))


MUTANTS["channel_means"] += [
    ("[fresh] rebuilds the result from .item(): float32 whatever the input", _means_from_items, "dtype"),
]
MUTANTS["peak_to_mean"] += [
    ("[fresh] averages only the non-zero responses", _mean_of_nonzero, "non-zero responses"),
]


def _top_by_abs(model, images, layer, channel, k):
    return torch.topk(_scores(model, images, layer, channel, lambda a: a.abs().mean((1, 2))), k).indices


def _peak_to_mean_eps(responses):
    return responses.amax(dim=1) / (responses.mean(dim=1) + 1e-3)


MUTANTS["top_activating"] += [
    ("[fresh] ranks by the mean of absolute values", _top_by_abs, "absolute values"),
]
MUTANTS["channel_means"] += [
    ("[fresh] averages absolute values", lambda acts: acts.abs().mean(dim=(0, 2, 3)), "absolute values"),
]
MUTANTS["peak_to_mean"] += [
    ("[fresh] an epsilon added to every mean", _peak_to_mean_eps, "epsilon"),
]


def _top_freezes_weights(model, images, layer, channel, k):
    for p in model.parameters():
        p.requires_grad_(False)  # "for speed", never restored
    return torch.topk(_scores(model, images, layer, channel, lambda a: a.mean((1, 2))), k).indices


MUTANTS["channel_means"] += [
    ("[fresh] a numpy round trip: no gradient", lambda acts: torch.tensor(
        acts.detach().numpy().mean(axis=(0, 2, 3))), "no gradient"),
]
MUTANTS["top_activating"] += [
    ("[fresh] switches off requires_grad on the weights and leaves it", _top_freezes_weights,
     "requires_grad"),
]

