import torch
import torch.nn.functional as F

from interp_lib.optvis import objectives as obj


def _ascent(sign=1.0, clamp=True, detach=True):
    def step(image, score_fn, lr):
        x = image.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(score_fn(x), x, create_graph=not detach)
        out = x + sign * lr * grad
        out = out.clamp(0, 1) if clamp else out
        return out.detach() if detach else out
    return step


def _diversity(sign=1.0, diagonal=False, normalise=True):
    def div(acts):
        n, c = acts.shape[:2]
        flat = acts.reshape(n, c, -1)
        gram = torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1)
        v = F.normalize(gram, dim=1) if normalise else gram
        sim = v @ v.T
        if diagonal:
            return sign * sim.mean()
        return sign * (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    return div


def _swapped(acts, channel, x=None, y=None):
    h, w = acts.shape[2:]
    row = (w // 2 if x is None else x) % h  # x used as the row
    col = h // 2 if y is None else y
    return acts[:, channel, row, col]


def _step_only(image, score_fn, lr):
    x = image.detach().requires_grad_(True)
    return (lr * torch.autograd.grad(score_fn(x), x)[0]).detach()


def _centre_minus_one(acts, channel, x=None, y=None):
    h, w = acts.shape[2:]
    return acts[:, channel, (h - 1) // 2 if y is None else y, (w - 1) // 2 if x is None else x]


def _one_coordinate_resets_the_other(acts, channel, x=None, y=None):
    h, w = acts.shape[2:]
    if x is None or y is None:  # either given alone falls back to the centre for both
        x, y = w // 2, h // 2
    return acts[:, channel, y, x]


def _neuron_no_grad(acts, channel, x=None, y=None):
    with torch.no_grad():
        h, w = acts.shape[2:]
        return acts[:, channel, h // 2 if y is None else y, w // 2 if x is None else x]


def _neuron_squeezed(acts, channel, x=None, y=None):
    h, w = acts.shape[2:]
    return acts[:, channel, h // 2 if y is None else y, w // 2 if x is None else x].squeeze()


def _deepdream_in_place(acts):
    return acts.pow_(2).mean(dim=(1, 2, 3))


def _naive_softmax(logits, cls):
    e = logits.exp()
    return e[:, cls] / e.sum(dim=1)


def _ascent_in_place(image, score_fn, lr):
    x = image.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(score_fn(x), x)
    image += lr * grad  # changes the caller's image
    return image.clamp_(0, 1).detach()


def _ascent_backward(image, score_fn, lr):
    x = image.detach().requires_grad_(True)
    score_fn(x).backward()  # also fills .grad of every weight the score uses
    return (x + lr * x.grad).clamp(0, 1).detach()


def _ascent_fixed_lr(image, score_fn, lr):
    x = image.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(score_fn(x), x)
    return (x + 0.1 * grad).clamp(0, 1).detach()  # the one lr the first check uses


def _diversity_divides_by_norm(acts):
    n, c = acts.shape[:2]
    flat = acts.reshape(n, c, -1)
    gram = torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1)
    v = gram / gram.norm(dim=1, keepdim=True)  # NaN for an image that leaves the layer silent
    sim = v @ v.T
    return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))


def _diversity_detached(acts):
    return _diversity()(acts.detach())


def _neuron_relu_in_place(acts, channel, x=None, y=None):
    h, w = acts.shape[-2:]
    x = w // 2 if x is None else x
    y = h // 2 if y is None else y
    return acts[:, channel].relu_()[:, y, x]  # relu_ on a view zeroes the caller's values


def _channel_mean_divides_view(acts, channel):
    a = acts[:, channel]
    a /= a.shape[-1] * a.shape[-2]  # a view: divides the caller's activations
    return a.sum(dim=(1, 2))


def _softmax_stabilised_in_place(logits, cls):
    logits -= logits.amax(dim=1, keepdim=True)  # the caller's logits are shifted
    e = logits.exp()
    return e[:, cls] / e.sum(dim=1)


def _diversity_normalises_in_place(acts):
    n, c = acts.shape[:2]
    flat = acts.view(n, c, -1)
    flat /= flat.norm(dim=2, keepdim=True).clamp_min(1e-8)  # writes into the caller's tensor
    gram = F.normalize(torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1), dim=1)
    sim = gram @ gram.T
    return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))


