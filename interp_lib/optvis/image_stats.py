"""Statistics that judge a visualization beyond "did the unit fire".

The first is how much of an image's energy sits at high spatial
frequencies: adversarial noise puts much of it there, natural-looking
images (and the organism's line drawings) little. The second asks whether
a visualization *looks like* a curve: `match_stimuli` compares it with
synthetic arcs and lines by normalized cross-correlation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


def high_frequency_fraction(images: Tensor, cutoff: float = 0.25) -> Tensor:
    """Share of each image's spectral energy above `cutoff` cycles per pixel.

    images: (N, C, H, W). The mean of each channel is removed first, so a flat
    image has no energy at all (and gets 0). Frequencies run up to 0.5 cycles
    per pixel (the Nyquist limit), so cutoff=0.25 splits the band in half.
    Returns (N,) in [0, 1].

    >>> high_frequency_fraction(torch.full((2, 3, 8, 8), 0.5))
    tensor([0., 0.])
    """
    if images.ndim != 4:
        raise ValueError(f"expected images shaped (N, C, H, W), got {tuple(images.shape)}")
    if not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff is in cycles per pixel, between 0 and 0.5; got {cutoff}")
    x = images - images.mean(dim=(2, 3), keepdim=True)
    power = torch.fft.rfft2(x).abs() ** 2  # (N, C, H, W // 2 + 1)
    h, w = images.shape[-2:]
    fy = torch.fft.fftfreq(h, device=images.device)[:, None]
    fx = torch.fft.rfftfreq(w, device=images.device)[None, :]
    high = torch.sqrt(fx**2 + fy**2) > cutoff
    # The rfft stores each column 1..W/2-1 once for two conjugate frequencies: count twice.
    weight = torch.full((w // 2 + 1,), 2.0, device=images.device)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    total = (power * weight).sum(dim=(1, 2, 3))
    above = (power * weight * high).sum(dim=(1, 2, 3))
    return torch.where(total > 0, above / total.clamp_min(1e-20), torch.zeros_like(total))


# --- does a visualization look like a curve? ---------------------------------------------

LUMA = (0.299, 0.587, 0.114)


def highpass_luminance(images: Tensor, *, sigma: float = 2.0) -> Tensor:
    """Luminance minus its Gaussian blur: (N, 3, H, W) -> (N, H, W).

    What is left are the strokes and edges of an image, without its slow
    shading or its background colour; a stroke of either contrast polarity
    leaves a ridge of opposite sign.

    >>> highpass_luminance(torch.full((1, 3, 8, 8), 0.7)).abs().max() < 1e-6
    tensor(True)
    """
    from interp_lib.optvis.param import gaussian_blur

    luma = torch.einsum("nchw,c->nhw", images, torch.tensor(LUMA, device=images.device))[:, None]
    return (luma - gaussian_blur(luma, sigma))[:, 0]


def normalized_cross_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of two stacks of maps over their last two dimensions.

    a: (..., H, W), b: (..., H, W), broadcast against each other. 1 for maps equal
    up to scale and offset, -1 for a map and its negative, about 0 for unrelated maps.

    >>> x = torch.rand(5, 5)
    >>> round(float(normalized_cross_correlation(x, 2 * x + 1)), 6)
    1.0
    """
    a = a - a.mean(dim=(-2, -1), keepdim=True)
    b = b - b.mean(dim=(-2, -1), keepdim=True)
    num = (a * b).sum(dim=(-2, -1))
    den = (a.square().sum(dim=(-2, -1)) * b.square().sum(dim=(-2, -1))).sqrt()
    return torch.where(den > 0, num / den.clamp_min(1e-20), torch.zeros_like(num))


@dataclass
class StimulusMatch:
    """How well an image matches its best synthetic stimuli (NCC of high-passed luminance).

    best_kind: "arc" or "line", whichever matched best; arc_score and
    line_score: the best NCC among arcs and among lines (of either polarity);
    arc_orientation: the orientation (degrees) of the best arc; arc_radius its
    radius; line_angle: the angle of the best line.
    """

    best_kind: str
    arc_score: float
    arc_orientation: float
    arc_radius: float
    line_score: float
    line_angle: float


