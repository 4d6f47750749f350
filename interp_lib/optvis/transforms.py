"""Transformation robustness: small random changes applied before each step.

An image that excites a unit only at one exact pixel alignment is exploiting
the network, not showing what the unit responds to. Jittering, scaling and
rotating the image at every optimization step asks for an image that works
under all of them, which removes much of the high-frequency noise.

A transform here is a *seeded* function `t(images, generator) -> images` on
(N, 3, H, W), differentiable, and random only through the generator, so a
seeded render is reproducible. `compose` chains them; `standard(size)` is
Lucid's standard set scaled to the image size. `render` also accepts a plain
`t(images)` (a torchvision transform, a lambda); it is then only as
reproducible as its own randomness.

>>> x, t = torch.rand(2, 3, 32, 32), compose(pad(4), jitter(8))  # 40 x 40, then a random 32 x 32 crop
>>> torch.equal(t(x, torch.Generator().manual_seed(0)), t(x, torch.Generator().manual_seed(0)))  # seeded
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

SeededTransform = Callable[[Tensor, torch.Generator], Tensor]


def _choice(options: Sequence, g: torch.Generator):
    return options[int(torch.randint(len(options), (1,), generator=g))]


def pad(width: int, value: float = 0.5) -> SeededTransform:
    """Add a border of `width` pixels of constant colour (grey by default).

    >>> y = pad(2)(torch.zeros(1, 3, 4, 4), torch.Generator())  # a black 4 x 4 image
    >>> tuple(y.shape[-2:]), float(y[0, 0, 0, 0]), float(y[..., 2:6, 2:6].max())  # a grey frame
    ((8, 8), 0.5, 0.0)
    """
    def t(x: Tensor, g: torch.Generator) -> Tensor:
        return F.pad(x, (width,) * 4, value=value)
    return t


def jitter(d: int) -> SeededTransform:
    """Shift by up to d pixels, independently in x and y (a random (H-d) x (W-d) crop).

    >>> x = torch.zeros(1, 1, 16, 16); x[..., 8, 8] = 1.0  # a dot at row 8, column 8
    >>> dots = [jitter(4)(x, torch.Generator().manual_seed(s))[0, 0].nonzero()[0].tolist()
    ...         for s in range(50)]  # where it lands in the 12 x 12 crop
    >>> [(min(d[i] for d in dots), max(d[i] for d in dots)) for i in (0, 1)]  # moved 0 to 4 px
    [(4, 8), (4, 8)]
    """
    if d < 1:
        raise ValueError(f"jitter needs d >= 1 pixel, got {d}")

    def t(x: Tensor, g: torch.Generator) -> Tensor:
        h, w = x.shape[-2:]
        if d >= min(h, w):
            raise ValueError(f"jitter of {d} px is too large for a {h}x{w} image")
        dy, dx = (int(v) for v in torch.randint(d + 1, (2,), generator=g))
        return x[..., dy:dy + h - d, dx:dx + w - d]
    return t


def random_scale(scales: Sequence[float]) -> SeededTransform:
    """Resize by a factor drawn from `scales` (bilinear).

    >>> x = torch.zeros(1, 3, 16, 16)
    >>> sorted({random_scale([0.5, 2])(x, torch.Generator().manual_seed(s)).shape[-1] for s in range(10)})
    [8, 32]
    """
    def t(x: Tensor, g: torch.Generator) -> Tensor:
        s = float(_choice(scales, g))
        size = [max(1, round(n * s)) for n in x.shape[-2:]]
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return t


def random_rotate(angles: Sequence[float]) -> SeededTransform:
    """Rotate about the centre by an angle (degrees, clockwise on screen, as every angle of
    the course) drawn from `angles`; the border pixels are repeated where the rotated image
    leaves a gap.

    >>> x = torch.rand(1, 3, 8, 8)
    >>> y = random_rotate([90])(x, torch.Generator())  # a quarter turn clockwise
    >>> torch.allclose(y, torch.rot90(x, -1, dims=(2, 3)), atol=1e-5)
    True
    """
    def t(x: Tensor, g: torch.Generator) -> Tensor:
        # affine_grid maps output to input coordinates: a clockwise turn of the image is an
        # anticlockwise turn of the grid (y points down).
        a = -math.radians(float(_choice(angles, g)))
        rot = torch.tensor([[math.cos(a), -math.sin(a), 0.0],
                            [math.sin(a), math.cos(a), 0.0]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(rot.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return t


def compose(*transforms: SeededTransform) -> SeededTransform:
    """Apply transforms in order.

    >>> x, g = torch.zeros(1, 3, 8, 8), torch.Generator()
    >>> [compose(pad(2), random_scale([0.5]))(x, g).shape[-1],  # (8 + 4) / 2
    ...  compose(random_scale([0.5]), pad(2))(x, g).shape[-1]]  # 8 / 2 + 4
    [6, 8]
    """
    def t(x: Tensor, g: torch.Generator) -> Tensor:
        for tr in transforms:
            x = tr(x, g)
        return x
    return t


def standard(size: int) -> SeededTransform:
    """Lucid's standard transforms (made for 128 px), scaled to a `size`-pixel render:
    pad 12, jitter 8, scale 0.9 to 1.1, rotate -10 to 10 degrees, jitter 4.

    >>> t, x = standard(64), torch.rand(1, 3, 64, 64)
    >>> outs = [t(x, torch.Generator().manual_seed(s)) for s in range(20)]
    >>> torch.equal(outs[0], t(x, torch.Generator().manual_seed(0)))  # a seed: the same jiggle again
    True
    >>> min(o.shape[-1] for o in outs), max(o.shape[-1] for o in outs)  # about the image's size
    (63, 77)
    """
    k = size / 128
    return compose(
        pad(max(1, round(12 * k))),
        jitter(max(1, round(8 * k))),
        random_scale([1 + (i - 5) / 50 for i in range(11)]),
        random_rotate(list(range(-10, 11)) + [0] * 5),
        jitter(max(1, round(4 * k))),
    )


def identity(x: Tensor, g: torch.Generator) -> Tensor:
    """No transform.

    >>> x = torch.rand(1, 3, 4, 4)
    >>> identity(x, torch.Generator()) is x
    True
    """
    return x
