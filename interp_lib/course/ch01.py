"""Checks for chapter 1, feature visualization by optimization."""

from __future__ import annotations

import torch

from interp_lib.optvis import objectives as obj
from interp_lib.course.checks import check, expect_close, expect_shape, fail


def _acts(seed: int = 0, shape=(4, 6, 5, 7)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).relu() + 0.01 * torch.arange(shape[1]).view(1, -1, 1, 1)


@check("neuron_value")
def check_neuron_value(fn) -> None:
    a = _acts()  # a 5 x 7 grid: the centre is row 2, column 3
    out = fn(a.clone(), 4)
    expect_shape(out, (4,), "neuron_value(acts, 4) for acts (4, 6, 5, 7)")
    if torch.allclose(out, a[:, 4, 3, 2]):
        fail("you read row 3, column 2: rows are y (dim 2), columns are x (dim 3).")
    expect_close(out, a[:, 4, 2, 3], "The default neuron is at the centre: row H // 2, "
                 "column W // 2 of channel 4.")
    out = fn(a.clone(), 1, x=6, y=0)
    expect_close(out, a[:, 1, 0, 6], "With x=6, y=0: row 0 (y), column 6 (x).",
                 what="neuron_value(acts, 1, x=6, y=0)")


@check("channel_value")
def check_channel_value(fn) -> None:
    a = _acts(1)
    out = fn(a.clone(), 2)
    expect_shape(out, (4,), "channel_value(acts, 2) for acts (4, 6, 5, 7)")
    if torch.allclose(out, a[:, 2].sum(dim=(1, 2))):
        fail("you summed over positions; the channel objective is the mean.")
    if torch.allclose(out, a[:, 3].mean(dim=(1, 2))):
        fail("you read channel 3 for channel=2: an off-by-one?")
    expect_close(out, a[:, 2].mean(dim=(1, 2)), "Average channel 2 over rows and columns.")


@check("deepdream_value")
def check_deepdream_value(fn) -> None:
    a = _acts(2)
    out = fn(a.clone())
    expect_shape(out, (4,), "deepdream_value(acts) for acts (4, 6, 5, 7)")
    if torch.allclose(out, a.mean(dim=(1, 2, 3))):
        fail("you averaged the activations; DeepDream averages their squares.")
    if torch.allclose(out, a.mean(dim=(1, 2, 3)) ** 2):
        fail("you squared the mean; square each activation first, then average.")
    expect_close(out, (a**2).mean(dim=(1, 2, 3)), "Average the squared activations of "
                 "each image over channels and positions.")


@check("class_probability_value")
def check_class_probability_value(fn) -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 8, generator=g) * 2
    out = fn(logits.clone(), 6)
    expect_shape(out, (5,), "class_probability_value(logits, 6) for logits (5, 8)")
    if torch.allclose(out, torch.softmax(logits, dim=0)[:, 6]):
        fail("the softmax ran over the batch (dim 0); it runs over the classes (dim 1).")
    if torch.allclose(out, torch.sigmoid(logits[:, 6])):
        fail("a sigmoid looks at one logit alone; the softmax compares all the classes.")
    if torch.allclose(out, torch.log_softmax(logits, dim=1)[:, 6]):
        fail("that is the log-probability; take the probability (softmax, not log_softmax).")
    expect_close(out, torch.softmax(logits, dim=1)[:, 6], "Softmax over dim 1, then class 6.")


@check("ascent_step")
def check_ascent_step(fn) -> None:
    g = torch.Generator().manual_seed(4)
    image = torch.rand(2, 3, 6, 6, generator=g) * 0.6 + 0.2
    weights = torch.randn(1, 3, 6, 6, generator=g)

    def score(x):
        return (x * weights).sum() - 0.5 * (x**2).sum()

    out = fn(image.clone(), score, 0.1)
    expect_shape(out, (2, 3, 6, 6), "ascent_step(image, score_fn, lr=0.1)")
    if out.requires_grad:
        fail("return the new image detached (.detach()), so the next step starts a fresh graph.")
    grad = weights - image
    if torch.allclose(out, (image - 0.1 * grad).clamp(0, 1), atol=1e-6):
        fail("you stepped down the gradient: ascent adds lr * grad.")
    if float(score(out)) <= float(score(image)):
        fail("the score did not increase after your step.")
    expect_close(out, (image + 0.1 * grad).clamp(0, 1), "new image = image + lr * gradient, "
                 "clamped to [0, 1].")
    big = fn(image.clone(), lambda x: (x * 100.0).sum(), 1.0)
    if big.max() > 1 or big.min() < 0:
        fail("a large step left the valid range: clamp the image to [0, 1].")


@check("diversity_value")
def check_diversity_value(fn) -> None:
    a = _acts(5)
    out = fn(a.clone())
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        fail("diversity_value should return a scalar tensor.")
    out = out.reshape(())
    ref = obj.diversity("x")({"x": a})
    if torch.isclose(out, -ref, rtol=1e-4):
        fail("your sign is flipped: return *minus* the mean similarity, so higher is more diverse.")
    n = a.shape[0]
    with_diagonal = (ref * n * (n - 1) - n) / (n * n)
    if torch.isclose(out, with_diagonal, rtol=1e-4):
        fail("you averaged over all pairs including each image with itself; leave out the diagonal.")
    expect_close(out, ref, "Cosine similarity of flattened Gram matrices, averaged over pairs "
                 "of different images, negated.", what="diversity_value(acts)")
    same = a[:1].expand(3, -1, -1, -1).clone()
    expect_close(fn(same).reshape(()), torch.tensor(-1.0), "Three identical images have "
                 "similarity 1 with each other, so their diversity is -1.",
                 what="diversity_value(three identical images)")
