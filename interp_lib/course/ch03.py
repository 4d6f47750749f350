"""Checks for chapter 3, attribution."""

from __future__ import annotations

import torch

from interp_lib import attribution
from interp_lib.course.checks import check, expect_close, expect_shape, fail
from interp_lib.organism.models import tiny_net


def _images(seed: int, n: int = 3, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _net():
    return tiny_net(seed=3)


@check("saliency_map")
def check_saliency_map(fn) -> None:
    net, x = _net(), _images(0)
    out = fn(net, x.clone(), 5)
    expect_shape(out, tuple(x.shape), "saliency_map(model, images, 5)")
    grad = attribution.saliency(net, x, 5, absolute=False)
    if torch.allclose(out, grad, atol=1e-6) and (grad < 0).any():
        fail("your map has negative values: the saliency map is the *absolute* gradient.")
    if torch.allclose(out, attribution.saliency(net, x, 4), atol=1e-6):
        fail("you took the gradient of class 4 for target=5: an off-by-one?")
    expect_close(out, grad.abs(), "Differentiate model(x)[:, target] with respect to the "
                 "images, then take the absolute value.", atol=1e-6)


@check("integrated_gradients_midpoint")
def check_integrated_gradients_midpoint(fn) -> None:
    net, x = _net(), _images(1)
    base = torch.full_like(x, 0.2)
    out = fn(net, x.clone(), 2, base.clone(), 16)
    expect_shape(out, tuple(x.shape), "integrated_gradients_midpoint(..., n_steps=16)")
    ref = attribution.integrated_gradients(net, x, 2, baselines=base, n_steps=16, method="riemann_middle")
    no_diff = ref / (x - base)
    if torch.allclose(out, no_diff, rtol=1e-3, atol=1e-6):
        fail("you returned the average gradient: multiply it by (images - baseline).")
    left = attribution.integrated_gradients(net, x, 2, baselines=base, n_steps=16, method="riemann_left")
    if torch.allclose(out, left, rtol=1e-4, atol=1e-6):
        fail("your path points start at alpha = 0: the midpoint rule uses (k + 0.5) / n_steps.")
    if torch.allclose(out, ref * 16, rtol=1e-4, atol=1e-6):
        fail("you summed the gradients over the steps: average them (divide by n_steps).")
    expect_close(out, ref, "Average the gradients at baseline + (k + 0.5) / n * (images - "
                 "baseline) and multiply by (images - baseline).", rtol=1e-3, atol=1e-5)


@check("completeness_delta")
def check_completeness_delta(fn) -> None:
    net, x = _net(), _images(2)
    base = torch.zeros_like(x)
    attr = attribution.integrated_gradients(net, x, 1, baselines=base, n_steps=8)
    out = fn(attr.clone(), net, x.clone(), 1, base.clone())
    expect_shape(out, (3,), "completeness_delta(...) for 3 images")
    with torch.no_grad():
        gap = net(x)[:, 1] - net(base)[:, 1]
    ref = attr.flatten(1).sum(1) - gap
    if torch.allclose(out, -ref, atol=1e-5):
        fail("your sign is flipped: sum of attributions minus (F(image) - F(baseline)).")
    with torch.no_grad():
        if torch.allclose(out, attr.flatten(1).sum(1) - net(x)[:, 1], atol=1e-5):
            fail("you left out F(baseline): completeness compares with F(image) - F(baseline).")
    expect_close(out, ref, "Per image: attributions summed over every dimension, minus "
                 "(F(image) - F(baseline)).")


@check("occlusion_map")
def check_occlusion_map(fn) -> None:
    net, x = _net(), _images(3, size=12)
    out = fn(net, x.clone(), 6, 4, 0.5)
    expect_shape(out, tuple(x.shape), "occlusion_map(model, images, 6, window=4)")
    ref = attribution.occlusion(net, x, 6, window=4, stride=4, baseline=0.5)
    if torch.allclose(out, -ref, atol=1e-5) and ref.abs().max() > 0:
        fail("your sign is flipped: F(images) - F(occluded), so that important regions are positive.")
    one_channel = attribution.occlusion(net, x, 6, window=(1, 4, 4), stride=(1, 4, 4), baseline=0.5)
    if torch.allclose(out, one_channel, atol=1e-5):
        fail("you occluded one colour channel at a time: occlude all three channels of the square.")
    expect_close(out, ref, "For each 4 x 4 square, set all channels to the baseline and record "
                 "the drop in the target logit over the whole square.", atol=1e-5)


@check("grad_cam_map")
def check_grad_cam_map(fn) -> None:
    net, x = _net(), _images(4, size=16)
    out = fn(net, x.clone(), 3, "relu2")
    expect_shape(out, (3, 1, 8, 8), "grad_cam_map(model, images, 3, 'relu2')")
    ref = attribution.grad_cam(net, x, 3, "relu2", upsample=False)
    raw = attribution.grad_cam(net, x, 3, "relu2", relu=False, upsample=False)
    if (out < 0).any() and torch.allclose(out, raw, atol=1e-5):
        fail("your map has negative values: Grad-CAM keeps only the positive part (ReLU).")
    if torch.allclose(out, ref * 64, rtol=1e-3, atol=1e-6):
        fail("your weights are the gradient's sum over positions: average it.")
    expect_close(out.detach(), ref, "weights = gradient averaged over positions; map = ReLU of "
                 "the weighted sum of channels.", atol=1e-5)


@check("rank_correlation")
def check_rank_correlation(fn) -> None:
    g = torch.Generator().manual_seed(5)
    a = torch.randn(40, generator=g)
    b = a**3 + 0.3 * torch.randn(40, generator=g)
    out = fn(a.clone(), b.clone())
    if isinstance(out, torch.Tensor):
        out = out.item()
    if not isinstance(out, float):
        fail(f"return a float, got {type(out).__name__}")
    ref = attribution.spearman(a, b)
    pearson = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    if abs(out - pearson) < 1e-6 and abs(ref - pearson) > 1e-3:
        fail("that is Pearson's correlation of the values: Spearman's correlates their ranks.")
    if abs(out - ref) > 1e-6:
        fail(f"rank_correlation gave {out:.4f}, expected {ref:.4f}. Ranks are "
             "x.argsort().argsort(), not x.argsort().")
    if abs(fn(a, -a) + 1) > 1e-6:
        fail("a tensor and its negative should have rank correlation -1.")
