"""A drawing parameterization: images made of a few pen strokes, every stroke learnable.

The organism's world is line drawings: one or two strokes of ink on a plain
background. A render in the Fourier parameterization can draw anything, and a
curve detector's render then fills its whole receptive field with nested arcs
and colour (each arc adds a little activation). `StrokeImage` can only draw
what the data is made of: each image is `strokes` smooth pen strokes of one
tone on a background of another, and optimizing it asks a sharper question:
*which stroke excites this unit most?* A curve detector answers with a bent
stroke, a line detector with a straight one. By default a stroke is a
quadratic Bézier curve: straight or bent one way, never an S or a loop (a
reader reads those less surely as curves); `degree=3` allows hooks and S-curves.

Finding the best stroke is a search with local optima (a stroke at the wrong
angle may excite nothing, so it gets no gradient). Each stroke therefore starts
as `candidates` faint strokes through the window's centre at evenly spread
angles that share one pot of ink: their weights are a softmax, which
sharpens as the render proceeds, so the candidates compete and the image ends
as the winning stroke.

This is a prior, and a strong one (chapter 2): it decides what a render can
show. It is the organisms' default (`zoo` organisms carry it in their render
recipe); pass `param=` to render without it.

    p = StrokeImage(4, 64, 64, window=((32.0, 32.0), 32))
    images = p()      # (4, 3, 64, 64): faint stars of candidate strokes on grey, at first
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from interp_lib.optvis.param import ImageParam
from interp_lib.optvis.recipe import Recipe, seen_region


class StrokeImage(ImageParam):
    """Images (N, 3, H, W) drawn as `strokes` Bézier pen strokes (of `degree` 2 by default:
    straight or bent one way) of one grey on a plain background of another.

    window: ((x, y), side) in pixels, the square where strokes are drawn (a unit's
    receptive field; default: the whole image); strokes start through its centre,
    about half its side long. stroke_width: in pixels (the organism's strokes are
    1.5 to 3.5). candidates: faint starting strokes per stroke, at evenly spread
    angles, that compete for the ink; sharpen: how fast the competition sharpens (the
    softmax temperature falls as 1 / (1 + sharpen * calls)); decide_after: the number of
    drawings after which the leader takes all the ink (a render draws once a step). Points are learned
    in units of a tenth of the window, so that Adam's usual learning rate (0.05)
    moves them by about half a pixel per step.

    >>> p = StrokeImage(2, 32, 32, window=((8.0, 8.0), 16), seed=0)  # the top-left 16 x 16
    >>> images = p().detach()
    >>> outside = torch.ones(32, 32, dtype=torch.bool); outside[:16, :16] = False
    >>> bool((images[..., outside] == images[..., 31:, 31]).all())  # no ink outside the window
    True
    >>> [round(float(images[i, 0, 31, 31]), 2) for i in (0, 1)]  # black, then white: both polarities
    [0.12, 0.88]
    """

    def __init__(self, batch_size: int, height: int, width: int, *,
                 window: tuple[tuple[float, float], int] | None = None, strokes: int = 1,
                 stroke_width: float = 2.5, candidates: int = 6, sharpen: float = 0.3,
                 decide_after: int = 128, degree: int = 2, samples: int = 12, seed: int = 0):
        super().__init__(batch_size, height, width, None)
        if degree not in (1, 2, 3):
            raise ValueError(f"degree is 1 (straight), 2 (one bend) or 3 (a bend, a hook or an S), "
                             f"got {degree}")
        if strokes < 1 or candidates < 1:
            raise ValueError(f"strokes and candidates must be at least 1, got {strokes} and "
                             f"{candidates}")
        g = torch.Generator().manual_seed(seed)
        (cx, cy), side = window if window is not None else ((width / 2, height / 2), min(height, width))
        top, left = max(0, round(cy - side / 2)), max(0, round(cx - side / 2))
        bottom, right = min(height, top + int(side)), min(width, left + int(side))
        self.box = (top, bottom, left, right)
        self.unit = side / 10
        self.samples = samples
        self.sharpen = sharpen
        self.decide_after = decide_after
        self.stroke_width = stroke_width
        n, k, c = batch_size, strokes, candidates
        # Candidate j of stroke s starts at angle (j + s / k) * 180 / c degrees, a gentle bend.
        angle = (torch.arange(c)[None, :] + torch.arange(k)[:, None] / k) * (math.pi / c)
        angle = angle[None].expand(n, k, c) + torch.randn(n, k, c, generator=g) * 0.05
        d = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)  # (n, k, c, 2)
        normal = torch.stack([-d[..., 1], d[..., 0]], dim=-1)
        half = side / 4
        centre = torch.tensor([cx - left, cy - top]).view(1, 1, 1, 2)
        bend = torch.randn(n, k, c, 1, generator=g) * 0.1 * half
        # Control points spread evenly along the starting stroke, the inner ones bent a little.
        t = torch.linspace(-1, 1, degree + 1)
        inner = (t.abs() < 1).float().view(1, 1, 1, -1, 1)
        points = (centre[..., None, :] + half * t.view(1, 1, 1, -1, 1) * d[..., None, :]
                  + inner * bend[..., None, :] * normal[..., None, :])
        self.points = nn.Parameter(points / self.unit)  # (n, k, c, degree + 1, 2)
        self.choice = nn.Parameter(torch.zeros(n, k, c))
        # White ink on black and black on white, alternately: both contrast polarities start.
        tones = torch.tensor([[2.0, -2.0]]).repeat(n, 1)
        tones[1::2] = torch.tensor([-2.0, 2.0])
        self.tones = nn.Parameter(tones)
        ys, xs = torch.meshgrid(torch.arange(top, bottom) + 0.5 - top,
                                torch.arange(left, right) + 0.5 - left, indexing="ij")
        self.register_buffer("grid", torch.stack([xs, ys], dim=-1).reshape(-1, 2))  # (P, 2)
        self.calls = 0

    def curves(self) -> Tensor:
        """Points along every candidate stroke: (N, strokes, candidates, samples, 2), pixels
        from the window's top-left corner."""
        p = self.points * self.unit
        n = p.shape[3] - 1  # the curve's degree
        t = torch.linspace(0, 1, self.samples, device=p.device).view(1, 1, 1, -1, 1)
        # Bernstein polynomials: the weight of control point i at parameter t.
        return sum(math.comb(n, i) * (1 - t) ** (n - i) * t ** i * p[:, :, :, i:i + 1]
                   for i in range(n + 1))

    def weights(self) -> Tensor:
        """(N, strokes, candidates): each candidate's share of its stroke's ink. After
        `decide_after` drawings the competition is over: the leader takes all the ink."""
        if self.calls >= self.decide_after:
            return nn.functional.one_hot(self.choice.argmax(dim=-1), self.choice.shape[-1]).to(
                self.choice)
        temperature = 1.0 / (1.0 + self.sharpen * self.calls)
        return torch.softmax(self.choice / temperature, dim=-1)

    def raw(self) -> Tensor:
        raise NotImplementedError("a StrokeImage is drawn, not squashed: call it")

    def forward(self) -> Tensor:
        pts = self.curves()
        a, b = pts[..., :-1, :, None], pts[..., 1:, :, None]  # segment ends (N, k, c, S - 1, 2, 1)
        ax, ay, dx, dy = a[..., 0, :], a[..., 1, :], (b - a)[..., 0, :], (b - a)[..., 1, :]
        # Distance from every window pixel to every segment, x and y apart (cheaper than pairs).
        px, py = self.grid[:, 0] - ax, self.grid[:, 1] - ay  # (N, k, c, S - 1, P)
        t = ((px * dx + py * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1)
        dist = ((px - t * dx).square() + (py - t * dy).square()).amin(dim=3).add(1e-6).sqrt()
        # A soft edge about a pixel wide, so that moving a stroke changes pixels smoothly.
        cover = torch.sigmoid((self.stroke_width / 2 - dist) * 2.0)
        cover = (self.weights()[..., None] * cover).sum(dim=2)  # (N, k, P)
        cover = 1 - (1 - cover).prod(dim=1)  # the strokes' union
        self.calls += 1
        fg, bg = torch.sigmoid(self.tones).unbind(1)  # (N,)
        top, bottom, left, right = self.box
        n, _, h_img, w_img = self.shape
        image = bg.view(n, 1, 1).expand(n, h_img, w_img).clone()
        window = bg.view(n, 1) + (fg - bg).view(n, 1) * cover.view(n, -1)
        image[:, top:bottom, left:right] = window.view(n, bottom - top, right - left)
        return image[:, None].expand(n, 3, h_img, w_img)


def _drawing(model: nn.Module, objective, batch_size: int, size: int, seed: int,
             device: torch.device) -> StrokeImage:
    centre, side = seen_region(model, objective, batch_size, size, seed=seed)
    # One stroke where the objective sees a patch (a neuron); two where it sees everything.
    return StrokeImage(batch_size, size, size, window=(centre, side),
                       strokes=1 if side < size else 2, seed=seed).to(device)


DRAWING = Recipe("drawing: pen strokes (StrokeImage) where the objective can see, no transforms",
                 _drawing, None)
