import math

import torch

from interp_lib import attribution
from interp_lib.hooks import run_with_cache


def _ig(rule="riemann_middle", times_diff=True, scale=1.0):
    def ig(model, images, target, baseline, n_steps):
        attr = attribution.integrated_gradients(model, images, target, baselines=baseline, n_steps=n_steps,
                                      method=rule)
        return (attr if times_diff else attr / (images - baseline)) * scale
    return ig


def _cam(relu=True, reduce="mean"):
    def cam(model, images, target, layer):
        logits, acts = run_with_cache(model, images, layer, detach=False)
        a = acts[layer]
        (grad,) = torch.autograd.grad(logits[:, target].sum(), a)
        w = grad.mean(dim=(2, 3), keepdim=True) if reduce == "mean" else grad.sum(
            dim=(2, 3), keepdim=True)
        m = (w * a).sum(dim=1, keepdim=True)
        return (m.clamp_min(0) if relu else m).detach()
    return cam


def _activation_cam(model, images, target, layer):
    _, acts = run_with_cache(model, images, layer)
    return acts[layer].mean(dim=1, keepdim=True)


def _pearson(a, b):
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def _single_argsort(a, b):
    ra, rb = a.flatten().argsort().double(), b.flatten().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / math.sqrt(float((ra**2).sum() * (rb**2).sum())))


def _delta(sign=1.0, with_baseline=True):
    def delta(attr, model, images, target, baseline):
        with torch.no_grad():
            gap = model(images)[:, target] - (model(baseline)[:, target] if with_baseline else 0)
        return sign * (attr.flatten(1).sum(1) - gap)
    return delta


def _saliency_backward(model, images, target):
    x = images.detach().requires_grad_(True)
    model(x)[:, target].sum().backward()  # fills .grad of every weight too
    return x.grad.abs()


def _saliency_in_place(model, images, target):
    images.requires_grad_(True)  # turns the caller's tensor into a leaf that records gradients
    (grad,) = torch.autograd.grad(model(images)[:, target].sum(), images)
    return grad.abs()


def _saliency_squeezed(model, images, target):
    return attribution.saliency(model, images, target).squeeze()


def _ig_accumulates_in_images(model, images, target, baseline, n_steps):
    diff = images.sub_(baseline)  # "images - baseline", computed in the caller's tensor
    total = torch.zeros_like(diff)
    for k in range(n_steps):
        x = (baseline + (k + 0.5) / n_steps * diff).detach().requires_grad_(True)
        total += torch.autograd.grad(model(x)[:, target].sum(), x)[0]
    return diff * total / n_steps


def _delta_absolute(attr, model, images, target, baseline):
    return _delta()(attr, model, images, target, baseline).abs()


def _delta_black_baseline(attr, model, images, target, baseline):
    return _delta()(attr, model, images, target, torch.zeros_like(images))


def _occlusion_skips_partial(model, images, target, window, baseline=0.0):
    with torch.no_grad():
        score = model(images)[:, target]
        out = torch.zeros_like(images)
        h, w = images.shape[-2:]
        for r in range(0, h - window + 1, window):  # the last, partial window is skipped
            for c in range(0, w - window + 1, window):
                occ = images.clone()
                occ[:, :, r:r + window, c:c + window] = baseline
                out[:, :, r:r + window, c:c + window] = (score - model(occ)[:, target])[:, None, None, None]
    return out


def _occlusion_in_place(model, images, target, window, baseline=0.0):
    with torch.no_grad():
        score = model(images)[:, target]
        out = torch.zeros_like(images)
        h, w = images.shape[-2:]
        for r in range(0, h, window):
            for c in range(0, w, window):
                saved = images[:, :, r:r + window, c:c + window].clone()
                images[:, :, r:r + window, c:c + window] = baseline  # on the caller's images
                drop = score - model(images)[:, target]
                out[:, :, r:r + window, c:c + window] = drop[:, None, None, None]
                images[:, :, r:r + window, c:c + window] = saved + 1e-3  # "restored", almost
    return out


