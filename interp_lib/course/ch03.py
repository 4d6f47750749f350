"""Checks for chapter 3, attribution.

The attribution exercises take a model: each check makes sure the model is
left as it was (no hooks, no gradients in its weights, same mode) and the
images are not changed.
"""

from __future__ import annotations

import torch

from interp_lib import attribution
from interp_lib.course.checks import (call, check, expect_bounded_memory, expect_close, expect_detached,
                                      expect_fast, expect_shape, fail)
from interp_lib.course.wild import attached, call_nested, torchvision_shaped_net
from interp_lib.organism.models import Architecture, ConvNet, init_weights, tiny_net

TITLE = "Attribution"


GRAPH_FREE = ("Take the gradient without create_graph=True: the map is data to look at, not part "
              "of a graph to differentiate again.")
ACTIVATION_GRADIENT = ("Use torch.autograd.grad(score, activations) to get the gradient of the "
                       "layer's activations alone.")


def _images(seed: int, n: int = 3, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _net():
    return tiny_net(seed=3)


def _deeper_net() -> ConvNet:
    """Three convs: relu2 feeds a further convolution, so its gradient differs from
    position to position and image to image (unlike the last layer before the pooling)."""
    net = ConvNet(Architecture((6, 8, 8), 3, (1, 2)))
    init_weights(net, 7)
    with torch.no_grad():
        for m in (net.conv1, net.conv2, net.conv3):
            m.bias.copy_(torch.linspace(-0.2, 0.3, m.bias.numel()))
    return net.eval()


@check("saliency_map", points=1, twins=["interp_lib.attribution.saliency"])
def check_saliency_map(fn) -> None:
    net, x = _net(), _images(0)
    out = call(fn, net, x, 5, what="saliency_map(model, images, 5)")
    expect_shape(out, tuple(x.shape), "saliency_map(model, images, 5)")
    grad = attribution.saliency(net, x, 5, absolute=False)
    if torch.allclose(out, grad, atol=1e-6) and (grad < 0).any():
        fail("your map has negative values: the saliency map is the *absolute* gradient.")
    if torch.allclose(out, attribution.saliency(net, x, 4), atol=1e-6):
        fail("you took the gradient of class 4 for target=5: an off-by-one?")
    if torch.allclose(out * len(x), grad.abs(), atol=1e-6):
        fail("your map is the right one divided by the batch size: you averaged the score over "
             "the batch (.mean()) before differentiating. Sum it: each image's score depends "
             "only on that image, so the sum's gradient gives each image its own gradient.")
    expect_close(out, grad.abs(), "Differentiate model(x)[:, target] with respect to the "
                 "images, then take the absolute value.", atol=1e-6)
    expect_detached(out, "the saliency map", GRAPH_FREE)
    one = x[:1]
    expect_close(call(fn, net, one, 2, what="saliency_map for one image"),
                 attribution.saliency(net, one, 2), "one image works like many.",
                 what="saliency_map(model, one image, 2)", atol=1e-6)


@check("integrated_gradients_midpoint", points=3, twins=["interp_lib.attribution.integrated_gradients"])
def check_integrated_gradients_midpoint(fn) -> None:
    net, x = _net(), _images(1)
    base = torch.full_like(x, 0.2)
    out = call(fn, net, x, 2, base, 16, what="integrated_gradients_midpoint(..., n_steps=16)")
    expect_shape(out, tuple(x.shape), "integrated_gradients_midpoint(..., n_steps=16)")
    ref = attribution.integrated_gradients(net, x, 2, baselines=base, n_steps=16,
                                           method="riemann_middle")
    no_diff = ref / (x - base)
    if torch.allclose(out, no_diff, rtol=1e-3, atol=1e-6):
        fail("you returned the average gradient: multiply it by (images - baseline).")
    left = attribution.integrated_gradients(net, x, 2, baselines=base, n_steps=16,
                                            method="riemann_left")
    if torch.allclose(out, left, rtol=1e-4, atol=1e-6):
        fail("your path points start at alpha = 0: the midpoint rule uses (k + 0.5) / n_steps.")
    if torch.allclose(out, ref * 16, rtol=1e-4, atol=1e-6):
        fail("you summed the gradients over the steps: average them (divide by n_steps).")
    zero_base = attribution.integrated_gradients(net, x, 2, baselines=torch.zeros_like(x),
                                                 n_steps=16, method="riemann_middle")
    if torch.allclose(out, zero_base, rtol=1e-3, atol=1e-6):
        fail("you ignored the baseline you were given (your path starts at black): the path "
             "runs from the baseline to the images.")
    expect_close(out, ref, "Average the gradients at baseline + (k + 0.5) / n * (images - "
                 "baseline) and multiply by (images - baseline).", rtol=1e-3, atol=1e-5)
    expect_detached(out, "the attribution map", GRAPH_FREE)
    out = call(fn, net, x[:1], 0, base[:1], 4, what="integrated_gradients_midpoint for one image")
    expect_close(out, attribution.integrated_gradients(net, x[:1], 0, baselines=base[:1], n_steps=4,
                                                       method="riemann_middle"),
                 "one image, 4 steps.", what="integrated_gradients_midpoint(one image, n_steps=4)",
                 rtol=1e-3, atol=1e-5)


@check("completeness_delta", points=2)
def check_completeness_delta(fn) -> None:
    net, x = _net(), _images(2)
    greys = torch.stack([torch.full_like(x[0], v) for v in (0.2, 0.5, 0.8)])  # one per image
    for base in (torch.zeros_like(x), torch.full_like(x, 0.5), greys):
        attr = attribution.integrated_gradients(net, x, 1, baselines=base, n_steps=8)
        what = ("completeness_delta(...) with a different baseline per image"
                if not torch.equal(base, base[:1].expand_as(base)) else
                f"completeness_delta(...) with a baseline of {float(base.mean()):.1f}")
        out = call(fn, attr, net, x, 1, base, what=what)
        expect_shape(out, (3,), "completeness_delta(...) for 3 images")
        with torch.no_grad():
            f_x, f_base = net(x)[:, 1], net(base)[:, 1]
        ref = attr.flatten(1).sum(1) - (f_x - f_base)
        if torch.allclose(out, -ref, atol=1e-5):
            fail("your sign is flipped: sum of attributions minus (F(image) - F(baseline)).")
        if torch.allclose(out, ref.abs(), atol=1e-5) and (ref < 0).any():
            fail("you returned the absolute value: the delta is signed (it says whether the "
                 "attributions over- or under-shoot).")
        if torch.allclose(out, attr.flatten(1).sum(1) - f_x, atol=1e-5):
            fail("you left out F(baseline): completeness compares with F(image) - F(baseline).")
        if not torch.equal(base, base[:1].expand_as(base)):
            with torch.no_grad():
                first = attr.flatten(1).sum(1) - (f_x - net(base[:1])[0, 1])
            if torch.allclose(out, first, atol=1e-5):
                fail("you compared every image with the first baseline: baseline i goes with "
                     "image i (each image can have its own), so use F(baseline)[i].")
        if base.abs().sum() > 0:
            with torch.no_grad():
                black = attr.flatten(1).sum(1) - (f_x - net(torch.zeros_like(x))[:, 1])
            if torch.allclose(out, black, atol=1e-5):
                fail("you used a black baseline whatever baseline you were given: use the "
                     "`baseline` argument.")
        expect_close(out, ref, "Per image: attributions summed over every dimension, minus "
                     "(F(image) - F(baseline)).", what=what)
        expect_detached(out, "the completeness delta", "Run the model under torch.no_grad(): "
                        "the delta is a number to read, not part of a graph.")


@check("occlusion_map", points=2, twins=["interp_lib.attribution.occlusion"])
def check_occlusion_map(fn) -> None:
    net, x = _net(), _images(3, size=12)
    out = call(fn, net, x, 6, 4, 0.5, what="occlusion_map(model, images, 6, window=4)")
    expect_shape(out, tuple(x.shape), "occlusion_map(model, images, 6, window=4)")
    ref = attribution.occlusion(net, x, 6, window=4, stride=4, baseline=0.5)
    if torch.allclose(out, -ref, atol=1e-5) and ref.abs().max() > 0:
        fail("your sign is flipped: F(images) - F(occluded), so that important regions are positive.")
    one_channel = attribution.occlusion(net, x, 6, window=(1, 4, 4), stride=(1, 4, 4), baseline=0.5)
    if torch.allclose(out, one_channel, atol=1e-5):
        fail("you occluded one colour channel at a time: occlude all three channels of the square.")
    expect_close(out, ref, "For each 4 x 4 square, set all channels to the baseline and record "
                 "the drop in the target logit over the whole square.", atol=1e-5)
    expect_detached(out, "the occlusion map", "Run the model under torch.no_grad() (the "
                    "@torch.no_grad() above the function does it): occlusion needs no gradient.")
    # A window that does not divide the image: the last squares are cut short, not skipped.
    out = call(fn, net, x, 2, 5, 0.0, what="occlusion_map(model, images, 2, window=5)")
    ref = attribution.occlusion(net, x, 2, window=5, stride=5, baseline=0.0)
    if out[..., 10:, :].abs().max() == 0 and ref[..., 10:, :].abs().max() > 0:
        fail("with a 5-pixel window on a 12-pixel image the last rows and columns (10 and 11) "
             "got nothing: occlude the last, partial square too (range(0, h, window) covers it).")
    expect_close(out, ref, "Squares of 5 pixels, the last ones 2 pixels wide.", atol=1e-5,
                 what="occlusion_map(model, images, 2, window=5) on 12 x 12 images")
    tall = x[..., :8]  # 12 rows, 8 columns
    what = "occlusion_map(model, images, 6, window=4) on images 12 tall and 8 wide"
    out = call(fn, net, tall, 6, 4, 0.5, what=what)
    ref = attribution.occlusion(net, tall, 6, window=4, stride=4, baseline=0.5)
    expect_shape(out, tuple(tall.shape), what)
    if out[..., 8:, :].abs().max() == 0 and ref[..., 8:, :].abs().max() > 0:
        fail("on images taller than they are wide, rows 8 to 11 got nothing: loop the rows "
             "over the height (H) and the columns over the width (W).")
    expect_close(out, ref, "Squares of 4 pixels over every row and column.", atol=1e-5, what=what)


@check("grad_cam_map", points=3, twins=["interp_lib.attribution.grad_cam"])
def check_grad_cam_map(fn) -> None:
    # relu2 of a three-layer net: its gradient varies over positions and images, so a map
    # that skips the spatial average, or averages over the batch, comes out different.
    # Target 0 gives maps with positive and negative parts (a quarter to a third positive).
    net, x, target = _deeper_net(), _images(4, n=3, size=16), 0
    what = f"grad_cam_map(model, images, {target}, 'relu2')"
    out = call(fn, net, x, target, "relu2", what=what, gradients=ACTIVATION_GRADIENT)
    expect_shape(out, (3, 1, 8, 8), what)
    expect_detached(out, "the Grad-CAM map", "Return it detached (.detach()): the map is data.")
    out = out.detach()
    ref = attribution.grad_cam(net, x, target, "relu2", upsample=False)
    raw = attribution.grad_cam(net, x, target, "relu2", relu=False, upsample=False)
    if (out < 0).any() and torch.allclose(out, raw, atol=1e-5):
        fail("your map has negative values: Grad-CAM keeps only the positive part (ReLU).")
    if torch.allclose(out, ref * 64, rtol=1e-3, atol=1e-6):
        fail("your weights are the gradient's sum over positions: average it.")
    from interp_lib.hooks import run_with_cache
    logits, acts = run_with_cache(net, x, "relu2", detach=False)
    (grad,) = torch.autograd.grad(logits[:, target].sum(), acts["relu2"])
    a = acts["relu2"].detach()
    no_average = (grad * a).sum(dim=1, keepdim=True).clamp_min(0)
    batch_average = (grad.mean(dim=(0, 2, 3), keepdim=True) * a).sum(dim=1, keepdim=True).clamp_min(0)
    if torch.allclose(out, no_average, atol=1e-5):
        fail("you multiplied gradient and activation position by position: Grad-CAM's "
             "channel weights are the gradient *averaged over positions* first.")
    if torch.allclose(out, batch_average, atol=1e-5):
        fail("you averaged the gradient over the batch too: each image gets its own weights.")
    expect_close(out, ref, "weights = gradient averaged over positions (per image); map = ReLU "
                 "of the weighted sum of channels.", atol=1e-5)
    # torchvision's layout: the layer inside a Sequential, its name with a dot, its ReLU in place.
    wild = torchvision_shaped_net(5)
    images = torch.rand(2, 3, 127, 127, generator=torch.Generator().manual_seed(14))
    what = "grad_cam_map(alexnet_like, images, 3, 'features.9')"
    got = call_nested(fn, wild, images, 3, "features.9", what=what, gradients=ACTIVATION_GRADIENT)
    expect_close(got, attribution.grad_cam(wild, images, 3, "features.9", upsample=False),
                 "the same map for a layer inside a nested network.", what=what, atol=1e-5)


def _ranks_centred(v: torch.Tensor) -> torch.Tensor:
    r = v.flatten().argsort().argsort().double()
    return r - r.mean()


@check("rank_correlation", points=2,
       twins=["interp_lib.attribution.spearman", "interp_lib.attribution.sanity_check.average_ranks"])
def check_rank_correlation(fn) -> None:
    g = torch.Generator().manual_seed(5)
    a = torch.randn(40, generator=g)
    b = a**3 + 0.3 * torch.randn(40, generator=g)
    out = call(fn, a, b, what="rank_correlation(a, b)")
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        fail("you returned a one-number tensor: return a Python float (float(...)), as the "
             "docstring asks; a tensor is not a float to isinstance, json or a table of results.")
    if not isinstance(out, float):
        fail(f"return a float, got {type(out).__name__}")
    ref = attribution.spearman(a, b)
    pearson = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    if abs(out - pearson) < 1e-6 and abs(ref - pearson) > 1e-3:
        fail("that is Pearson's correlation of the values: Spearman's correlates their ranks.")
    once = torch.corrcoef(torch.stack([a.argsort().double(), b.argsort().double()]))[0, 1]
    if abs(out - float(once)) < 1e-6:
        fail("you correlated a.argsort() with b.argsort(): argsort gives the order of the "
             "indices, not each value's rank. A value's rank is x.argsort().argsort().")
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    uncentred = float((ra * rb).sum() / torch.sqrt((ra**2).sum() * (rb**2).sum()))
    if abs(out - uncentred) < 1e-6:
        fail("you forgot to centre the ranks (subtract their mean) before correlating.")
    if abs(out - ref) > 1e-6:
        fail(f"rank_correlation gave {out:.4f}, expected {ref:.4f}.")
    if abs(call(fn, a, -a, what="rank_correlation(a, -a)") + 1) > 1e-6:
        fail("a tensor and its negative should have rank correlation -1.")
    # The chapter compares whole attribution maps, (N, 3, H, W): every value counts.
    maps_a = torch.randn(2, 3, 8, 8, generator=g)
    maps_b = maps_a + torch.randn(2, 3, 8, 8, generator=g)
    got = call(fn, maps_a, maps_b, what="rank_correlation on maps (2, 3, 8, 8)")
    got = got.item() if isinstance(got, torch.Tensor) and got.numel() == 1 else got
    if not isinstance(got, float):
        fail("on maps shaped (2, 3, 8, 8) return one float for all their values: flatten them "
             "first (ranking along the last axis only ranks each row on its own).")
    ra, rb = _ranks_centred(maps_a), _ranks_centred(maps_b)
    whole = float((ra * rb).sum() / torch.sqrt((ra**2).sum() * (rb**2).sum()))
    if abs(got - whole) > 1e-6:
        fail(f"on maps shaped (2, 3, 8, 8) you gave {got:.4f}, expected {whole:.4f}: rank "
             "all the values together (flatten first), not row by row.")
    # Maps as they come from an attribution method that kept its graph.
    got = call(fn, attached(maps_a), attached(maps_b), what="rank_correlation on maps that "
               "require grad")
    got = got.item() if isinstance(got, torch.Tensor) and got.numel() == 1 else got
    if not isinstance(got, float) or abs(got - whole) > 1e-6:
        fail(f"on maps that require grad you gave {got}, expected {whole:.4f}.")
    big = torch.randn(4, 3, 64, 64, generator=g)  # four RGB maps of the chapter's size
    expect_bounded_memory(lambda: fn(big, big.flip(0)), extra_mb=400, timeout=5,
                          what="rank_correlation on four 64 x 64 RGB maps")
    expect_fast(fn, _reference_rank, big, big.flip(0), what="rank_correlation",
                on="four 64 x 64 RGB maps (49152 values)",
                cause="a Python loop to rank the values (list.index, or counting the smaller "
                      "ones)? x.argsort().argsort() ranks them all at once.")


def _reference_rank(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = _ranks_centred(a), _ranks_centred(b)
    return float((ra * rb).sum() / torch.sqrt((ra**2).sum() * (rb**2).sum()))
