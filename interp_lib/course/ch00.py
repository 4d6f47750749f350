"""Checks for chapter 0, the model organism."""

from __future__ import annotations

import torch

from interp_lib.course.checks import check, expect_close, expect_shape, fail
from interp_lib.hooks import run_with_cache
from interp_lib.organism.models import tiny_net


def _acts(seed: int = 0, shape=(5, 7, 6, 4)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 3 + torch.arange(shape[1]).view(1, -1, 1, 1)


@check("channel_means")
def check_channel_means(fn) -> None:
    acts = _acts()
    out = fn(acts.clone())
    expect_shape(out, (acts.shape[1],), "channel_means(acts) for acts (5, 7, 6, 4)")
    ref = acts.mean(dim=(0, 2, 3))
    if torch.allclose(out, acts.sum(dim=(0, 2, 3)), rtol=1e-4):
        fail("your values are sums, not means: divide by the number of elements averaged over.")
    if torch.allclose(out, acts.amax(dim=(0, 2, 3)), rtol=1e-4):
        fail("your values are maxima: a channel's activation is its mean.")
    expect_close(out, ref, "Average over the batch and both spatial axes (dims 0, 2, 3).")


@check("top_activating")
def check_top_activating(fn) -> None:
    net = tiny_net()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(40, 3, 16, 16, generator=g)
    for layer, channel, k in (("relu2", 3, 5), ("relu1", 0, 3), ("conv2", 7, 4)):
        _, acts = run_with_cache(net, images, layer)
        scores = acts[layer][:, channel].mean(dim=(1, 2))
        ref = torch.argsort(scores, descending=True)[:k]
        out = fn(net, images.clone(), layer, channel, k)
        what = f"top_activating(model, images, {layer!r}, channel={channel}, k={k})"
        expect_shape(out, (k,), what)
        out = out.long()
        if torch.equal(out, torch.argsort(scores)[:k]):
            fail(f"{what} gave the least activating images: sort in descending order.")
        if set(out.tolist()) == set(ref.tolist()) and not torch.equal(out, ref):
            fail(f"{what} has the right images in the wrong order: most activating first.")
        if not torch.equal(out, ref):
            by_max = torch.argsort(acts[layer][:, channel].amax(dim=(1, 2)), descending=True)[:k]
            hint = ("You ranked by the maximum over positions; rank by the mean."
                    if torch.equal(out, by_max) else
                    f"Did you read layer {layer!r} and channel {channel} (not a neighbour), "
                    "and average over positions?")
            fail(f"{what} returned {out.tolist()}, expected {ref.tolist()}. {hint}")


@check("peak_to_mean")
def check_peak_to_mean(fn) -> None:
    g = torch.Generator().manual_seed(2)
    responses = torch.rand(6, 16, generator=g) ** 3
    responses[2] = 0.0  # a silent channel
    responses[4, 5] = 4.0  # a sharply tuned one
    out = fn(responses.clone())
    expect_shape(out, (6,), "peak_to_mean(responses) for responses (6, 16)")
    if not torch.isfinite(out).all():
        fail("your result has NaN or infinity: a channel that never fires has mean 0, "
             "and its ratio should be 0.")
    peak, mean = responses.amax(dim=1), responses.mean(dim=1)
    ref = torch.where(mean > 0, peak / mean.clamp_min(1e-12), torch.zeros_like(peak))
    if out[2] != 0:
        fail(f"the silent channel (all responses 0) should give 0, got {out[2].item():.3g}.")
    expect_close(out, ref, "Divide each channel's maximum over dim 1 by its mean over dim 1.")
