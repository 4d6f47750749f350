"""Tuning curves: how a unit's response changes as one stimulus parameter changes.

The course's test for a curve detector follows the Circuits thread's curve
detector study: show the network arcs at many orientations, read each
channel at the centre position, and call a channel *curve-tuned* when its
response at the preferred orientation is well above its mean response over
all orientations. A *curve detector* must also answer its preferred curve
clearly more than any straight line. A family of curve detectors should
cover the whole circle of orientations between them.

Stimuli are placed on the receptive field of the neuron that is read (the
centre neuron of the layer), drawn at several radii and in both contrast
polarities (white on black, black on white), so that each property can be
measured on its own: orientation, radius, polarity, curve against line.

    t = curve_tuning(model, "relu3")
    t.responses          # (C, O): each channel against orientation
    t.curve_detectors()  # the channels that pass the strict test
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.hooks import Layer, layer_activations, receptive_field
from interp_lib.organism import stimuli

POLARITIES = ((stimuli.WHITE, stimuli.BLACK), (stimuli.BLACK, stimuli.WHITE))
POLARITY_NAMES = ("white on black", "black on white")
RADII_OF_FIELD = (0.25, 0.34, 0.44)  # default curve radii, as shares of the receptive field


@dataclass
class LineTuning:
    """Channel responses to straight lines near the receptive field's centre.

    angles: (A,) degrees in [0, 180). by_stimulus: (C, 2, A, L, K), each
    channel's response to each line: polarity (white on black, black on
    white), angle, length, perpendicular offset. An edge or line detector
    answers one angle best.
    """

    layer: str
    angles: Tensor
    by_stimulus: Tensor

    @property
    def responses(self) -> Tensor:
        """(C, A): at each angle, the best length and offset, averaged over polarities."""
        return self.by_stimulus.mean(dim=1).flatten(2).amax(dim=2)

    @property
    def best(self) -> Tensor:
        """(C,): the largest response to any line (averaged over polarities)."""
        return self.responses.amax(dim=1)

    @property
    def preferred(self) -> Tensor:
        """(C,) each channel's preferred line angle in degrees, [0, 180), from the
        doubled-angle vector average (angles 180 apart are the same line)."""
        z = self._vector()
        return torch.rad2deg(torch.atan2(z.imag, z.real) / 2) % 180

    @property
    def selectivity(self) -> Tensor:
        """(C,) orientation selectivity in [0, 1]: the length of the doubled-angle
        vector average. 0 for a channel indifferent to angle, 1 for one that
        answers a single angle only."""
        total = self.responses.clamp_min(0).sum(dim=1)
        return torch.where(total > 0, self._vector().abs() / total.clamp_min(1e-12),
                           torch.zeros_like(total))

    def _vector(self) -> Tensor:
        phase = torch.polar(torch.ones_like(self.angles), 2 * torch.deg2rad(self.angles))
        return (self.responses.clamp_min(0).to(phase.dtype) * phase).sum(dim=1)


@dataclass
class CurveTuning:
    """Channel responses to curves.

    by_stimulus: (C, 2, R, O), each channel's response at the centre position
    to curves in each polarity (white on black, black on white), at each of R
    radii and O orientations. orientations: (O,) in degrees (the direction a
    curve bulges towards, clockwise from "right"). radii: (R,) in pixels.
    lines: the same channels' LineTuning, to tell curves from lines.
    centre: the (x, y) pixel the stimuli were centred on.
    """

    layer: str
    orientations: Tensor
    radii: Tensor
    by_stimulus: Tensor
    lines: LineTuning
    centre: tuple[float, float]

    @property
    def responses(self) -> Tensor:
        """(C, O): the response to each orientation, averaged over radii and polarities."""
        return self.by_stimulus.mean(dim=(1, 2))

    @property
    def line_responses(self) -> Tensor:
        """(C, A): responses to lines (see LineTuning)."""
        return self.lines.responses

    @property
    def preferred(self) -> Tensor:
        """(C,) the orientation, in degrees, of each channel's largest response."""
        return self.orientations[self.responses.argmax(dim=1)]

    @property
    def preferred_radius(self) -> Tensor:
        """(C,) the radius, in pixels, that a channel answers best at its preferred orientation."""
        best = self.responses.argmax(dim=1)
        by_radius = self.by_stimulus.mean(dim=1)  # (C, R, O)
        at_best = by_radius.gather(2, best.view(-1, 1, 1).expand(-1, by_radius.shape[1], 1))[..., 0]
        return self.radii[at_best.argmax(dim=1)]

    @property
    def peak_to_mean(self) -> Tensor:
        """(C,) response at the preferred orientation over mean response (0 for silent channels)."""
        peak = self.responses.amax(dim=1)
        mean = self.responses.mean(dim=1)
        return torch.where(mean > 0, peak / mean.clamp_min(1e-12), torch.zeros_like(peak))

    @property
    def opposite(self) -> Tensor:
        """(C,) response to curves facing the opposite way, over the peak response:
        the *echo*. Near 0 for a curve detector; near 1 for a straight edge or line
        detector, which sees the same tangent in a curve and in its mirror image."""
        n = self.responses.shape[1]
        best = self.responses.argmax(dim=1)
        opp = self.responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0]
        return opp / self.responses.amax(dim=1).clamp_min(1e-12)

    echo = opposite

    @property
    def polarity_ratio(self) -> Tensor:
        """(C,) at the preferred orientation, the weaker polarity's response over the
        stronger's (averaged over radii). 1: indifferent to contrast polarity, as
        InceptionV1's curve detectors largely are; 0: answers one polarity only."""
        best = self.responses.argmax(dim=1)
        per_pol = self.by_stimulus.mean(dim=2)  # (C, 2, O)
        at_best = per_pol.gather(2, best.view(-1, 1, 1).expand(-1, 2, 1))[..., 0].clamp_min(0)
        return at_best.amin(dim=1) / at_best.amax(dim=1).clamp_min(1e-12)

    def lobes(self, threshold: float = 0.5) -> Tensor:
        """(C,) the number of separate runs of orientations (around the circle) where a
        channel's response is at least `threshold` times its peak. A clean curve
        detector has 1; a second lobe, often 180 degrees away, makes 2."""
        r = self.responses
        above = r >= threshold * r.amax(dim=1, keepdim=True).clamp_min(1e-12)
        starts = above & ~above.roll(1, dims=1)  # a run begins where the previous one is below
        count = starts.sum(dim=1)
        return torch.where(above.all(dim=1), torch.ones_like(count), count)

    @property
    def best(self) -> Tensor:
        """(C,): the largest response to any curve (any orientation and radius), averaged
        over polarities."""
        return self.by_stimulus.mean(dim=1).flatten(1).amax(dim=1)

    @property
    def line_ratio(self) -> Tensor:
        """(C,) the best curve response over the best straight-line response: each family
        at its best (curves over orientations and radii, lines over angles, lengths
        and offsets), both averaged over the two polarities."""
        return self.best / self.lines.best.clamp_min(1e-12)

    def tuned(self, min_ratio: float = 3.0, min_peak: float = 0.05) -> list[int]:
        """Channels with peak/mean >= min_ratio whose peak is at least `min_peak`
        times the layer's largest peak (so that near-silent channels don't count)."""
        peak = self.responses.amax(dim=1)
        ok = (self.peak_to_mean >= min_ratio) & (peak >= min_peak * peak.max())
        return ok.nonzero(as_tuple=True)[0].tolist()

    def curve_detectors(self, min_ratio: float = 3.0, min_peak: float = 0.05,
                        min_line_ratio: float = 1.5) -> list[int]:
        """Tuned channels that also answer their preferred curve at least `min_line_ratio`
        times more strongly than any straight line: a stricter test, which oriented
        edge and line detectors fail."""
        ratio = self.line_ratio
        return [c for c in self.tuned(min_ratio, min_peak) if ratio[c] >= min_line_ratio]

    def family(self, **kwargs) -> list[int]:
        """The curve detectors (see curve_detectors for kwargs), sorted by preferred orientation."""
        return sorted(self.curve_detectors(**kwargs), key=lambda c: float(self.preferred[c]))