def _cam_no_spatial_average(model, images, target, layer):
    logits, acts = run_with_cache(model, images, layer, detach=False)
    a = acts[layer]
    (grad,) = torch.autograd.grad(logits[:, target].sum(), a)
    return (grad * a).sum(dim=1, keepdim=True).clamp_min(0).detach()


def _cam_batch_average(model, images, target, layer):
    logits, acts = run_with_cache(model, images, layer, detach=False)
    a = acts[layer]
    (grad,) = torch.autograd.grad(logits[:, target].sum(), a)
    w = grad.mean(dim=(0, 2, 3), keepdim=True)  # one set of weights for the whole batch
    return (w * a).sum(dim=1, keepdim=True).clamp_min(0).detach()


def _cam_hook_left(model, images, target, layer):
    store = {}
    dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    logits = model(images)
    a = store["a"]
    (grad,) = torch.autograd.grad(logits[:, target].sum(), a)
    return (grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1, keepdim=True).clamp_min(0).detach()


def _cam_backward(model, images, target, layer):
    logits, acts = run_with_cache(model, images, layer, detach=False)
    a = acts[layer]
    a.retain_grad()
    logits[:, target].sum().backward()  # gradients land in the weights too
    return (a.grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1, keepdim=True).clamp_min(0).detach()


def _uncentred(a, b):
    ra, rb = a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double()
    return float((ra * rb).sum() / math.sqrt(float((ra**2).sum() * (rb**2).sum())))


def _pairwise_ranks(a, b):
    def ranks(x):
        x = x.flatten()
        return (x[:, None] > x[None, :]).sum(dim=1).double()  # O(n^2) memory
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / math.sqrt(float((ra**2).sum() * (rb**2).sum())))


def _last_axis_ranks(a, b):
    ra, rb = a.argsort(-1).argsort(-1).double(), b.argsort(-1).argsort(-1).double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / math.sqrt(float((ra**2).sum() * (rb**2).sum())))


def _ranks_in_place(a, b):
    a.sub_(a.mean())  # "centre" the caller's values
    return attribution.spearman(a, b)