def match_stimuli(images: Tensor, centre: tuple[float, float], window: int, *,
                  radii: Sequence[float] = (5.0, 7.0, 9.0, 12.0, 15.0), n_orientations: int = 72,
                  line_lengths: Sequence[float] = (8.0, 14.0, 20.0),
                  line_offsets: Sequence[float] = (-3.0, 0.0, 3.0), sigma: float = 2.0
                  ) -> list[StimulusMatch]:
    """Compare each image with arcs and lines centred on `centre` (x, y), inside a
    window x window square around it (a unit's receptive field).

    The score is the normalized cross-correlation of high-passed luminance, so a
    stroke's colour, contrast and polarity do not matter, only its shape and
    place. Calibration on 64 px images with a 32 px window: white noise scores
    about 0.05, 1/f noise about 0.08, the stimulus itself 1.0.

    images: (N, 3, H, W) in [0, 1]. Returns one StimulusMatch per image.

    >>> from interp_lib.organism import stimuli
    >>> m = match_stimuli(stimuli.curves(135, radius=9), (32, 32), 32)[0]
    >>> m.best_kind, m.arc_orientation, round(m.arc_score, 2)
    ('arc', 135.0, 1.0)
    """
    from interp_lib.organism import stimuli

    size = images.shape[-1]
    half = window / 2
    top, left = max(0, round(centre[1] - half)), max(0, round(centre[0] - half))
    crop = (slice(top, min(size, top + window)), slice(left, min(size, left + window)))
    orientations = torch.arange(n_orientations) * (360.0 / n_orientations)
    radii_t = torch.tensor([float(r) for r in radii])
    arcs = stimuli.curves(orientations[None, :], radii_t[:, None], size=size, centre=centre)
    angles = torch.arange(n_orientations // 2) * (360.0 / n_orientations)
    lines = stimuli.lines(angles[:, None, None], torch.tensor(line_lengths)[None, :, None],
                          offset=torch.tensor(line_offsets)[None, None, :], size=size,
                          centre=centre)
    arc_maps = highpass_luminance(arcs, sigma=sigma)[(slice(None),) + crop]
    line_maps = highpass_luminance(lines, sigma=sigma)[(slice(None),) + crop]
    maps = highpass_luminance(images.detach().cpu().float(), sigma=sigma)[(slice(None),) + crop]
    results = []
    for m in maps:
        # Either polarity: a black-on-white stroke is the negative of a white-on-black one.
        arc = normalized_cross_correlation(m, arc_maps).abs()  # (R * O,)
        line = normalized_cross_correlation(m, line_maps).abs()
        a, li = int(arc.argmax()), int(line.argmax())
        results.append(StimulusMatch(
            "arc" if arc[a] >= line[li] else "line", float(arc[a]),
            float(orientations[a % n_orientations]), float(radii_t[a // n_orientations]),
            float(line[li]), float(angles[li // (len(line_lengths) * len(line_offsets))])))
    return results


@dataclass
class Readability:
    """How well renders show their units' curves, one entry per render (U,).

    arc, line: the best normalised correlation with an arc and with a line
    (`match_stimuli`); bend: the best arc's orientation (degrees); bend_error: its
    angle to the unit's preferred orientation (0 to 180 degrees).
    """

    arc: Tensor
    line: Tensor
    bend: Tensor
    bend_error: Tensor

    @property
    def arc_over_line(self) -> Tensor:
        return self.arc / self.line.clamp_min(1e-9)

    def bends_right(self, within: float = 30.0) -> Tensor:
        """(U,) bool: the render bends within `within` degrees of the unit's preference."""
        return self.bend_error <= within


def readability(images: Tensor, preferred: Tensor | Sequence[float], centre: tuple[float, float],
                window: int) -> Readability:
    """Measure renders (U, 3, H, W) of curve detectors against arcs and lines inside their
    receptive field (`centre` (x, y), `window` pixels), and each bend against the unit's
    preferred orientation `preferred` (U,) in degrees.

    >>> from interp_lib.organism import stimuli
    >>> r = readability(stimuli.curves([90.0, 200.0], radius=9), [80.0, 20.0], (32, 32), 32)
    >>> r.bends_right().tolist(), [round(float(a), 2) for a in r.arc]  # right, then backwards
    ([True, False], [1.0, 1.0])
    """
    matches = match_stimuli(images, centre, window)
    pref = torch.as_tensor(preferred, dtype=torch.float32).reshape(-1)
    bend = torch.tensor([m.arc_orientation for m in matches])
    diff = (bend - pref).abs() % 360
    return Readability(torch.tensor([m.arc_score for m in matches]),
                       torch.tensor([m.line_score for m in matches]), bend,
                       torch.minimum(diff, 360 - diff))