def largest_gap(angles: Sequence[float] | Tensor) -> float:
    """The widest empty stretch, in degrees, between angles on the circle (360 for none).

    >>> largest_gap([0, 90, 180, 270]), largest_gap([10, 350])
    (90.0, 340.0)
    """
    a = sorted(float(x) % 360 for x in angles)
    if not a:
        return 360.0
    gaps = [b - c for c, b in zip(a, a[1:])] + [a[0] + 360 - a[-1]]
    return float(max(gaps))


def line_tuning(
    model: nn.Module,
    layer: Layer,
    *,
    n_angles: int = 16,
    lengths: Sequence[float] = (12.0, 21.0),
    offsets: Sequence[float] = (-3.0, 0.0, 3.0),
    size: int = 64,
    batch_size: int = 512,
) -> LineTuning:
    """Measure every channel of `layer` against lines at n_angles angles over 180 degrees.

    Each angle is drawn at every length and perpendicular offset, in both
    polarities, centred on the receptive field of the centre neuron, which is
    read. A channel's response to an angle is its best length and offset's,
    averaged over the polarities.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> with torch.no_grad():  # relu1's channel 0 becomes a horizontal-line detector
    ...     net.conv1.weight[0] = torch.tensor([[-1.0] * 3, [2.0] * 3, [-1.0] * 3])
    >>> t = line_tuning(net, "relu1", size=32)
    >>> round(float(t.preferred[0])), float(t.angles[t.responses[0].argmax()])  # 0 degrees: flat
    (0, 0.0)
    >>> float(t.responses[0, 8])  # an upright line (90 degrees): nothing
    0.0
    """
    centre = receptive_field(model, layer, size=size).centre
    angles = torch.arange(n_angles) * (180.0 / n_angles)
    groups = [stimuli.lines(angles[:, None, None], torch.tensor(lengths)[None, :, None],
                            offset=torch.tensor(offsets)[None, None, :], fg=fg, bg=bg, size=size,
                            centre=centre).reshape(n_angles, len(lengths), len(offsets), 3, size, size)
              for fg, bg in POLARITIES]
    x = torch.stack(groups)  # (2, A, L, K, 3, S, S)
    r = centre_responses(model, x.reshape(-1, 3, size, size), layer, batch_size=batch_size)
    r = r.reshape(-1, 2, n_angles, len(lengths), len(offsets))
    return LineTuning(_layer_name(layer), angles, r)