MUTANTS = {
    "saliency_map": [
        ("no absolute value", lambda m, x, t: attribution.saliency(m, x, t, absolute=False)),
        ("off-by-one target", lambda m, x, t: attribution.saliency(m, x, t - 1)),
        ("gradient of all logits", lambda m, x, t: torch.autograd.grad(
            m(xx := x.detach().requires_grad_(True)).sum(), xx)[0].abs()),
        ("input times gradient", lambda m, x, t: attribution.input_x_gradient(m, x, t).abs()),
        ("side effect: .backward() leaves gradients on the weights", _saliency_backward),
        ("side effect: makes the caller's images record gradients", _saliency_in_place),
        ("edge: squeeze breaks a batch of one", _saliency_squeezed),
    ],
    "integrated_gradients_midpoint": [
        ("forgot (images - baseline)", _ig(times_diff=False)),
        ("left Riemann points", _ig(rule="riemann_left")),
        ("summed instead of averaged", lambda m, x, t, b, n: _ig()(m, x, t, b, n) * n),
        ("ignored the baseline (path from zero)", lambda m, x, t, b, n: _ig()(
            m, x, t, torch.zeros_like(x), n)),
        ("side effect: images - baseline computed in place", _ig_accumulates_in_images),
    ],
    "completeness_delta": [
        ("sign flipped", _delta(sign=-1.0)),
        ("forgot F(baseline)", _delta(with_baseline=False)),
        ("summed over the batch", lambda a, m, x, t, b: _delta()(a, m, x, t, b).sum().expand(
            x.shape[0])),
        ("absolute value", _delta_absolute),
        ("hard-coded: assumes the chapter's black baseline", _delta_black_baseline),
    ],
    "occlusion_map": [
        ("sign flipped", lambda m, x, t, w, b=0.0: -attribution.occlusion(m, x, t, window=w, stride=w,
                                                               baseline=b)),
        ("one colour channel at a time", lambda m, x, t, w, b=0.0: attribution.occlusion(
            m, x, t, window=(1, w, w), stride=(1, w, w), baseline=b)),
        ("ignored the baseline value (zeros)", lambda m, x, t, w, b=0.0: attribution.occlusion(
            m, x, t, window=w, stride=w, baseline=0.0)),
        ("overlapping windows, stride 1", lambda m, x, t, w, b=0.0: attribution.occlusion(
            m, x, t, window=w, stride=1, baseline=b)),
        ("edge: the last, partial window is skipped", _occlusion_skips_partial),
        ("side effect: occludes the caller's images", _occlusion_in_place),
    ],
    "grad_cam_map": [
        ("forgot the ReLU", _cam(relu=False)),
        ("summed gradients instead of averaging", _cam(reduce="sum")),
        ("activations only, no gradient", _activation_cam),
        ("degenerate: no spatial average", _cam_no_spatial_average),
        ("hard-coded: weights averaged over the batch too", _cam_batch_average),
        ("side effect: a hook left on the model", _cam_hook_left),
        ("side effect: .backward() leaves gradients on the weights", _cam_backward),
    ],
    "rank_correlation": [
        ("Pearson on values", _pearson),
        ("one argsort gives order, not ranks", _single_argsort),
        ("ranks not centred", _uncentred),
        ("cost: pairwise comparison needs O(n^2) memory", _pairwise_ranks),
        ("edge: ranks along the last axis only", _last_axis_ranks),
        ("side effect: centres the caller's values in place", _ranks_in_place),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _saliency_graph(model, images, target):
    x = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, target].sum(), x, create_graph=True)
    return grad.abs()


def _ig_graph(model, images, target, baseline, n_steps):
    total = torch.zeros_like(images)
    for k in range(n_steps):
        x = (baseline + (k + 0.5) / n_steps * (images - baseline)).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x)[:, target].sum(), x, create_graph=True)
        total = total + grad
    return (images - baseline) * total / n_steps


def _delta_with_graph(attributions, model, images, target, baseline):
    gap = model(images)[:, target] - model(baseline)[:, target]  # no torch.no_grad()
    return attributions.flatten(1).sum(dim=1) - gap


def _occlusion_with_graph(model, images, target, window, baseline=0.0):
    score = model(images)[:, target]  # written without the @torch.no_grad() decorator
    result = torch.zeros_like(images)
    for r in range(0, images.shape[-2], window):
        for c in range(0, images.shape[-1], window):
            occluded = images.clone()
            occluded[:, :, r:r + window, c:c + window] = baseline
            drop = score - model(occluded)[:, target]
            result[:, :, r:r + window, c:c + window] = drop[:, None, None, None]
    return result


def _cam_attached(model, images, target, layer):
    logits, acts = run_with_cache(model, images, layer, detach=False)
    (grad,) = torch.autograd.grad(logits[:, target].sum(), acts[layer], retain_graph=True)
    return (grad.mean(dim=(2, 3), keepdim=True) * acts[layer]).sum(dim=1, keepdim=True).clamp_min(0)


def _cam_getattr(model, images, target, layer):
    seen = {}
    handle = getattr(model, layer).register_forward_hook(lambda m, i, o: seen.update(a=o))
    try:
        logits = model(images)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logits[:, target].sum(), seen["a"])
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return (weights * seen["a"]).sum(dim=1, keepdim=True).clamp_min(0).detach()


def _spearman_scipy(a, b):
    from scipy.stats import spearmanr
    return float(spearmanr(a.flatten().numpy(), b.flatten().numpy())[0])  # no detach


