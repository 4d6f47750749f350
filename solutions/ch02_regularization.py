"""Chapter 2: regularization, preconditioning, learned priors and interpolation.

Shapes: N images, C channels (3: RGB), H x W pixels, D latent dimensions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Horizontal neighbours: images[..., :, 1:] - images[..., :, :-1]; vertical: the same "
    "on dimension -2.",
    "Take absolute values, average each over (C, H, W) of an image, and add the two.",
])
def total_variation_value(images: Tensor) -> Tensor:
    """Total variation of each image: the mean absolute difference between horizontal
    neighbours plus the mean absolute difference between vertical neighbours.

    images: (N, C, H, W). Returns (N,).
    """
    # SOLUTION
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return dx + dy
    # END SOLUTION


@exercise(difficulty=1, importance=2, minutes=10, hints=[
    "Jitter by cropping: the output is (H - d) x (W - d), starting at row dy and column dx.",
    "images[..., dy:dy + H - d, dx:dx + W - d]",
])
def jitter_crop(images: Tensor, d: int, dx: int, dy: int) -> Tensor:
    """Jitter: the (H - d) x (W - d) crop of images whose top-left corner is column dx,
    row dy (0 <= dx, dy <= d). images: (N, C, H, W). Returns (N, C, H - d, W - d)."""
    # SOLUTION
    h, w = images.shape[-2:]
    return images[..., dy:dy + h - d, dx:dx + w - d]
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "The frequencies of an rfft2 spectrum: torch.fft.fftfreq(h) along rows (positive and "
    "negative) and torch.fft.rfftfreq(w) along columns (non-negative only): shape (h, w // 2 + 1).",
    "f = sqrt(fy ** 2 + fx ** 2) with fy as a column and fx as a row (broadcasting).",
    "Clamp f from below at 1 / max(h, w), so the constant term gets a finite scale, then "
    "return 1 / f ** decay_power.",
])
def frequency_scale(h: int, w: int, decay_power: float = 1.0) -> Tensor:
    """The Fourier parameterization's scale for each coefficient of an (h, w) image:
    1 / max(f, 1 / max(h, w)) ** decay_power, f in cycles per pixel.

    Returns (h, w // 2 + 1), the shape of torch.fft.rfft2's output.
    """
    # SOLUTION
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    f = torch.sqrt(fy**2 + fx**2)
    return 1.0 / f.clamp_min(1.0 / max(h, w)) ** decay_power
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "Each pixel's three numbers t[n, :, y, x] are coordinates along the colour square "
    "root's columns: its colour is colour_sqrt @ t[n, :, y, x].",
    "For the whole batch: torch.einsum('nchw,dc->ndhw', t, colour_sqrt). Then squash into "
    "[0, 1] with torch.sigmoid.",
])
def decorrelated_to_rgb(t: Tensor, colour_sqrt: Tensor) -> Tensor:
    """Decorrelated colour: mix the channels of t (N, 3, H, W) by the (3, 3) colour
    square root (RGB = colour_sqrt @ t at each pixel), then apply a sigmoid."""
    # SOLUTION
    return torch.sigmoid(torch.einsum("nchw,dc->ndhw", t, colour_sqrt))
    # END SOLUTION


@exercise(difficulty=1, importance=2, minutes=5, hints=[
    "Image i of n mixes the two objectives as (1 - w_i) * first + w_i * second.",
    "w runs evenly from 0 (first image) to 1 (last): torch.linspace(0, 1, n). "
    "One image alone gets w = 0.",
])
def interpolation_weights(n: int) -> Tensor:
    """The weight of the second objective for each of n images in an interpolation:
    0 for the first image, 1 for the last, evenly spaced. Returns (n,)."""
    # SOLUTION
    return torch.linspace(0, 1, n) if n > 1 else torch.zeros(n)
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Points on the straight line from z0 to z1: z0 + w * (z1 - z0) for w from 0 to 1.",
    "With w = torch.linspace(0, 1, n)[:, None], broadcasting gives all n points at once.",
])
def latent_line(z0: Tensor, z1: Tensor, n: int) -> Tensor:
    """n latent codes evenly spaced from z0 to z1, both included.

    z0, z1: (D,). Returns (n, D): row 0 is z0, row n - 1 is z1.
    """
    # SOLUTION
    w = torch.linspace(0, 1, n)[:, None]
    return z0[None] + w * (z1 - z0)[None]
    # END SOLUTION
