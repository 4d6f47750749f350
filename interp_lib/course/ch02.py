"""Checks for chapter 2, regularization, preconditioning, learned priors and interpolation.

Total variation is a penalty inside a render, the jitter crop a transform
inside one, and the decorrelated colours the last step of a parameterization:
each check makes sure a gradient passes through them.
"""

from __future__ import annotations

import torch

from interp_lib.course.checks import (call, check, expect_close, expect_fast, expect_gradient,
                                      expect_shape, fail)
from interp_lib.optvis import objectives as obj
from interp_lib.optvis import param

TITLE = "Regularization, preconditioning, learned priors and interpolation"


def _images(seed: int, shape=(3, 3, 9, 7)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


@check("total_variation_value", points=2, twins=["interp_lib.optvis.objectives.total_variation"])
def check_total_variation_value(fn) -> None:
    x = _images(0)
    out = call(fn, x, what="total_variation_value(images)")
    expect_shape(out, (3,), "total_variation_value(images) for images (3, 3, 9, 7)")
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    if torch.allclose(out, dx) or torch.allclose(out, dy):
        fail("you measured one direction only: add horizontal and vertical differences.")
    if torch.allclose(out, ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean(dim=(1, 2, 3))
                      + ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean(dim=(1, 2, 3))):
        fail("you squared the differences; total variation uses their absolute values.")
    expect_close(out, dx + dy, "Mean |horizontal difference| + mean |vertical difference|, "
                 "per image.")
    # The library's total_variation objective is the same quantity, summed over the batch.
    if not torch.isclose(out.sum(), obj.total_variation()({obj.INPUT: x})):
        fail("your values do not add up to the library's total variation of the batch.")
    one = _images(1, (1, 3, 4, 6))
    expect_shape(call(fn, one, what="total_variation_value for one image"), (1,),
                 "total_variation_value(images) for a batch of one image")
    expect_gradient(fn, x, what="total_variation_value (a penalty in every render)")


@check("jitter_crop", points=1)
def check_jitter_crop(fn) -> None:
    x = _images(1, (2, 3, 10, 12))
    # d=5, dx=1, dy=3: the right crop, the swapped one and the one from the far corner differ.
    out = call(fn, x, 5, 1, 3, what="jitter_crop(images, d=5, dx=1, dy=3)")
    expect_shape(out, (2, 3, 5, 7), "jitter_crop(images (2, 3, 10, 12), d=5, dx=1, dy=3)")
    if not torch.equal(out, x[..., 3:8, 1:8]):
        if torch.equal(out, x[..., 1:6, 3:10]):
            fail("dx and dy are swapped: dx moves along columns (the last dim), dy along rows.")
        if torch.equal(out, x[..., 2:7, 4:11]):
            fail("your crop starts at row d - dy, column d - dx, measured from the far corner: "
                 "its top-left corner is row dy, column dx.")
        fail("the crop should start at row dy=3, column dx=1, and be (H - d) x (W - d).")
    for d, dx, dy in ((3, 0, 3), (5, 4, 0), (1, 1, 1)):
        what = f"jitter_crop(images, d={d}, dx={dx}, dy={dy})"
        h, w = 10 - d, 12 - d
        expect_close(call(fn, x, d, dx, dy, what=what), x[..., dy:dy + h, dx:dx + w],
                     f"for d={d} the crop is (H - {d}) x (W - {d}), starting at row {dy}, "
                     f"column {dx}.", what=what)
    one = _images(2, (1, 3, 8, 8))
    expect_shape(call(fn, one, 2, 1, 1, what="jitter_crop for one image"), (1, 3, 6, 6),
                 "jitter_crop(images (1, 3, 8, 8), d=2, dx=1, dy=1)")
    expect_gradient(lambda im: fn(im, 3, 2, 1), x, what="jitter_crop (a transform in every render)")


@check("frequency_scale", points=3, twins=["interp_lib.optvis.param.spectrum_scale"])
def check_frequency_scale(fn) -> None:
    out = fn(8, 6)
    expect_shape(out, (8, 4), "frequency_scale(8, 6)")
    if not torch.isfinite(out).all():
        fail("the constant term (frequency 0) came out infinite: clamp f at 1 / max(h, w) first.")
    ref = param.spectrum_scale(8, 6)
    if torch.allclose(out, ref**2, rtol=1e-4):
        fail("your scale falls as 1 / f^2: use the frequency's magnitude f, not its square.")
    if torch.isclose(out[0, 0], torch.tensor(6.0)):
        fail("the clamp should be 1 / max(h, w) = 1/8, not 1 / min(h, w).")
    expect_close(out, ref, "1 / max(sqrt(fy^2 + fx^2), 1 / max(h, w)), fy = fftfreq(h) "
                 "as a column, fx = rfftfreq(w) as a row.", rtol=1e-4)
    expect_close(fn(8, 6, 2.0), param.spectrum_scale(8, 6, 2.0), "decay_power is the exponent.",
                 what="frequency_scale(8, 6, decay_power=2)", rtol=1e-4)
    expect_close(fn(5, 9), param.spectrum_scale(5, 9), "odd sizes too: rfftfreq(9) has 5 "
                 "entries, so the result is (5, 5).", what="frequency_scale(5, 9)", rtol=1e-4)


@check("decorrelated_to_rgb", points=2, twins=["interp_lib.optvis.param.to_valid_rgb"])
def check_decorrelated_to_rgb(fn) -> None:
    t = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(3))
    m = param.normalise_columns(param.IMAGENET_COLOUR_SQRT)
    out = call(fn, t, m, what="decorrelated_to_rgb(t, colour_sqrt)")
    expect_shape(out, (2, 3, 4, 5), "decorrelated_to_rgb(t, colour_sqrt)")
    ref = param.to_valid_rgb(t, m)
    if torch.allclose(out, param.to_valid_rgb(t, m.T), atol=1e-6):
        fail("you used the transposed matrix: RGB = colour_sqrt @ t, i.e. einsum 'nchw,dc->ndhw'.")
    if torch.allclose(out, torch.einsum("nchw,dc->ndhw", t, m), atol=1e-6):
        fail("the colours must be squashed into [0, 1] with a sigmoid at the end.")
    if out.min() < 0 or out.max() > 1:
        fail("colours must lie in [0, 1].")
    expect_close(out, ref, "Mix the channels with colour_sqrt, then apply torch.sigmoid.",
                 atol=1e-6)
    other = torch.eye(3)[[2, 0, 1]] * 0.5  # a different colour matrix: nothing hard-coded
    expect_close(call(fn, t, other, what="decorrelated_to_rgb"), param.to_valid_rgb(t, other),
                 "use the colour_sqrt you are given.", what="decorrelated_to_rgb(t, another matrix)",
                 atol=1e-6)
    expect_gradient(lambda x: fn(x, m), t, what="decorrelated_to_rgb (the parameterization's "
                    "last step: the render optimizes through it)")
    # It runs at every step of every render: time it on a render's batch.
    batch = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    expect_fast(fn, param.to_valid_rgb, batch, m, what="decorrelated_to_rgb",
                on="a render's batch (4 images of 64 x 64, run at every step)",
                cause="a Python loop over pixels? One einsum (or a 1 x 1 convolution) mixes the "
                      "colours of every pixel at once.")


