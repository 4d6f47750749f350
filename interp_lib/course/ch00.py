"""Checks for chapter 0, the model organism."""

from __future__ import annotations

import torch

from interp_lib.course.checks import call, check, expect_close, expect_shape, fail
from interp_lib.course.wild import call_nested, torchvision_shaped_net
from interp_lib.hooks import run_with_cache
from interp_lib.organism.models import tiny_net

TITLE = "The model organism"


def _acts(seed: int = 0, shape=(5, 7, 6, 4)) -> torch.Tensor:
    """Pre-activation-like values: negative and positive, each channel its own level."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 2 + torch.arange(shape[1]).view(1, -1, 1, 1) - 2


@check("channel_means", points=2)
def check_channel_means(fn) -> None:
    acts = _acts()
    out = call(fn, acts, what="channel_means(acts)")
    expect_shape(out, (acts.shape[1],), "channel_means(acts) for acts (5, 7, 6, 4)")
    ref = acts.mean(dim=(0, 2, 3))
    if torch.allclose(out, acts.sum(dim=(0, 2, 3)), rtol=1e-4):
        fail("your values are sums, not means: divide by the number of elements averaged over.")
    if torch.allclose(out, acts.amax(dim=(0, 2, 3)), rtol=1e-4):
        fail("your values are maxima: a channel's activation is its mean.")
    if torch.allclose(out, acts.abs().mean(dim=(0, 2, 3)), rtol=1e-4):
        fail("you averaged absolute values: a negative activation counts as negative. Average "
             "the activations as they are.")
    if torch.allclose(out, acts.clamp_min(0).mean(dim=(0, 2, 3)), rtol=1e-4):
        fail("you dropped the negative values (a ReLU or a clamp): average the activations "
             "as they are; a pre-activation layer such as conv1 has negative values.")
    expect_close(out, ref, "Average over the batch and both spatial axes (dims 0, 2, 3).")
    wide = acts.double()
    out = call(fn, wide, what="channel_means(acts) for float64 acts")
    if not isinstance(out, torch.Tensor) or out.dtype != torch.float64:
        got = out.dtype if isinstance(out, torch.Tensor) else type(out).__name__
        fail(f"channel_means(acts) for float64 acts returned {got}: keep the input's dtype "
             "(and device). Compute with tensor operations on acts; building a new tensor "
             "from Python numbers (.item(), torch.tensor([...])) loses both.")
    live = acts.clone().requires_grad_(True)  # as capture(..., detach=False) gives them in a render
    out = call(fn, live, what="channel_means(acts) for acts that require grad")
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        fail("for activations that require grad your result has no gradient: chapter 1's channel "
             "objective is this average, and a render climbs its gradient. Compute with torch "
             "operations on acts (no numpy round trip, no .item()).")
    one = _acts(1, (1, 3, 4, 4))
    out = call(fn, one, what="channel_means(acts) for a batch of one image")
    expect_shape(out, (3,), "channel_means(acts) for acts (1, 3, 4, 4), a batch of one image")
    expect_close(out, one.mean(dim=(0, 2, 3)), "Average over dims 0, 2, 3 also for one image.",
                 what="channel_means(acts) for one image")


def _scores(model, images, layer, channel, reduce):
    _, acts = run_with_cache(model, images, layer)
    return reduce(acts[layer][:, channel])


@check("top_activating", points=3,
       twins=["interp_lib.dataset_examples.top_examples", "interp_lib.dataset_examples.unit_scores"])
def check_top_activating(fn) -> None:
    net = tiny_net()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(40, 3, 16, 16, generator=g)
    for layer, channel, k in (("relu2", 3, 5), ("relu1", 0, 3), ("conv2", 7, 4), ("relu2", 5, 1)):
        scores = _scores(net, images, layer, channel, lambda a: a.mean(dim=(1, 2)))
        ref = torch.argsort(scores, descending=True)[:k]
        what = f"top_activating(model, images, {layer!r}, channel={channel}, k={k})"
        out = call(fn, net, images, layer, channel, k, what=what)
        expect_shape(out, (k,), what)
        out = out.long()
        if torch.equal(out, torch.argsort(scores)[:k]):
            fail(f"{what} gave the least activating images: sort in descending order.")
        if set(out.tolist()) == set(ref.tolist()) and not torch.equal(out, ref):
            fail(f"{what} has the right images in the wrong order: most activating first.")
        if not torch.equal(out, ref):
            by_max = torch.argsort(_scores(net, images, layer, channel,
                                           lambda a: a.amax(dim=(1, 2))), descending=True)[:k]
            relu = torch.argsort(_scores(net, images, layer, channel,
                                         lambda a: a.clamp_min(0).mean(dim=(1, 2))),
                                 descending=True)[:k]
            by_abs = torch.argsort(_scores(net, images, layer, channel,
                                           lambda a: a.abs().mean(dim=(1, 2))), descending=True)[:k]
            shifted = torch.argsort(scores, descending=True)[1:k + 1]
            if len(shifted) == k and torch.equal(out, shifted):
                hint = ("You skipped the most activating image: the top k are [:k] of the "
                        "descending order, not [1:k + 1].")
            elif torch.equal(out, by_max):
                hint = "You ranked by the maximum over positions; rank by the mean."
            elif layer.startswith("conv") and torch.equal(out, by_abs):
                hint = (f"You ranked by the mean of absolute values: on the pre-activation layer "
                        f"{layer!r} a strongly negative response is not a strong one. Rank by "
                        "the mean as it is.")
            elif layer.startswith("conv") and torch.equal(out, relu):
                hint = ("You dropped the negative values of the pre-activation layer "
                        f"{layer!r}: rank by its mean as it is.")
            else:
                hint = (f"Did you read layer {layer!r} and channel {channel} (not a neighbour), "
                        "and average over positions?")
            fail(f"{what} returned {out.tolist()}, expected {ref.tolist()}. {hint}")
    # A network laid out as torchvision's: the layer is inside a Sequential, named with a dot.
    wild = torchvision_shaped_net(4)
    images = torch.rand(12, 3, 127, 127, generator=g)
    what = "top_activating(alexnet_like, images, 'features.7', channel=2, k=3)"
    out = call_nested(fn, wild, images, "features.7", 2, 3, what=what)
    ref = torch.argsort(_scores(wild, images, "features.7", 2, lambda a: a.mean(dim=(1, 2))),
                        descending=True)[:3]
    expect_shape(out, (3,), what)
    if not torch.equal(out.long(), ref):
        fail(f"{what} returned {out.tolist()}, expected {ref.tolist()}: read the named layer, "
             "at any depth.")


@check("peak_to_mean", points=2)
def check_peak_to_mean(fn) -> None:
    g = torch.Generator().manual_seed(2)
    responses = torch.rand(6, 16, generator=g) ** 3
    responses[2] = 0.0  # a silent channel
    responses[4, 5] = 4.0  # a sharply tuned one
    responses[0, :9] = 0.0  # silent at some angles, as a unit behind a ReLU is
    out = call(fn, responses, what="peak_to_mean(responses)")
    expect_shape(out, (6,), "peak_to_mean(responses) for responses (6, 16)")
    if not torch.isfinite(out).all():
        fail("your result has NaN or infinity: a channel that never fires has mean 0, "
             "and its ratio should be 0.")
    peak, mean = responses.amax(dim=1), responses.mean(dim=1)
    ref = torch.where(mean > 0, peak / mean.clamp_min(1e-12), torch.zeros_like(peak))
    if out[2] != 0:
        fail(f"the silent channel (all responses 0) should give 0, got {out[2].item():.3g}.")
    nonzero_mean = responses.sum(dim=1) / (responses > 0).sum(dim=1).clamp_min(1)
    if torch.allclose(out[[0, 1, 3, 4, 5]], (peak / nonzero_mean)[[0, 1, 3, 4, 5]], rtol=1e-4):
        fail("you averaged only the non-zero responses: a response of 0 is a response (the "
             "unit stayed silent at that angle). Average all of them.")
    live = mean > 0
    if isinstance(out, torch.Tensor) and out.shape == ref.shape and not torch.allclose(out, ref):
        rel = ((out - ref).abs() / ref.abs().clamp_min(1e-12))[live]
        if bool((rel > 1e-6).all()) and float(rel.max()) < 0.05:
            fail("every ratio is slightly off from peak / mean: an epsilon added to the mean (or "
                 "the peak) changes them all. Guard only the silent channel: where the mean is "
                 "0, give 0.")
    expect_close(out, ref, "Divide each channel's maximum over dim 1 by its mean over dim 1.")
    one = responses[4:5]
    out = call(fn, one, what="peak_to_mean(responses) for one channel")
    expect_shape(out, (1,), "peak_to_mean(responses) for responses (1, 16), one channel")
