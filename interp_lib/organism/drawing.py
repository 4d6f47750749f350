"""Drawing primitives: signed-distance shapes rendered as anti-aliased strokes.

Every shape in the course's data set and every probe stimulus is drawn the
same way: compute, for each pixel, its distance to the shape's centre line,
then turn distance into ink with a soft edge one pixel wide. Working with
distances keeps the drawing differentiable-free, vectorised over a whole
batch, and exactly reproducible.

Coordinates: pixel (row i, column j) has centre (x, y) = (j + 0.5, i + 0.5),
x to the right, y downwards, as in an image. Angles are in radians, measured
from the +x axis towards +y (clockwise on screen).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def pixel_grid(size: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates: two tensors (1, size, size), x and y.

    >>> x, y = pixel_grid(4)
    >>> x[0, 0].tolist(), y[0, :, 0].tolist()
    ([0.5, 1.5, 2.5, 3.5], [0.5, 1.5, 2.5, 3.5])
    """
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return x[None], y[None]


def local_frame(
    size: int, cx: Tensor, cy: Tensor, angle: Tensor, mirror: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Each pixel's coordinates (u, v) in a frame centred on (cx, cy), rotated by `angle`.

    cx, cy, angle: (N,). mirror: optional (N,) bool, flips v (a reflection).
    Returns u, v: (N, size, size).

    >>> u, v = local_frame(8, torch.tensor([4.0]), torch.tensor([4.0]), torch.tensor([0.0]))
    >>> float(u[0, 3, 7]), float(v[0, 3, 7])  # pixel (row 3, col 7): right of the centre
    (3.5, -0.5)
    """
    x, y = pixel_grid(size)
    dx = x - cx[:, None, None]
    dy = y - cy[:, None, None]
    c = torch.cos(angle)[:, None, None]
    s = torch.sin(angle)[:, None, None]
    u = dx * c + dy * s
    v = -dx * s + dy * c
    if mirror is not None:
        v = torch.where(mirror[:, None, None], -v, v)
    return u, v


def _b(t: Tensor) -> Tensor:
    """Broadcast a per-sample (N,) parameter against (N, H, W) maps."""
    return t[:, None, None]


def dist_segment(u: Tensor, v: Tensor, ax, ay, bx, by) -> Tensor:
    """Distance from points (u, v) to the segment from (ax, ay) to (bx, by).

    Endpoints are (N,) tensors (or floats); u, v are (N, H, W).

    >>> u, v = torch.tensor([[[0.0, 3.0]]]), torch.tensor([[[2.0, 0.0]]])
    >>> dist_segment(u, v, torch.tensor([-1.0]), torch.tensor([0.0]), torch.tensor([1.0]),
    ...              torch.tensor([0.0]))
    tensor([[[2., 2.]]])
    """
    ax, ay, bx, by = (torch.as_tensor(t, dtype=torch.float32) for t in (ax, ay, bx, by))
    ax, ay, bx, by = (_b(t) if t.ndim == 1 else t for t in (ax, ay, bx, by))
    pu, pv = u - ax, v - ay
    du, dv = bx - ax, by - ay
    h = ((pu * du + pv * dv) / (du * du + dv * dv).clamp_min(1e-8)).clamp(0.0, 1.0)
    return torch.hypot(pu - h * du, pv - h * dv)


def dist_circle(u: Tensor, v: Tensor, radius: Tensor) -> Tensor:
    """Distance to a circle of the given radius (N,) centred at the frame's origin.

    >>> dist_circle(torch.tensor([[[3.0]]]), torch.tensor([[[4.0]]]), torch.tensor([2.0]))
    tensor([[[3.]]])
    """
    return (torch.hypot(u, v) - _b(radius)).abs()


def dist_arc(u: Tensor, v: Tensor, radius: Tensor, extent: Tensor) -> Tensor:
    """Distance to an arc of a circle centred at the origin.

    The arc is symmetric about the +u axis: it spans angles [-extent/2, extent/2],
    so its midpoint is (radius, 0) and it bulges towards +u. radius, extent: (N,).

    >>> d = dist_arc(torch.tensor([[[5.0, -5.0]]]), torch.tensor([[[0.0, 0.0]]]),
    ...              torch.tensor([5.0]), torch.tensor([3.14]))
    >>> [round(v, 2) for v in d[0, 0].tolist()]  # on the arc; behind it, 5 * sqrt(2) from its ends
    [0.0, 7.07]
    """
    r, half = _b(radius), _b(extent) / 2
    phi = torch.atan2(v, u)
    on_arc = phi.abs() <= half
    to_circle = (torch.hypot(u, v) - r).abs()
    # Off the arc, the nearest point is one of its two endpoints.
    ex, ey = r * torch.cos(half), r * torch.sin(half)
    to_ends = torch.minimum(torch.hypot(u - ex, v - ey), torch.hypot(u - ex, v + ey))
    return torch.where(on_arc, to_circle, to_ends)


def dist_polyline(u: Tensor, v: Tensor, points: Tensor, closed: bool) -> Tensor:
    """Distance to a polyline through `points` (N, K, 2); closed joins the last to the first.

    >>> square = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]])
    >>> dist_polyline(torch.tensor([[[1.0]]]), torch.tensor([[[1.0]]]), square, closed=True)
    tensor([[[1.]]])
    """
    k = points.shape[1]
    pairs = [(i, i + 1) for i in range(k - 1)] + ([(k - 1, 0)] if closed else [])
    dists = [
        dist_segment(u, v, points[:, i, 0], points[:, i, 1], points[:, j, 0], points[:, j, 1])
        for i, j in pairs
    ]
    return torch.stack(dists).amin(dim=0)


def dist_wave(u: Tensor, v: Tensor, half_length: Tensor, amplitude: Tensor, periods: Tensor,
              phase: Tensor) -> Tensor:
    """Approximate distance to v = A sin(k u + phase) for |u| <= half_length.

    Dividing the vertical gap by sqrt(1 + slope^2) is the first-order distance
    to a smooth curve: exact enough for a stroke a few pixels wide.

    >>> one = torch.tensor([1.0])
    >>> dist_wave(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), 10 * one, one, one, 0 * one)
    tensor([[[0.]]])
    """
    L, A, ph = _b(half_length), _b(amplitude), _b(phase)
    k = _b(periods) * math.pi / L  # `periods` full waves over the length 2L
    uc = torch.maximum(torch.minimum(u, L), -L)
    curve = A * torch.sin(k * uc + ph)
    slope = A * k * torch.cos(k * uc + ph)
    return torch.hypot(u - uc, (v - curve) / torch.sqrt(1 + slope**2))


def dist_spiral(u: Tensor, v: Tensor, inner: Tensor, outer: Tensor, turns: Tensor) -> Tensor:
    """Approximate distance to an Archimedean spiral rho = inner + b * theta.

    theta runs over [0, 2 pi turns] and b is set so the spiral ends at `outer`.
    Each pixel is compared with every winding that passes its polar angle.

    >>> one = torch.tensor([1.0])
    >>> float(dist_spiral(torch.tensor([[[1.0]]]), torch.zeros(1, 1, 1), one, 5 * one, one))
    0.0
    """
    a, r_out, t = _b(inner), _b(outer), _b(turns)
    theta_max = 2 * math.pi * t
    b = (r_out - a) / theta_max
    rho = torch.hypot(u, v)
    phi = torch.remainder(torch.atan2(v, u), 2 * math.pi)
    best = torch.full_like(rho, float("inf"))
    for wind in range(int(math.ceil(float(turns.max()))) + 1):
        theta = phi + 2 * math.pi * wind
        on = theta <= theta_max
        gap = (rho - (a + b * theta)).abs()
        best = torch.where(on, torch.minimum(best, gap), best)
    return best


def ink(dist: Tensor, width: Tensor) -> Tensor:
    """Turn distance (N, H, W) into stroke coverage in [0, 1] with a one-pixel soft edge.

    >>> ink(torch.tensor([[[0.0, 1.5, 3.0]]]), torch.tensor([2.0]))
    tensor([[[1., 0., 0.]]])
    """
    return (_b(width) / 2 - dist + 0.5).clamp(0.0, 1.0)


def composite(coverage: Tensor, fg: Tensor, bg: Tensor) -> Tensor:
    """Paint colour fg (N, 3) where coverage (N, H, W) is 1 over background bg (N, 3).

    Returns images (N, 3, H, W).

    >>> composite(torch.tensor([[[1.0, 0.0]]]), torch.ones(1, 3), torch.zeros(1, 3))[0, 0]
    tensor([[1., 0.]])
    """
    a = coverage[:, None]
    return bg[:, :, None, None] * (1 - a) + fg[:, :, None, None] * a


def zigzag_points(half_length: Tensor, amplitude: Tensor, periods: Tensor, phase: Tensor,
                  max_vertices: int = 8) -> Tensor:
    """Vertices (N, max_vertices, 2) of a zigzag: the triangle wave with the same peaks as
    the sine wave v = A sin(k u + phase) of `dist_wave`, for |u| <= half_length.

    The peaks sit where k u + phase = pi/2 + m pi; unused vertices repeat the last
    one (zero-length segments draw nothing).

    >>> zigzag_points(torch.tensor([10.0]), torch.tensor([3.0]), torch.tensor([1.0]),
    ...               torch.tensor([0.0])).shape
    torch.Size([1, 8, 2])
    """
    L, A, ph = half_length[:, None], amplitude[:, None], phase[:, None]
    k = periods[:, None] * math.pi / L
    first = torch.ceil((-k * L + ph - math.pi / 2) / math.pi)  # the first peak at u >= -L
    m = first + torch.arange(max_vertices - 2)[None]
    peaks = ((math.pi / 2 + m * math.pi - ph) / k).clamp(max=L)
    u = torch.cat([-L, peaks, L], dim=1)
    v = A * (2 / math.pi) * torch.asin(torch.sin(k * u + ph).clamp(-1, 1))
    return torch.stack([u, v], dim=-1)


def side_of_line(size: int, px: Tensor, py: Tensor, angle: Tensor, softness: float = 1.0
                 ) -> Tensor:
    """(N, size, size) in [0, 1]: how far each pixel lies on the side of the line through
    (px, py) that its normal `angle` points to, softened over about `softness` pixels.

    >>> side = side_of_line(8, torch.tensor([4.0]), torch.tensor([4.0]), torch.tensor([0.0]))
    >>> bool(side[0, 0, 0] < 0.05), bool(side[0, 0, 7] > 0.95)
    (True, True)
    """
    x, y = pixel_grid(size)
    along_normal = (x - _b(px)) * _b(torch.cos(angle)) + (y - _b(py)) * _b(torch.sin(angle))
    return torch.sigmoid(along_normal / softness)


def composite_two_tone(coverage: Tensor, bright: Tensor, dark: Tensor, background: Tensor,
                       side: Tensor) -> Tensor:
    """A stroke drawn `bright` (N, 3) where side (N, H, W) is 1 and `dark` where it is 0,
    over `background` (N, 3): its contrast polarity flips across the line.

    >>> cov = torch.ones(1, 2, 2)
    >>> side = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    >>> composite_two_tone(cov, torch.ones(1, 3), torch.zeros(1, 3), torch.full((1, 3), 0.5),
    ...                    side)[0, 0]
    tensor([[1., 0.],
            [1., 0.]])
    """
    stroke = bright[:, :, None, None] * side[:, None] + dark[:, :, None, None] * (1 - side[:, None])
    a = coverage[:, None]
    return background[:, :, None, None] * (1 - a) + stroke * a
