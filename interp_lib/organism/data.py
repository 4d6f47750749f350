"""The model organism's world: a procedural data set of line drawings.

Nothing is downloaded. `make_batch(n, seed)` draws n images of ten kinds of
shape, each at a random position, size, rotation, stroke width and colour,
with light pixel noise. The classes come in pairs that differ in curvature
alone: circle and pentagon, arc and corner, wave and zigzag; with line,
triangle, square and spiral. To tell a circle from a pentagon, or a wave from
a zigzag, a network has to notice smooth curvature and its direction as
against straight strokes that meet at corners: the curve detectors the
course studies.

Half of the strokes are drawn in two tones, bright on one side of a random
line through the shape and dark on the other, against a background between
the two: the stroke's contrast polarity flips along it, as an object's edge
does against a varied background. A detector that needs a whole curve has
to answer both polarities. Every sample comes with the parameters that drew
it, so ground truth is always known.

The same (n, seed) gives the same batch on any machine: all randomness comes
from one seeded `torch.Generator`, and every parameter is drawn for every
sample in a fixed order whatever its class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache

import torch
from torch import Tensor

from interp_lib.organism import drawing

CLASSES: tuple[str, ...] = (
    "circle",  # a closed ring
    "pentagon",  # closed, five straight sides: a circle with corners
    "arc",  # part of a ring: 60 to 240 degrees of it
    "corner",  # two segments meeting at 45 to 150 degrees: an arc with a corner
    "line",  # one straight segment
    "triangle",  # closed, three straight sides
    "square",  # closed, four straight sides (a rectangle, possibly)
    "wave",  # a sine wave, 1.5 to 2.5 periods
    "zigzag",  # the same wave drawn with straight segments and sharp turns
    "spiral",  # an Archimedean spiral, 1.3 to 2 turns
)
CURVED = ("circle", "arc", "wave", "spiral")  # the classes drawn with curves only
LOOK_ALIKES = (("circle", "pentagon"), ("arc", "corner"), ("wave", "zigzag"))
SPLIT_FRACTION = 0.5  # the share of two-tone strokes
IMAGE_SIZE = 64
# Seeds of image sets that no training run ever draws (training seeds stay below 2**30), one
# per use, so that nothing chosen on one set is judged on it.
HELD_OUT_SEED = 2**31 - 1  # accuracy and reconstruction error
ANALYSIS_SEED = 2**31 - 2  # measuring the organisms' units (benchmarks)
EXAMPLES_SEED = 2**31 - 4  # where dataset examples are searched
FIT_SEED = 2**31 - 5  # what a method fits itself to (hand-built detectors, probes)
EDIT_SEED = 2**31 - 7  # where an edit of the network (an ablation, a swap) is scored
COMPARE_SEED = 2**31 - 8  # images on which networks are compared (CKA, unit matching)
TEST_SEED = 2**31 - 9  # held-out scores of trained add-ons (stitching layers, probes)


def unrelated(a: str, b: str) -> bool:
    """Whether two classes are unrelated: one drawn with curves and the other with straight
    strokes, and not one of the look-alike pairs (circle and pentagon, arc and corner,
    wave and zigzag) designed to differ in curvature alone.

    >>> unrelated("spiral", "square"), unrelated("circle", "pentagon"), unrelated("line", "square")
    (True, False, False)
    """
    pair = {a, b}
    return (a in CURVED) != (b in CURVED) and not any(pair == set(p) for p in LOOK_ALIKES)


@dataclass
class ShapeBatch:
    """A batch of drawings.

    images: (N, 3, H, W) floats in [0, 1]. labels: (N,) class indices into CLASSES.
    params: name -> (N,) tensor (colours: (N, 3)); NaN where a parameter does not
    apply to a sample's class (for example `extent` for a circle).
    """

    images: Tensor
    labels: Tensor
    params: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def class_names(self) -> list[str]:
        return [CLASSES[i] for i in self.labels.tolist()]


def _uniform(g: torch.Generator, n: int, low: float, high: float) -> Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


def _luminance(rgb: Tensor) -> Tensor:
    return rgb @ torch.tensor([0.299, 0.587, 0.114])


def _colours(g: torch.Generator, n: int) -> tuple[Tensor, Tensor]:
    """Foreground and background colours (N, 3) with at least 0.3 luminance contrast."""
    bg = torch.rand(n, 3, generator=g)
    fg = torch.rand(n, 3, generator=g)
    contrast = _luminance(fg) - _luminance(bg)
    # Too little contrast: push the stroke's brightness away from the background's.
    direction = torch.where(_luminance(bg) < 0.5, 1.0, -1.0)
    shift = torch.where(contrast.abs() < 0.3, direction * 0.3 - contrast, torch.zeros(n))
    fg = (fg + shift[:, None]).clamp(0, 1)
    # Clamping can eat into the shift: make sure by flipping to black or white.
    weak = (_luminance(fg) - _luminance(bg)).abs() < 0.3
    extreme = torch.where(_luminance(bg) < 0.5, 1.0, 0.0)[:, None].expand(n, 3)
    fg = torch.where(weak[:, None], extreme, fg)
    return fg, bg


def _split_colours(g: torch.Generator, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """(bright, dark, background) colours (N, 3) for two-tone strokes: a background of
    middling luminance, one stroke colour about 0.38 brighter and one about 0.38 darker."""
    base = _uniform(g, n, 0.4, 0.6)[:, None]
    jitter = (torch.rand(n, 3, 3, generator=g) - 0.5) * 0.2
    mid = (base + jitter[:, 0]).clamp(0, 1)
    bright = (base + 0.38 + jitter[:, 1]).clamp(0, 1)
    dark = (base - 0.38 + jitter[:, 2]).clamp(0, 1)
    return bright, dark, mid


def _polygon(n_sides: int, radius: Tensor, aspect: Tensor) -> Tensor:
    """Vertices (N, n_sides, 2) of a regular polygon, stretched along u by `aspect`."""
    start = math.pi / 2 if n_sides % 2 else math.pi / 4
    angles = start + torch.arange(n_sides) * (2 * math.pi / n_sides)
    pu = radius[:, None] * torch.cos(angles)[None] * aspect[:, None]
    pv = radius[:, None] * torch.sin(angles)[None]
    return torch.stack([pu, pv], dim=-1)


@dataclass
class Shape:
    """The parameters that give a shape its form, one value per sample (N,): radius in
    pixels, angles in radians (the drawing functions' unit)."""

    radius: Tensor
    extent: Tensor  # an arc's share of its circle
    corner_angle: Tensor  # the angle between a corner's two strokes
    aspect: Tensor  # a polygon's stretch
    amplitude: Tensor  # a wave's or zigzag's height, in pixels
    periods: Tensor
    phase: Tensor
    turns: Tensor  # a spiral's

    def take(self, idx: Tensor) -> Shape:
        return Shape(*(getattr(self, f.name)[idx] for f in fields(self)))


# Each class's distance field, in the shape's own frame (u, v): (N, H, W) pixels to the stroke.
def _circle(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    return drawing.dist_circle(u, v, s.radius)


def _arc(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    # Centre the arc itself, not its circle: shift by half its sagitta.
    shift = s.radius * (1 + torch.cos(s.extent / 2)) / 2
    return drawing.dist_arc(u + shift[:, None, None], v, s.radius, s.extent)


def _line(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    r = s.radius
    return drawing.dist_segment(u, v, -r, 0.0 * r, r, 0.0 * r)


def _corner(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    half = s.corner_angle / 2
    ends_u, ends_v = s.radius * torch.cos(half), s.radius * torch.sin(half)
    vertex = -ends_u / 2  # put the corner's middle at the centre
    zero = 0 * s.radius
    return torch.minimum(drawing.dist_segment(u, v, vertex, zero, vertex + ends_u, ends_v),
                         drawing.dist_segment(u, v, vertex, zero, vertex + ends_u, -ends_v))


def _polygon_of(sides: int, regular: bool = False):
    def draw(u: Tensor, v: Tensor, s: Shape) -> Tensor:
        # A pentagon stays nearly regular (a circle's fellow), so corners are what tells it apart.
        aspect = 1 + (s.aspect - 1) / 2 if regular else s.aspect
        return drawing.dist_polyline(u, v, _polygon(sides, s.radius, aspect), closed=True)
    return draw


def _wave(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    return drawing.dist_wave(u, v, s.radius, s.amplitude, s.periods, s.phase)


def _zigzag(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    points = drawing.zigzag_points(s.radius, s.amplitude, s.periods, s.phase)
    return drawing.dist_polyline(u, v, points, closed=False)


def _spiral(u: Tensor, v: Tensor, s: Shape) -> Tensor:
    return drawing.dist_spiral(u, v, 0.15 * s.radius, s.radius, s.turns)


DRAW: dict[str, Callable[[Tensor, Tensor, Shape], Tensor]] = {
    "circle": _circle, "pentagon": _polygon_of(5, regular=True), "arc": _arc, "corner": _corner,
    "line": _line, "triangle": _polygon_of(3), "square": _polygon_of(4), "wave": _wave,
    "zigzag": _zigzag, "spiral": _spiral,
}
assert tuple(DRAW) == CLASSES


def make_batch(n: int, seed: int, size: int = IMAGE_SIZE) -> ShapeBatch:
    """Draw n labelled images, deterministically from `seed`.

    Returns a ShapeBatch with images (n, 3, size, size) in [0, 1], labels (n,)
    and the drawing parameters. Lengths are in pixels, angles in degrees.

    >>> a, b = make_batch(40, seed=0), make_batch(40, seed=0)
    >>> torch.equal(a.images, b.images), len(set(a.class_names))  # the same drawings; all 10 classes
    (True, 10)
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels for the shapes to fit, got {size}")
    g = torch.Generator().manual_seed(int(seed))
    k = size / IMAGE_SIZE  # lengths below are for 64 px and scale with the image

    labels = torch.randint(len(CLASSES), (n,), generator=g)
    radius = _uniform(g, n, 9.0, 20.0) * k
    wavy = (labels == CLASSES.index("wave")) | (labels == CLASSES.index("zigzag"))
    radius = torch.where(wavy, 12.0 * k + (radius - 9.0 * k) * (8.0 / 11.0), radius)  # 12 to 20
    angle = _uniform(g, n, 0.0, 2 * math.pi)
    mirror = torch.rand(n, generator=g) < 0.5
    width = _uniform(g, n, 1.5, 3.5) * k
    margin = radius + 4 * k
    cx = size / 2 + (torch.rand(n, generator=g) - 0.5) * 2 * (size / 2 - margin).clamp_min(0)
    cy = size / 2 + (torch.rand(n, generator=g) - 0.5) * 2 * (size / 2 - margin).clamp_min(0)
    arc_extent = _uniform(g, n, math.radians(60), math.radians(240))
    corner_angle = _uniform(g, n, math.radians(45), math.radians(150))
    aspect = _uniform(g, n, 0.7, 1.3)
    # Waves and zigzags tall enough that a sine and a triangle wave can be told apart.
    amplitude = _uniform(g, n, 0.3, 0.45) * radius
    periods = _uniform(g, n, 1.5, 2.5)
    phase = _uniform(g, n, 0.0, 2 * math.pi)
    turns = _uniform(g, n, 1.3, 2.0)
    fg, bg = _colours(g, n)
    noise_std = _uniform(g, n, 0.0, 0.05)
    noise = torch.randn(n, 3, size, size, generator=g)
    split = torch.rand(n, generator=g) < SPLIT_FRACTION
    split_colours = _split_colours(g, n)
    split_angle = _uniform(g, n, 0.0, 2 * math.pi)
    split_offset = (torch.rand(n, generator=g) - 0.5) * radius

    shape = Shape(radius, arc_extent, corner_angle, aspect, amplitude, periods, phase, turns)
    u, v = drawing.local_frame(size, cx, cy, angle, mirror)
    dist = torch.empty(n, size, size)
    for c, name in enumerate(CLASSES):
        idx = (labels == c).nonzero(as_tuple=True)[0]
        if len(idx) > 0:
            dist[idx] = DRAW[name](u[idx], v[idx], shape.take(idx))

    coverage = drawing.ink(dist, width)
    images = drawing.composite(coverage, fg, bg)
    if split.any():
        bright, dark, mid = split_colours
        side = drawing.side_of_line(size, cx + split_offset * torch.cos(split_angle),
                                    cy + split_offset * torch.sin(split_angle), split_angle)
        two_tone = drawing.composite_two_tone(coverage, bright, dark, mid, side)
        images = torch.where(split[:, None, None, None], two_tone, images)
    images = (images + noise * noise_std[:, None, None, None]).clamp(0.0, 1.0)

    nan = torch.full((n,), float("nan"))
    params = {
        # Angles in degrees, as everywhere a learner reads them (the drawing used radians).
        "cx": cx, "cy": cy, "radius": radius, "angle": torch.rad2deg(angle),
        "mirror": mirror.float(), "width": width, "fg": fg, "bg": bg, "noise_std": noise_std,
        "extent": torch.where(labels == CLASSES.index("arc"), torch.rad2deg(arc_extent), nan),
        "corner_angle": torch.where(labels == CLASSES.index("corner"), torch.rad2deg(corner_angle),
                                    nan),
        "periods": torch.where(labels == CLASSES.index("wave"), periods, nan),
        "turns": torch.where(labels == CLASSES.index("spiral"), turns, nan),
        "two_tone": split.float(),
    }
    return ShapeBatch(images=images, labels=labels, params=params)


def colour_covariance(n: int = 2048, seed: int = 0) -> Tensor:
    """The (3, 3) covariance of pixel colours over n generated images.

    >>> cov = colour_covariance(n=64)
    >>> corr = cov / torch.outer(cov.diag().sqrt(), cov.diag().sqrt())
    >>> bool((corr - torch.eye(3)).abs().max() < 0.2)  # R, G, B vary nearly independently here
    True
    """
    pixels = make_batch(n, seed).images.permute(0, 2, 3, 1).reshape(-1, 3).double()
    return torch.cov(pixels.T).float()


def colour_sqrt_from_covariance(cov: Tensor) -> Tensor:
    """A square root M of a (3, 3) colour covariance (M M^T = cov), its columns along the
    principal colours, divided by its largest column norm (Lucid's normalisation).

    Feature visualization draws colours through M, so that its parameters are
    decorrelated colours of the data the model was trained on.

    >>> cov = torch.tensor([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])  # red and green go together
    >>> m = colour_sqrt_from_covariance(cov)
    >>> torch.allclose(m @ m.T, cov / 3)  # the largest column had norm sqrt(3)
    True
    """
    eigvals, eigvecs = torch.linalg.eigh(cov.double())
    m = eigvecs * eigvals.clamp_min(0).sqrt()
    return (m / m.norm(dim=0).max()).float()


@lru_cache(maxsize=1)
def _colour_sqrt() -> Tensor:
    return colour_sqrt_from_covariance(colour_covariance(n=1024, seed=12_345))


def colour_sqrt() -> Tensor:
    """The colour square root (3, 3) of the organism's data, estimated on 1024 images.

    >>> m, cov = colour_sqrt(), colour_covariance(n=128, seed=1)  # cov: a fresh sample of the data
    >>> mmt = m @ m.T * cov.trace() / (m @ m.T).trace()  # M is normalised: compare up to scale
    >>> bool((mmt - cov).abs().max() < 0.15 * cov.abs().max())  # M M^T is the data's covariance
    True
    """
    return _colour_sqrt().clone()
