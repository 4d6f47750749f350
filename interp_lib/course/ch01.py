"""Checks for chapter 1, feature visualization by optimization.

Every objective-like exercise is used for gradient ascent in the chapter, so
besides its value each check makes sure a gradient reaches the activations.
"""

from __future__ import annotations

import torch

from interp_lib.course.checks import call, check, expect_close, expect_gradient, expect_shape, fail
from interp_lib.optvis import objectives as obj

TITLE = "Feature visualization by optimization"


def _acts(seed: int = 0, shape=(4, 6, 5, 7)) -> torch.Tensor:
    """Activations with negative values too, as a pre-activation layer has."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) + 0.01 * torch.arange(shape[1]).view(1, -1, 1, 1)


@check("neuron_value", points=1, twins=["interp_lib.optvis.objectives.neuron"])
def check_neuron_value(fn) -> None:
    a = _acts()  # a 5 x 7 grid: the centre is row 2, column 3
    out = call(fn, a, 4, what="neuron_value(acts, 4)")
    expect_shape(out, (4,), "neuron_value(acts, 4) for acts (4, 6, 5, 7)")
    if torch.allclose(out, a[:, 4, 3, 2]):
        fail("you read row 3, column 2: rows are y (dim 2), columns are x (dim 3).")
    expect_close(out, a[:, 4, 2, 3], "The default neuron is at the centre: row H // 2, "
                 "column W // 2 of channel 4.")
    out = call(fn, a, 1, x=6, y=0, what="neuron_value(acts, 1, x=6, y=0)")
    expect_close(out, a[:, 1, 0, 6], "With x=6, y=0: row 0 (y), column 6 (x).",
                 what="neuron_value(acts, 1, x=6, y=0)")
    out = call(fn, a, 2, x=1, what="neuron_value(acts, 2, x=1)")
    expect_close(out, a[:, 2, 2, 1], "With only x given, y is still the centre row H // 2.",
                 what="neuron_value(acts, 2, x=1) (y not given)")
    out = call(fn, a, 2, y=4, what="neuron_value(acts, 2, y=4)")
    expect_close(out, a[:, 2, 4, 3], "With only y given, x is still the centre column W // 2.",
                 what="neuron_value(acts, 2, y=4) (x not given)")
    even = _acts(1, (2, 3, 16, 16))  # relu3's grid: the centre is row 8, column 8
    out = call(fn, even, 0, what="neuron_value(acts, 0) on a 16 x 16 grid")
    if torch.allclose(out, even[:, 0, 7, 7]):
        fail("on a 16 x 16 grid you read row 7, column 7: the centre is H // 2 = 8, "
             "not (H - 1) // 2, the same neuron the library's objectives read.")
    expect_close(out, even[:, 0, 8, 8], "On an even grid the centre is row H // 2, column W // 2.",
                 what="neuron_value(acts, 0) on a 16 x 16 grid")
    one = _acts(2, (1, 3, 5, 5))
    out = call(fn, one, 1, what="neuron_value(acts, 1) for one image")
    expect_shape(out, (1,), "neuron_value(acts, 1) for a batch of one image")
    expect_gradient(lambda x: fn(x, 1), one, what="neuron_value")


@check("channel_value", points=1, twins=["interp_lib.optvis.objectives.channel"])
def check_channel_value(fn) -> None:
    a = _acts(1)
    out = call(fn, a, 2, what="channel_value(acts, 2)")
    expect_shape(out, (4,), "channel_value(acts, 2) for acts (4, 6, 5, 7)")
    if torch.allclose(out, a[:, 2].sum(dim=(1, 2))):
        fail("you summed over positions; the channel objective is the mean.")
    if torch.allclose(out, a[:, 3].mean(dim=(1, 2))):
        fail("you read channel 3 for channel=2: an off-by-one?")
    if torch.allclose(out, a[:, 2].clamp_min(0).mean(dim=(1, 2))):
        fail("you dropped the negative values: average the channel as it is (a "
             "pre-activation layer has negative values).")
    if torch.allclose(out, a[:, 2].mean().expand(4)):
        fail("you averaged over the batch too: each image gets its own value.")
    expect_close(out, a[:, 2].mean(dim=(1, 2)), "Average channel 2 over rows and columns.")
    one = _acts(3, (1, 4, 3, 3))
    expect_shape(call(fn, one, 0, what="channel_value(acts, 0) for one image"), (1,),
                 "channel_value(acts, 0) for a batch of one image")
    expect_gradient(lambda x: fn(x, 0), one, what="channel_value")


@check("deepdream_value", points=1, twins=["interp_lib.optvis.objectives.layer"])
def check_deepdream_value(fn) -> None:
    a = _acts(2)
    out = call(fn, a, what="deepdream_value(acts)")
    expect_shape(out, (4,), "deepdream_value(acts) for acts (4, 6, 5, 7)")
    if torch.allclose(out, a.mean(dim=(1, 2, 3))):
        fail("you averaged the activations; DeepDream averages their squares.")
    if torch.allclose(out, a.mean(dim=(1, 2, 3)) ** 2):
        fail("you squared the mean; square each activation first, then average.")
    if torch.allclose(out, a.abs().mean(dim=(1, 2, 3))):
        fail("you averaged absolute values; DeepDream averages squares.")
    if torch.allclose(out, (a.clamp_min(0) ** 2).mean(dim=(1, 2, 3))):
        fail("you dropped the negative values before squaring (a ReLU): a pre-activation "
             "layer's negative values count too, squared.")
    expect_close(out, (a**2).mean(dim=(1, 2, 3)), "Average the squared activations of "
                 "each image over channels and positions.")
    one = _acts(4, (1, 2, 3, 3))
    expect_shape(call(fn, one, what="deepdream_value(acts) for one image"), (1,),
                 "deepdream_value(acts) for a batch of one image")
    expect_gradient(fn, one, what="deepdream_value")


@check("class_probability_value", points=2, twins=["interp_lib.optvis.objectives.class_probability"])
def check_class_probability_value(fn) -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 8, generator=g) * 2
    out = call(fn, logits, 6, what="class_probability_value(logits, 6)")
    expect_shape(out, (5,), "class_probability_value(logits, 6) for logits (5, 8)")
    if torch.allclose(out, torch.softmax(logits, dim=0)[:, 6]):
        fail("the softmax ran over the batch (dim 0); it runs over the classes (dim 1).")
    if torch.allclose(out, torch.sigmoid(logits[:, 6])):
        fail("a sigmoid looks at one logit alone; the softmax compares all the classes.")
    if torch.allclose(out, torch.log_softmax(logits, dim=1)[:, 6]):
        fail("that is the log-probability; take the probability (softmax, not log_softmax).")
    expect_close(out, torch.softmax(logits, dim=1)[:, 6], "Softmax over dim 1, then class 6.")
    big = logits * 200  # logits of a few hundred: exp() overflows above about 88
    out = call(fn, big, 6, what="class_probability_value(logits, 6) for large logits")
    if not torch.isfinite(out).all():
        fail("with logits in the hundreds your probabilities are NaN or infinite: exp() "
             "overflows above about 88. Subtract each row's largest logit first (the softmax "
             "does not change), or use torch.softmax.")
    expect_close(out, torch.softmax(big, dim=1)[:, 6], "Probabilities stay exact for large logits.",
                 what="class_probability_value for large logits")
    one = logits[:1]
    expect_shape(call(fn, one, 0, what="class_probability_value for one image"), (1,),
                 "class_probability_value(logits, 0) for a batch of one image")
    expect_gradient(lambda x: fn(x, 2), logits, what="class_probability_value")


@check("ascent_step", points=3)
def check_ascent_step(fn) -> None:
    g = torch.Generator().manual_seed(4)
    image = torch.rand(2, 3, 6, 6, generator=g) * 0.6 + 0.2
    unit = torch.nn.Conv2d(3, 1, 6)  # a one-unit model, so that side effects on it show
    with torch.no_grad():
        unit.weight.copy_(torch.randn(1, 3, 6, 6, generator=g))
        unit.bias.zero_()

    def score(x):
        return unit(x).sum() - 0.5 * (x**2).sum()

    out = call(fn, image, score, 0.1, what="ascent_step(image, score_fn, lr=0.1)")
    if any(p.grad is not None for p in unit.parameters()):
        fail("your step left gradients in the model's weights (.grad): .backward() stores a "
             "gradient in every parameter the score depends on, and they add up step after "
             "step. Use torch.autograd.grad(score, x) to get the gradient of the image alone.")
    expect_shape(out, (2, 3, 6, 6), "ascent_step(image, score_fn, lr=0.1)")
    if out.requires_grad:
        fail("return the new image detached (.detach()), so the next step starts a fresh graph.")
    grad = unit.weight.detach() - image
    if torch.allclose(out, (image - 0.1 * grad).clamp(0, 1), atol=1e-6):
        fail("you stepped down the gradient: ascent adds lr * grad.")
    with torch.no_grad():  # the check's own scores: no graph, and no warning about one
        gained = float(score(out)) > float(score(image))
    if not gained:
        fail("the score did not increase after your step.")
    expect_close(out, (image + 0.1 * grad).clamp(0, 1), "new image = image + lr * gradient, "
                 "clamped to [0, 1].")
    out = call(fn, image, score, 0.03, what="ascent_step(image, score_fn, lr=0.03)")
    expect_close(out, (image + 0.03 * grad).clamp(0, 1), "the step is lr times the gradient, "
                 "for any lr.", what="ascent_step(image, score_fn, lr=0.03)")
    big = fn(image.clone(), lambda x: (x * 100.0).sum(), 1.0)
    if big.max() > 1 or big.min() < 0:
        fail("a large step left the valid range: clamp the image to [0, 1].")


@check("diversity_value", points=3, twins=["interp_lib.optvis.objectives.diversity"])
def check_diversity_value(fn) -> None:
    a = _acts(5).relu()
    out = call(fn, a, what="diversity_value(acts)")
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        fail("diversity_value should return a scalar tensor.")
    out = out.reshape(())
    ref = obj.diversity("x")({"x": a})
    if torch.isclose(out, -ref, rtol=1e-4):
        fail("your sign is flipped: return the mean similarity itself, as Lucid does. The term "
             "measures how alike the images are, and a render subtracts it.")
    n = a.shape[0]
    with_diagonal = (ref * n * (n - 1) + n) / (n * n)
    if torch.isclose(out, with_diagonal, rtol=1e-4):
        fail("you averaged over all pairs including each image with itself; leave out the diagonal.")
    expect_close(out, ref, "Cosine similarity of flattened Gram matrices, averaged over pairs "
                 "of different images.", what="diversity_value(acts)")
    same = a[:1].expand(3, -1, -1, -1).clone()
    expect_close(call(fn, same, what="diversity_value").reshape(()), torch.tensor(1.0),
                 "Three identical images have similarity 1 with each other, the term's "
                 "largest value.", what="diversity_value(three identical images)")
    silent = a.clone()
    silent[1] = 0.0  # an image that leaves the layer silent: its Gram matrix is all zeros
    out = call(fn, silent, what="diversity_value(acts) with a silent image")
    if not torch.isfinite(out).all():
        fail("when one image leaves the layer silent (all activations 0) your diversity is "
             "NaN: normalising a zero Gram vector divides by 0. Use "
             "torch.nn.functional.normalize, which guards against it.")
    expect_close(out.reshape(()), obj.diversity("x")({"x": silent}), "A silent image is "
                 "similar to nothing (its similarities are 0).",
                 what="diversity_value with a silent image")
    expect_gradient(fn, a, what="diversity_value")
