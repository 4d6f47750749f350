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
    """Broadcast scalars, sequences and tensors against each other, then flatten them to
    equal-length float tensors (N,), in row-major order of the broadcast shape."""
    ts = [torch.atleast_1d(torch.as_tensor(v, dtype=torch.float32)) for v in values]
    return [t.reshape(-1) for t in torch.broadcast_tensors(*ts)]


def _centre(centre: tuple[float, float] | None, size: int) -> tuple[float, float]:
    return (size / 2, size / 2) if centre is None else (float(centre[0]), float(centre[1]))


def curves(
    orientation: float | Sequence[float],
    radius: float | Sequence[float] = 10.0,
    *,
    extent: float = 120.0,
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
    centre: tuple[float, float] | None = None,
) -> Tensor:
    """Arcs whose midpoint sits at `centre` (x, y), the image centre by default:
    images (N, 3, size, size).

    orientation: the direction the curve bulges towards (its outward normal at
    the midpoint), in degrees; radius: of the circle the arc is cut from, in
    pixels; extent: how much of that circle, in degrees. orientation and radius
    broadcast against each other, so `curves(range(0, 360, 45), radius=8)`
    gives eight images.

    >>> right, down = curves([0, 90], radius=10)[:, 0]  # white ink on black
    >>> float(right[:, 34:].sum()), bool(right[:, :30].sum() > 0)  # bulges right; its ends curl back left
    (0.0, True)
    >>> torch.allclose(down, right.T, atol=1e-6)  # 90 degrees: the same arc, bulging down
    True
    """
    theta, r = _as_batch(orientation, radius)
    theta = torch.deg2rad(theta)
    n = len(theta)
    mx, my = _centre(centre, size)
    # Put the centre of curvature one radius behind the midpoint.
    cx = mx - r * torch.cos(theta)
    cy = my - r * torch.sin(theta)
    u, v = drawing.local_frame(size, cx, cy, theta)
    dist = drawing.dist_arc(u, v, r, torch.full((n,), math.radians(extent)))
    return drawing.composite(drawing.ink(dist, torch.full((n,), width)), _colour(fg, n), _colour(bg, n))


def lines(
    angle: float | Sequence[float],
    length: float | Sequence[float] = 20.0,
    *,
    offset: float | Sequence[float] = 0.0,
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
    centre: tuple[float, float] | None = None,
) -> Tensor:
    """Straight segments through `centre` (x, y), the image centre by default:
    images (N, 3, size, size).

    angle: the segment's direction in degrees (0 and 180 are the same line);
    offset: a shift, in pixels, perpendicular to the segment (towards angle +
    90 degrees). angle, length and offset broadcast against each other.

    >>> flat, upright = lines([0, 90])[:, 0]  # white ink on black
    >>> torch.allclose(upright, flat.T, atol=1e-6)  # 90 degrees: the same segment, turned upright
    True
    >>> torch.equal(lines(0, offset=3)[0], lines(0)[0].roll(3, dims=-2))  # 3 px towards 90: down
    True
    """
    theta, length_t, off = _as_batch(angle, length, offset)
    n = len(theta)
    mx, my = _centre(centre, size)
    rad = torch.deg2rad(theta)
    cx = mx - off * torch.sin(rad)
    cy = my + off * torch.cos(rad)
    u, v = drawing.local_frame(size, cx, cy, rad)
    half = length_t / 2
    dist = drawing.dist_segment(u, v, -half, 0 * half, half, 0 * half)
    return drawing.composite(drawing.ink(dist, torch.full((n,), width)), _colour(fg, n), _colour(bg, n))


def circles(
    radius: float | Sequence[float],
    *,
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
    centre: tuple[float, float] | None = None,
) -> Tensor:
    """Rings centred on `centre` (x, y), the image centre by default: images (N, 3, size, size).

    >>> (circles([10])[0, 0, 32] > 0.5).nonzero()[:, 0].tolist()  # a middle row: ink 10 px from x = 32
    [21, 22, 41, 42]
    """
    (r,) = _as_batch(radius)
    n = len(r)
    mx, my = _centre(centre, size)
    u, v = drawing.local_frame(size, torch.full((n,), mx), torch.full((n,), my), torch.zeros(n))
    return drawing.composite(drawing.ink(drawing.dist_circle(u, v, r), torch.full((n,), width)),
                       _colour(fg, n), _colour(bg, n))


def corners(
    orientation: float | Sequence[float],
    angle: float = 90.0,
    arm: float = 12.0,
    *,
    width: float = 2.5,
    fg: Sequence[float] = WHITE,
    bg: Sequence[float] = BLACK,
    size: int = IMAGE_SIZE,
    centre: tuple[float, float] | None = None,
) -> Tensor:
    """Corners whose vertex sits at `centre` (x, y), pointing towards `orientation`
    (degrees, clockwise from "right"), their two arms `arm` pixels long and `angle`
    degrees apart: the straight-stroke counterpart of `curves`. Images (N, 3, size, size).

    >>> c = corners(0)[0, 0]  # a right angle pointing right: white ink on black
    >>> float(c[:, 34:].sum()), bool(c[:, :30].sum() > 0)  # the vertex leads, the arms go back
    (0.0, True)
    >>> [int((corners(0, angle=a)[0, 0] > 0.5).any(dim=1).sum()) for a in (60, 120)]  # rows inked
    [14, 24]
    """
    (theta,) = _as_batch(orientation)
    n = len(theta)
    mx, my = _centre(centre, size)
    rad = torch.deg2rad(theta)
    u, v = drawing.local_frame(size, torch.full((n,), mx), torch.full((n,), my), rad)
    half = math.radians(angle) / 2
    # The vertex at the origin; the arms go back, away from the direction it points to.
    end_u, end_v = -arm * math.cos(half), arm * math.sin(half)
    zero = torch.zeros(n)
    dist = torch.minimum(drawing.dist_segment(u, v, zero, zero, zero + end_u, zero + end_v),
                         drawing.dist_segment(u, v, zero, zero, zero + end_u, zero - end_v))
    return drawing.composite(drawing.ink(dist, torch.full((n,), width)), _colour(fg, n),
                             _colour(bg, n))