@torch.no_grad()
def curve_tuning(
    model: nn.Module,
    layer: Layer,
    *,
    n_orientations: int = 16,
    radii: Sequence[float] | None = None,
    extent: float = 120.0,
    size: int = 64,
    batch_size: int = 512,
) -> CurveTuning:
    """Measure every channel of `layer` against curves at n_orientations orientations.

    Each orientation is shown at every radius, white on black and black on
    white, centred on the receptive field of the layer's centre neuron, which
    is read. radii: in pixels; by default a quarter, a third and nearly half of
    the receptive field (8, 11 and 14 px for a 32 px field), curves that fit
    the unit's view. Lines are measured too (`line_tuning`), to tell curves from
    lines. Computes on the model's device in batches; results on the CPU.
    The paper sampled 720 orientations; 16 is enough to find a family, 72
    (5 degrees) or more to see a tuning curve's shape.

    A line detector is no curve detector: a horizontal one answers curves bulging
    down (90 degrees) and up (270), both flat at their midpoint, alike (an echo of
    1), and curves no better than a line.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> with torch.no_grad():  # relu1's channel 0 becomes a horizontal-line detector
    ...     net.conv1.weight[0] = torch.tensor([[-1.0] * 3, [2.0] * 3, [-1.0] * 3])
    >>> t = curve_tuning(net, "relu1", radii=[8.0, 12.0], size=32)
    >>> float(t.preferred[0]) % 180, round(float(t.echo[0]), 2), round(float(t.line_ratio[0]), 1)
    (90.0, 1.0, 1.0)
    >>> 0 in t.curve_detectors()
    False
    """
    rf = receptive_field(model, layer, size=size)
    centre = rf.centre
    if radii is None:
        radii = [round(f * min(rf.size, size), 1) for f in RADII_OF_FIELD]
    orientations = torch.arange(n_orientations) * (360.0 / n_orientations)
    radii_t = torch.tensor([float(r) for r in radii])
    x = torch.stack([stimuli.curves(orientations[None, :], radii_t[:, None], extent=extent, fg=fg,
                                    bg=bg, size=size, centre=centre)
                     for fg, bg in POLARITIES])  # (2, R * O, 3, S, S)
    r = centre_responses(model, x.reshape(-1, 3, size, size), layer, batch_size=batch_size)
    by_stimulus = r.reshape(-1, 2, len(radii_t), n_orientations)
    lines = line_tuning(model, layer, size=size, batch_size=batch_size,
                        lengths=(1.5 * min(radii_t).item(), 1.5 * max(radii_t).item()))
    return CurveTuning(_layer_name(layer), orientations, radii_t, by_stimulus, lines, centre)


def _layer_name(layer: Layer) -> str:
    return layer if isinstance(layer, str) else type(layer).__name__


@torch.no_grad()
def centre_responses(model: nn.Module, images: Tensor, layer: Layer, *, batch_size: int = 512
                     ) -> Tensor:
    """Every channel's response at the layer's centre position (x = W // 2, y = H // 2)
    to each image: (C, N), on the CPU. images: (N, 3, H, W), run in batches on the
    model's device.

    >>> from interp_lib.organism.models import tiny_net
    >>> dots = torch.zeros(3, 3, 16, 16); dots[1, :, 8, 8] = 1.0; dots[2, :, 0, 0] = 1.0  # centre, corner
    >>> r = centre_responses(tiny_net(), dots, "relu1")  # (6 channels, 3 images)
    >>> bool((r[:, 1] != r[:, 0]).any()), torch.equal(r[:, 2], r[:, 0])  # centre: yes; corner: no
    (True, True)
    """
    def centre(a: Tensor) -> Tensor:
        if a.ndim != 4:
            raise ValueError(f"tuning curves need a convolutional layer (N, C, H, W); "
                             f"{layer!r} gives {tuple(a.shape)}")
        return a[:, :, a.shape[2] // 2, a.shape[3] // 2]

    return layer_activations(model, images, layer, batch_size=batch_size, reduce=centre).T
