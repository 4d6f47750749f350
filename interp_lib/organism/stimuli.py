"""Synthetic probe images with controlled parameters, for tuning curves.

Where `data.make_batch` draws shapes at random, these functions draw exactly
the stimulus asked for, centred on the image, so that a unit's response can
be plotted against one parameter at a time (orientation, radius, colour).

Angles here are in degrees, measured clockwise on screen from "pointing
right": 0 = right, 90 = down, 180 = left, 270 = up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from interp_lib.organism import drawing
from interp_lib.organism.data import IMAGE_SIZE

WHITE = (1.0, 1.0, 1.0)
BLACK = (0.0, 0.0, 0.0)


def _colour(c: Sequence[float], n: int) -> Tensor:
    t = torch.as_tensor(c, dtype=torch.float32)
    if t.shape != (3,):
        raise ValueError(f"a colour is three numbers (R, G, B) in [0, 1], got {tuple(c)}")
    return t.expand(n, 3)


def _as_batch(*values) -> list[Tensor]:
    """Broadcast scalars and sequences to equal-length float tensors (N,)."""
    ts = [torch.atleast_1d(torch.as_tensor(v, dtype=torch.float32)) for v in values]
    return list(torch.broadcast_tensors(*ts))


def curves(
    orientation: float | Sequence[float],
    radius: float | Sequence[float] = 10.0,
    extent: float = 120.0,
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
    center: tuple[float, float] | None = None,
) -> Tensor:
    """Arcs whose midpoint sits at the image centre: images (N, 3, size, size).

    orientation: the direction the curve bulges towards (its outward normal at
    the midpoint), in degrees; radius: of the circle the arc is cut from, in
    pixels; extent: how much of that circle, in degrees. orientation and radius
    broadcast against each other, so `curves(range(0, 360, 45), radius=8)`
    gives eight images.
    """
    theta, r = _as_batch(orientation, radius)
    theta = torch.deg2rad(theta)
    n = len(theta)
    mx, my = center if center is not None else (size / 2, size / 2)
    # Put the centre of curvature one radius behind the midpoint.
    cx = mx - r * torch.cos(theta)
    cy = my - r * torch.sin(theta)
    u, v = drawing.local_frame(size, cx, cy, theta)
    dist = drawing.dist_arc(u, v, r, torch.full((n,), math.radians(extent)))
    return drawing.composite(drawing.ink(dist, torch.full((n,), width)), _colour(fg, n), _colour(bg, n))


def lines(
    angle: float | Sequence[float],
    length: float = 20.0,
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
) -> Tensor:
    """Straight segments through the image centre: images (N, 3, size, size).

    angle: the segment's direction in degrees (0 and 180 are the same line).
    """
    theta, length_t = _as_batch(angle, length)
    n = len(theta)
    centre = torch.full((n,), size / 2)
    u, v = drawing.local_frame(size, centre, centre, torch.deg2rad(theta))
    half = length_t / 2
    dist = drawing.dist_segment(u, v, -half, 0 * half, half, 0 * half)
    return drawing.composite(drawing.ink(dist, torch.full((n,), width)), _colour(fg, n), _colour(bg, n))


def circles(
    radius: float | Sequence[float],
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
) -> Tensor:
    """Rings centred on the image: images (N, 3, size, size)."""
    (r,) = _as_batch(radius)
    n = len(r)
    centre = torch.full((n,), size / 2)
    u, v = drawing.local_frame(size, centre, centre, torch.zeros(n))
    return drawing.composite(drawing.ink(drawing.dist_circle(u, v, r), torch.full((n,), width)),
                       _colour(fg, n), _colour(bg, n))