@check("interpolation_weights", points=1)
def check_interpolation_weights(fn) -> None:
    out = fn(5)
    expect_shape(out, (5,), "interpolation_weights(5)")
    ref = torch.linspace(0, 1, 5)
    if torch.allclose(out.float(), ref.flip(0)):
        fail("your weights run backwards: the first image is pure first objective (w = 0).")
    expect_close(out, ref, "Evenly spaced from 0 to 1, both ends included.")
    expect_close(fn(2), torch.tensor([0.0, 1.0]), "Two images: the two objectives alone.",
                 what="interpolation_weights(2)")
    one = fn(1)
    expect_shape(one, (1,), "interpolation_weights(1)")
    if not torch.equal(one.float(), torch.zeros(1)):
        fail("a single image should get weight 0 (and no division by zero).")


@check("latent_line", points=2, twins=["interp_lib.organism.generative.interpolate"])
def check_latent_line(fn) -> None:
    g = torch.Generator().manual_seed(4)
    z0, z1 = torch.randn(6, generator=g), torch.randn(6, generator=g)
    out = call(fn, z0, z1, 4, what="latent_line(z0, z1, 4)")
    expect_shape(out, (4, 6), "latent_line(z0, z1, 4) for codes of 6 numbers")
    if torch.allclose(out[0], z1) and torch.allclose(out[-1], z0):
        fail("your line runs from z1 to z0: row 0 should be z0.")
    if not torch.allclose(out[-1], z1, atol=1e-6):
        if torch.allclose(out.norm(dim=1), z0.norm().expand(len(out)), atol=1e-5):
            fail("every row of yours has z0's length, so the last row is not z1: the exercise is "
                 "the straight line z0 + w (z1 - z0), without rescaling its points.")
        fail("the last row should be z1 itself: include both ends.")
    w = torch.linspace(0, 1, 4)[:, None]
    expect_close(out, z0 + w * (z1 - z0), "Evenly spaced points z0 + w (z1 - z0), w from 0 to 1.")
    out = call(fn, z0, z1, 2, what="latent_line(z0, z1, 2)")
    expect_close(out, torch.stack([z0, z1]), "Two points: z0 and z1.", what="latent_line(z0, z1, 2)")
    out = call(fn, z0, z1, 1, what="latent_line(z0, z1, 1)")
    expect_shape(out, (1, 6), "latent_line(z0, z1, 1)")
    if not torch.isfinite(out).all():
        fail("latent_line(z0, z1, 1) has NaN: a step of (z1 - z0) / (n - 1) divides by zero "
             "for n = 1. Weights from torch.linspace(0, 1, n) give the one point z0.")
    expect_close(out, z0[None], "One point: z0 (the weights torch.linspace(0, 1, 1) are [0]).",
                 what="latent_line(z0, z1, 1)")
