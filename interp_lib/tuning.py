"""Tuning curves: how a unit's response changes as one stimulus parameter changes.

The course's test for a curve detector follows the Circuits thread's curve
detector study: show the network arcs at many orientations, read each
channel at the centre position, and call a channel *curve-tuned* when its
response at the preferred orientation is well above its mean response over
all orientations. A family of curve detectors should cover the whole circle
of orientations between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.organism import stimuli
from interp_lib.hooks import run_with_cache


@dataclass
class CurveTuning:
    """Channel responses to curves.

    responses: (C, O) mean response of each channel at the centre position to
    curves at each of O orientations (averaged over radii and both contrast
    polarities). orientations: (O,) in degrees. line_responses: (C, A) the same
    channels' responses to straight lines through the centre at A angles over
    180 degrees (two lengths, both polarities), to tell curves from lines.
    """

    layer: str
    responses: Tensor
    orientations: Tensor
    line_responses: Tensor

    @property
    def preferred(self) -> Tensor:
        """(C,) the orientation, in degrees, of each channel's largest response."""
        return self.orientations[self.responses.argmax(dim=1)]

    @property
    def peak_to_mean(self) -> Tensor:
        """(C,) response at the preferred orientation over mean response (0 for silent channels)."""
        peak = self.responses.amax(dim=1)
        mean = self.responses.mean(dim=1)
        return torch.where(mean > 0, peak / mean.clamp_min(1e-12), torch.zeros_like(peak))

    @property
    def opposite(self) -> Tensor:
        """(C,) response to curves facing the opposite way, over the peak response.

        Near 0 for a curve detector; near 1 for a straight edge or line detector,
        which sees the same tangent in a curve and in its mirror image.
        """
        n = self.responses.shape[1]
        best = self.responses.argmax(dim=1)
        opp = self.responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0]
        return opp / self.responses.amax(dim=1).clamp_min(1e-12)

    def tuned(self, min_ratio: float = 3.0, min_peak: float = 0.05) -> list[int]:
        """Channels with peak/mean >= min_ratio whose peak is at least `min_peak`
        times the layer's largest peak (so that near-silent channels don't count)."""
        peak = self.responses.amax(dim=1)
        ok = (self.peak_to_mean >= min_ratio) & (peak >= min_peak * peak.max())
        return ok.nonzero(as_tuple=True)[0].tolist()

    def curve_detectors(self, min_ratio: float = 3.0, min_peak: float = 0.05) -> list[int]:
        """Tuned channels that also answer their preferred curve more strongly than any
        straight line: a stricter test, which oriented line detectors fail."""
        peak = self.responses.amax(dim=1)
        line_peak = self.line_responses.amax(dim=1)
        return [c for c in self.tuned(min_ratio, min_peak) if peak[c] > line_peak[c]]


def largest_gap(angles: Sequence[float] | Tensor) -> float:
    """The widest empty stretch, in degrees, between angles on the circle (360 for none)."""
    a = sorted(float(x) % 360 for x in angles)
    if not a:
        return 360.0
    gaps = [b - c for c, b in zip(a, a[1:])] + [a[0] + 360 - a[-1]]
    return max(gaps)


@torch.no_grad()
def curve_tuning(
    model: nn.Module,
    layer: str,
    n_orientations: int = 16,
    radii: Sequence[float] = (8.0, 11.0, 14.0),
    size: int = 64,
    device: str | torch.device = "cpu",
) -> CurveTuning:
    """Measure every channel of `layer` against curves at n_orientations orientations.

    Each orientation is shown at every radius, white on black and black on
    white; the response is read at the centre of the feature map and averaged.
    Lines at n_orientations angles are measured the same way, for comparison.
    """
    orientations = torch.arange(n_orientations) * (360.0 / n_orientations)
    polarities = ((stimuli.WHITE, stimuli.BLACK), (stimuli.BLACK, stimuli.WHITE))
    curves = [stimuli.curves(orientations, radius=r, fg=fg, bg=bg, size=size)
              for fg, bg in polarities for r in radii]
    angles = torch.arange(n_orientations) * (180.0 / n_orientations)
    lines = [stimuli.lines(angles, length=length, fg=fg, bg=bg, size=size)
             for fg, bg in polarities for length in (1.5 * min(radii), 1.5 * max(radii))]
    return CurveTuning(layer=layer, orientations=orientations,
                       responses=_centre_responses(model, layer, curves, device),
                       line_responses=_centre_responses(model, layer, lines, device))


def _centre_responses(model: nn.Module, layer: str, groups: list[Tensor], device) -> Tensor:
    """Mean over the groups of each channel's response at the centre: (C, stimuli per group)."""
    x = torch.cat(groups).to(device)
    _, acts = run_with_cache(model, x, layer)
    a = acts[layer]
    if a.ndim != 4:
        raise ValueError(f"curve tuning needs a convolutional layer (N, C, H, W); "
                         f"{layer!r} gives {tuple(a.shape)}")
    centre = a[:, :, a.shape[2] // 2, a.shape[3] // 2]  # (groups * per group, C)
    return centre.reshape(len(groups), -1, a.shape[1]).mean(0).T.cpu()
