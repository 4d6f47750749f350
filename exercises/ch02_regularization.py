# Your exercises. Generated from solutions/ch02_regularization.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
"""Chapter 2: regularization, preconditioning, learned priors and interpolation.

Shapes: N images, C channels (3: RGB), H x W pixels, D latent dimensions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=10)
def total_variation_value(images: Tensor) -> Tensor:
    """Total variation of each image: the mean absolute difference between horizontal
    neighbours plus the mean absolute difference between vertical neighbours.

    images: (N, C, H, W). Returns (N,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=10)
def jitter_crop(images: Tensor, d: int, dx: int, dy: int) -> Tensor:
    """Jitter: the (H - d) x (W - d) crop of images whose top-left corner is column dx,
    row dy (0 <= dx, dy <= d). images: (N, C, H, W). Returns (N, C, H - d, W - d)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def frequency_scale(h: int, w: int, decay_power: float = 1.0) -> Tensor:
    """The Fourier parameterization's scale for each coefficient of an (h, w) image:
    1 / max(f, 1 / max(h, w)) ** decay_power, f in cycles per pixel.

    Returns (h, w // 2 + 1), the shape of torch.fft.rfft2's output.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def decorrelated_to_rgb(t: Tensor, colour_sqrt: Tensor) -> Tensor:
    """Decorrelated colour: mix the channels of t (N, 3, H, W) by the (3, 3) colour
    square root (RGB = colour_sqrt @ t at each pixel), then apply a sigmoid."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=5)
def interpolation_weights(n: int) -> Tensor:
    """The weight of the second objective for each of n images in an interpolation:
    0 for the first image, 1 for the last, evenly spaced. Returns (n,)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
def latent_line(z0: Tensor, z1: Tensor, n: int) -> Tensor:
    """n latent codes evenly spaced from z0 to z1, both included.

    z0, z1: (D,). Returns (n, D): row 0 is z0, row n - 1 is z1.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")