MUTANTS = {
    "neuron_value": [
        ("side effect: relu_() on a view of the caller's activations", _neuron_relu_in_place),
        ("rows and columns swapped", _swapped),
        ("edge: centre (H - 1) // 2 is one row off on even grids", _centre_minus_one),
        ("edge: one coordinate given resets both to the centre", _one_coordinate_resets_the_other),
        ("edge: squeeze breaks a batch of one", _neuron_squeezed),
        ("no gradient: computed under torch.no_grad()", _neuron_no_grad),
        ("corner instead of centre", lambda a, c, x=None, y=None: a[:, c, y or 0, x or 0]),
        ("mean over positions", lambda a, c, x=None, y=None: a[:, c].mean(dim=(1, 2))),
        ("off-by-one centre", lambda a, c, x=None, y=None: a[
            :, c, a.shape[2] // 2 - 1 if y is None else y, a.shape[3] // 2 - 1 if x is None else x]),
    ],
    "channel_value": [
        ("side effect: divides a view of the caller's activations", _channel_mean_divides_view),
        ("sum over positions", lambda a, c: a[:, c].sum(dim=(1, 2))),
        ("off-by-one channel", lambda a, c: a[:, c + 1].mean(dim=(1, 2))),
        ("max over positions", lambda a, c: a[:, c].amax(dim=(1, 2))),
        ("mean over the batch too", lambda a, c: a[:, c].mean().expand(a.shape[0])),
        ("negative values dropped", lambda a, c: a[:, c].relu().mean(dim=(1, 2))),
        ("no gradient: detached", lambda a, c: a[:, c].detach().mean(dim=(1, 2))),
        ("edge: squeeze breaks a batch of one", lambda a, c: a[:, c].mean(dim=(1, 2)).squeeze()),
    ],
    "deepdream_value": [
        ("forgot to square", lambda a: a.mean(dim=(1, 2, 3))),
        ("squared the mean", lambda a: a.mean(dim=(1, 2, 3)) ** 2),
        ("sum instead of mean", lambda a: (a**2).sum(dim=(1, 2, 3))),
        ("absolute value instead of square", lambda a: a.abs().mean(dim=(1, 2, 3))),
        ("ReLU before squaring", lambda a: (a.relu() ** 2).mean(dim=(1, 2, 3))),
        ("side effect: squares the layer's output in place", _deepdream_in_place),
        ("no gradient: .item() per image", lambda a: torch.tensor(
            [float((x**2).mean()) for x in a])),
    ],
    "class_probability_value": [
        ("side effect: subtracts the max from the caller's logits", _softmax_stabilised_in_place),
        ("softmax over the batch", lambda z, k: torch.softmax(z, dim=0)[:, k]),
        ("sigmoid", lambda z, k: torch.sigmoid(z[:, k])),
        ("log-probability", lambda z, k: torch.log_softmax(z, dim=1)[:, k]),
        ("the logit itself", lambda z, k: z[:, k]),
        ("edge: exp() overflows on large logits", _naive_softmax),
        ("no gradient: detached logits", lambda z, k: torch.softmax(z.detach(), dim=1)[:, k]),
    ],
    "ascent_step": [
        ("descent: sign flipped", _ascent(sign=-1.0)),
        ("no clamp", _ascent(clamp=False)),
        ("not detached", _ascent(detach=False)),
        ("returns the step, not the new image", _step_only),
        ("side effect: updates the caller's image in place", _ascent_in_place),
        ("side effect: .backward() leaves gradients on the weights", _ascent_backward),
        ("hard-coded: the step ignores lr", _ascent_fixed_lr),
    ],
    "diversity_value": [
        ("side effect: normalises the caller's activations in place",
         _diversity_normalises_in_place),
        ("sign flipped", _diversity(sign=-1.0)),
        ("diagonal included", _diversity(diagonal=True)),
        ("Gram vectors not normalised", _diversity(normalise=False)),
        ("edge: NaN when an image leaves the layer silent", _diversity_divides_by_norm),
        ("no gradient: detached activations", _diversity_detached),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _per_image(make, key="x"):
    """The library's objective, one image at a time: the exercise's values, from its twin."""
    def value(acts, *args, **kwargs):
        return torch.stack([make(*args, **kwargs, batch=i)({key: acts}) for i in range(len(acts))])
    return value


MUTANTS["neuron_value"] += [
    ("[learner] the library's objectives.neuron", lambda a, c, x=None, y=None: _per_image(
        lambda **kw: obj.neuron("x", c, x=x, y=y, **kw))(a), "objectives.neuron"),
]
MUTANTS["channel_value"] += [
    ("[learner] the library's objectives.channel",
     lambda a, c: _per_image(lambda **kw: obj.channel("x", c, **kw))(a), "objectives.channel"),
]
MUTANTS["deepdream_value"] += [
    ("[learner] the library's objectives.layer",
     lambda a: _per_image(lambda **kw: obj.layer("x", **kw))(a), "objectives.layer"),
]
MUTANTS["class_probability_value"] += [
    ("[learner] the library's objectives.class_probability", lambda logits, c: _per_image(
        lambda **kw: obj.class_probability(c, **kw), key=obj.OUTPUT)(logits), "objectives.class_probability"),
]
MUTANTS["diversity_value"] += [
    ("[learner] the library's objectives.diversity", lambda a: obj.diversity("x")({"x": a}),
     "objectives.diversity"),
]