def _ranks_by_index(a, b):
    def ranks(v):
        values = v.flatten().tolist()
        ordered = sorted(values)
        return torch.tensor([ordered.index(x) for x in values], dtype=torch.float64)  # O(n^2)
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / torch.sqrt((ra**2).sum() * (rb**2).sum()))


MUTANTS["saliency_map"] += [
    ("[detached] gradient taken with create_graph=True", _saliency_graph, "still attached"),
    ("[learner] the library's attribution.saliency", lambda m, x, t: attribution.saliency(m, x, t),
     "attribution.saliency"),
]
MUTANTS["integrated_gradients_midpoint"] += [
    ("[detached] gradients taken with create_graph=True", _ig_graph, "still attached"),
    ("[learner] the library's attribution.integrated_gradients", lambda m, x, t, base, n: (
        attribution.integrated_gradients(m, x, t, baselines=base, n_steps=n, method="riemann_middle")),
     "attribution.integrated_gradients"),
]
MUTANTS["completeness_delta"] += [
    ("[detached] the model run outside torch.no_grad()", _delta_with_graph, "still attached"),
]
MUTANTS["occlusion_map"] += [
    ("[detached] written without torch.no_grad()", _occlusion_with_graph, "still attached"),
    ("[learner] the library's attribution.occlusion", lambda m, x, t, w, base=0.0: attribution.occlusion(
        m, x, t, window=w, stride=w, baseline=base), "attribution.occlusion"),
]
MUTANTS["grad_cam_map"] += [
    ("[detached] the map returned with its graph", _cam_attached, "still attached"),
    ("[network] getattr: no dotted layer names", _cam_getattr, "could not find layer"),
    ("[learner] the library's attribution.grad_cam", lambda m, x, t, layer: attribution.grad_cam(
        m, x, t, layer, upsample=False), "attribution.grad_cam"),
]
MUTANTS["rank_correlation"] += [
    ("[wild] scipy on maps that require grad", _spearman_scipy, "requires grad"),
    ("[cost] ranks by list.index (a Python loop)", _ranks_by_index, "slower than the reference"),
    ("[learner] the library's attribution.spearman", lambda a, b: attribution.spearman(a, b),
     "attribution.spearman"),
]


# Fresh wrong answers, round 3 (issue 21), now caught.
def _delta_first_baseline(attributions, model, images, target, baseline):
    with torch.no_grad():
        gap = model(images)[:, target] - model(baseline[:1])[0, target]
    return attributions.flatten(1).sum(dim=1) - gap


MUTANTS["completeness_delta"] += [
    ("[fresh] one baseline (the first) for every image", _delta_first_baseline, "first baseline"),
]


@torch.no_grad()
def _occlusion_rows_over_width(model, images, target, window, baseline=0.0):
    n, _, h, w = images.shape
    base = model(images)[:, target]
    out = torch.zeros_like(images)
    for r in range(0, w, window):  # rows looped over the width: wrong on tall images
        for c in range(0, w, window):
            occluded = images.clone()
            occluded[:, :, r:r + window, c:c + window] = baseline
            out[:, :, r:r + window, c:c + window] = (base - model(occluded)[:, target])[:, None, None, None]
    return out


def _rank_correlation_tensor(a, b):
    ra, rb = a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra * rb).sum() / torch.sqrt((ra**2).sum() * (rb**2).sum())  # a tensor, not a float


MUTANTS["occlusion_map"] += [
    ("[fresh] rows looped over the width: tall images half covered", _occlusion_rows_over_width,
     "taller than"),
]
MUTANTS["rank_correlation"] += [
    ("[fresh] returns a one-number tensor, not a float", _rank_correlation_tensor, "Python float"),
]


def _saliency_batch_mean(model, images, target):
    x = images.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, target].mean(), x)  # mean: each gradient / N
    return grad.abs()


MUTANTS["saliency_map"] += [
    ("[fresh] the score averaged over the batch before the gradient", _saliency_batch_mean, "batch size"),
]

