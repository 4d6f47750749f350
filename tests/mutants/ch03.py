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


MUTANTS = {
    "saliency_map": [
        ("no absolute value", lambda m, x, t: attribution.saliency(m, x, t, absolute=False)),
        ("off-by-one target", lambda m, x, t: attribution.saliency(m, x, t - 1)),
        ("gradient of all logits", lambda m, x, t: torch.autograd.grad(
            m(xx := x.detach().requires_grad_(True)).sum(), xx)[0].abs()),
        ("input times gradient", lambda m, x, t: attribution.input_x_gradient(m, x, t).abs()),
    ],
    "integrated_gradients_midpoint": [
        ("forgot (images - baseline)", _ig(times_diff=False)),
        ("left Riemann points", _ig(rule="riemann_left")),
        ("summed instead of averaged", lambda m, x, t, b, n: _ig()(m, x, t, b, n) * n),
        ("ignored the baseline (path from zero)", lambda m, x, t, b, n: _ig()(
            m, x, t, torch.zeros_like(x), n)),
    ],
    "completeness_delta": [
        ("sign flipped", _delta(sign=-1.0)),
        ("forgot F(baseline)", _delta(with_baseline=False)),
        ("summed over the batch", lambda a, m, x, t, b: _delta()(a, m, x, t, b).sum().expand(
            x.shape[0])),
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
    ],
    "grad_cam_map": [
        ("forgot the ReLU", _cam(relu=False)),
        ("summed gradients instead of averaging", _cam(reduce="sum")),
        ("activations only, no gradient", _activation_cam),
    ],
    "rank_correlation": [
        ("Pearson on values", _pearson),
        ("one argsort gives order, not ranks", _single_argsort),
    ],
}
