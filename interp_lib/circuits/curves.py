"""Curve circuits: reading, testing and rebuilding the weights of a curve-detector family.

The Circuits thread reads a curve detector's weights with one rule: its
excitation comes from oriented units of the layer before placed *along the
curve's tangent*, its inhibition from those lying across it
(`tangent_angles`, `tangent_rule`). Three uses of the rule, each given the
same things: the detectors' `CurveTuning` (`tuning`), the `LineTuning` of
the layer they read (`lines`), which of its units are `oriented`, and the
`stride` in pixels between that layer's positions:

    tangent_alignment(model, "relu3", family, tuning, lines, oriented=oriented, stride=4)
    hand_built_family(model, "relu3", family, tuning, lines, oriented=oriented, stride=4)

`tangent_alignment` tests the rule on the real weights against shuffled
input angles; `hand_built_family` writes detectors from it. Families talk
to each other too (`orientation_weight_correlation`), and a later unit can
be read by position from the family that feeds it (`composite_reading`;
`plotting.composite_reading` draws the reading). Angles are in degrees,
clockwise from "right" (y points down), as in `stimuli.curves`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.circuits.kernels import conv_of, input_layer
from interp_lib.hooks import Layer, activations, layer_activations, resolve


def kernel_offsets(k: int, stride: int) -> Tensor:
    """Where each entry of a k x k kernel sits, in pixels from the unit's centre:
    (k, k, 2) as (x, y), entry [y, x] at ((x - k // 2) * stride, (y - k // 2) * stride).
    stride: pixels between neighbouring positions of the layer the kernel reads.

    >>> kernel_offsets(3, stride=4)[0, 2]  # the top-right entry: 4 px right, 4 px up
    tensor([ 4., -4.])
    """
    grid = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    return torch.stack([xs, ys], dim=-1)


def tangent_angles(orientation: float, radius: float, offsets: Tensor) -> Tensor:
    """The direction (degrees, modulo 180) of a curve's tangent at each offset.

    The curve bulges towards `orientation` (degrees, clockwise from "right",
    as in `stimuli.curves`), its midpoint at the origin and its centre of
    curvature `radius` pixels behind it. offsets: (..., 2) as (x, y) pixels.
    At a point p the tangent is perpendicular to p - centre.

    >>> tangent_angles(0.0, 10.0, torch.tensor([[0.0, 0.0]]))  # a curve facing right: vertical
    tensor([90.])
    """
    phi = torch.deg2rad(torch.tensor(float(orientation)))
    cx, cy = -radius * torch.cos(phi), -radius * torch.sin(phi)
    radial = torch.atan2(offsets[..., 1] - cy, offsets[..., 0] - cx)
    return (torch.rad2deg(radial) + 90.0) % 180.0


def tangent_rule(input_orientations: Tensor, orientation: float, radius: float, offsets: Tensor,
                 *, width: float | None = None) -> Tensor:
    """The Circuits thread's rule for a curve detector's weights from oriented inputs:
    cos(2 (input angle - tangent angle)) at each offset, +1 for an input along the
    curve's tangent there, -1 across it; times exp(-d^2 / (2 width^2)), d the offset's
    distance to the curve's circle, when a width (pixels) is given (only positions near
    the curve count).

    input_orientations: (C_in,) degrees; offsets: (..., 2) as (x, y) pixels. Returns
    (C_in, ...).

    >>> w = tangent_rule(torch.tensor([90.0, 0.0]), 0.0, 10.0, torch.zeros(1, 2))
    >>> w[:, 0]  # at the midpoint of a curve facing right, the tangent is vertical
    tensor([ 1., -1.])
    """
    tau = torch.deg2rad(tangent_angles(orientation, radius, offsets))
    theta = torch.deg2rad(torch.as_tensor(input_orientations).float())
    rule = torch.cos(2 * (theta.view(-1, *([1] * tau.ndim)) - tau))
    if width is not None:
        phi = torch.deg2rad(torch.tensor(float(orientation)))
        cx, cy = -radius * torch.cos(phi), -radius * torch.sin(phi)
        d = torch.hypot(offsets[..., 0] - cx, offsets[..., 1] - cy) - radius
        rule = rule * torch.exp(-(d**2) / (2 * width**2))
    return rule


def _check_family(model: nn.Module, layer: Layer, detectors: Sequence[int], tuning, lines,
                  oriented: Tensor) -> tuple[str, nn.Conv2d, str]:
    """(convolution name, convolution, the layer it reads), once the tunings are checked
    to describe `layer` and the layer before it."""
    name, conv = conv_of(model, layer)
    source = input_layer(model, layer)
    out_c, in_c = conv.weight.shape[:2]
    if _measured_on(model, lines.layer, resolve) not in (None, source):
        raise ValueError(f"lines must be the LineTuning of {source!r}, the layer {name!r} "
                         f"reads; this one was measured on {lines.layer!r}")
    if _measured_on(model, tuning.layer, lambda m, n: conv_of(m, n)[0]) not in (None, name):
        raise ValueError(f"tuning must be the CurveTuning of {layer!r}; this one was measured "
                         f"on {tuning.layer!r}")
    if len(tuning.preferred) != out_c:
        raise ValueError(f"tuning describes {len(tuning.preferred)} channels, but {name!r} has "
                         f"{out_c}: give the CurveTuning of {layer!r}")
    if len(lines.preferred) != in_c:
        raise ValueError(f"lines describes {len(lines.preferred)} channels, but {name!r} reads "
                         f"{in_c}: give the LineTuning of {source!r}")
    if (not isinstance(oriented, Tensor) or oriented.dtype != torch.bool
            or tuple(oriented.shape) != (in_c,)):
        got = (f"{oriented.dtype} {tuple(oriented.shape)}" if isinstance(oriented, Tensor)
               else type(oriented).__name__)
        raise ValueError(f"oriented must be a bool tensor ({in_c},), one entry per channel of "
                         f"{source!r}; got {got}")
    if not oriented.any():
        raise ValueError(f"oriented selects none of {source!r}'s channels: the rule needs "
                         "oriented inputs")
    bad = [c for c in detectors if not 0 <= c < out_c]
    if bad:
        raise ValueError(f"detectors {bad} are out of range: {name!r} has {out_c} channels")
    return name, conv, source


def _measured_on(model: nn.Module, layer, name_of) -> str | None:
    """name_of(model, layer) for the layer a tuning names, or None where it names none."""
    try:
        return name_of(model, layer)
    except (ValueError, TypeError):
        return None


@dataclass
class TangentAlignment:
    """How much of each curve detector's excitation comes from oriented inputs lying
    along its curve's tangent.

    score: (D,) per detector, the positive-weight-weighted mean of
    cos(2 (input orientation - tangent)): 1 if every excitatory input is
    parallel to the tangent where it sits, -1 if perpendicular, about 0 by
    chance. null: (S, D) the same with input orientations shuffled.
    p_value: the share of shuffles whose mean score over detectors reaches the
    real one.
    """

    score: Tensor
    null: Tensor
    p_value: float

    @property
    def aligned(self) -> Tensor:
        """(D,) bool: the detector's score beats the median of its shuffles."""
        return self.score > self.null.median(dim=0).values


def tangent_alignment(model: nn.Module, layer: Layer, detectors: Sequence[int], tuning, lines, *,
                      oriented: Tensor, stride: int, n_shuffles: int = 1000, seed: int = 0
                      ) -> TangentAlignment:
    """Do curve detectors' excitatory inputs lie along the curve's tangent?

    detectors: channels of `layer`; tuning: the CurveTuning of `layer` (each
    detector's preferred orientation and radius); lines: the LineTuning of the
    layer `layer` reads (each input's preferred line angle); oriented: (C_in,)
    bool, the inputs that are oriented at all (others are left out); stride:
    pixels between neighbouring positions of the input layer.

    >>> from interp_lib.organism.models import Architecture, ConvNet, init_weights
    >>> from interp_lib.tuning import curve_tuning, line_tuning
    >>> net = ConvNet(Architecture((8, 4), 5, (1,))); init_weights(net, 0)
    >>> tuning, lines = curve_tuning(net, "relu2", size=32), line_tuning(net, "pool1", size=32)
    >>> offsets = kernel_offsets(5, stride=2)  # pool1's positions are 2 pixels apart
    >>> with torch.no_grad():  # unit 0 excited along its curve's tangent, unit 1 across it
    ...     for c, turn in ((0, 0.0), (1, 90.0)):
    ...         net.conv2.weight[c] = tangent_rule(lines.preferred + turn, float(tuning.preferred[c]),
    ...                                            float(tuning.preferred_radius[c]), offsets).clamp(min=0)
    >>> ta = tangent_alignment(net, "relu2", [0, 1, 2], tuning, lines,
    ...                        oriented=torch.ones(8, dtype=torch.bool), stride=2, n_shuffles=100)
    >>> bool(ta.score[0] > 0.5), bool(ta.score[1] < -0.5)  # unit 2 keeps its random weights
    (True, True)
    """
    _, conv, _ = _check_family(model, layer, detectors, tuning, lines, oriented)
    offsets = kernel_offsets(conv.weight.shape[-1], stride)
    theta = lines.preferred.float()[oriented]
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(len(theta), generator=g) for _ in range(n_shuffles)])
    scores, nulls = [], []
    for c in detectors:
        w = conv.weight.detach()[c][oriented.to(conv.weight.device)].clamp_min(0).cpu()  # (I, k, k)
        tau = tangent_angles(float(tuning.preferred[c]), float(tuning.preferred_radius[c]),
                             offsets)  # (k, k)
        scores.append(_weighted_alignment(theta, tau, w))
        nulls.append(_weighted_alignment(theta[perms], tau, w))
    score, null = torch.stack(scores), torch.stack(nulls, dim=1)  # (D,), (S, D)
    p = float(((null.mean(dim=1) >= score.mean()).sum() + 1) / (n_shuffles + 1))
    return TangentAlignment(score, null, p)


def _weighted_alignment(theta: Tensor, tau: Tensor, w: Tensor) -> Tensor:
    """Mean of cos(2 (theta - tau)) weighted by w: theta (..., I) input orientations,
    tau (k, k) tangent directions, w (I, k, k) non-negative weights -> (...)."""
    cos = torch.cos(2 * torch.deg2rad(theta[..., :, None, None] - tau))
    return (cos * w).sum(dim=(-3, -2, -1)) / w.sum().clamp_min(1e-12)


def orientation_weight_correlation(weights_summed: Tensor, to_orientations: Tensor,
                                   from_orientations: Tensor) -> tuple[float, float]:
    """Spearman correlation (and its p-value) between the summed weight from each earlier
    detector to each later one, (T, F) (`family_weights`), and the cosine of their
    orientation difference (degrees). Positive: same-orientation detectors excite each
    other and opposite ones inhibit, as in InceptionV1's curve circuits.

    >>> w = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])  # each excites its own kind, inhibits the other
    >>> rho, p = orientation_weight_correlation(w, torch.tensor([0.0, 180.0]), torch.tensor([0.0, 180.0]))
    >>> round(rho, 3)
    1.0
    """
    from scipy import stats

    cos = torch.cos(torch.deg2rad(to_orientations[:, None] - from_orientations[None, :]))
    rho, p = stats.spearmanr(weights_summed.flatten().numpy(), cos.flatten().numpy())
    return float(rho), float(p)


# --- rebuilding and reading circuits ----------------------------------------------------------

@dataclass
class HandBuilt:
    """Hand-written weights (C_in, k, k) and bias for each detector, by channel: the
    tangent rule times the fitted `scales`; `fit`, the correlation of each hand-made
    unit's pre-activation with the real one's."""

    weights: dict[int, Tensor]
    biases: dict[int, float]
    scales: dict[int, float]
    fit: dict[int, float]


def hand_built_family(model: nn.Module, layer: Layer, detectors: Sequence[int], tuning, lines, *,
                      oriented: Tensor, stride: int, images: Tensor | None = None) -> HandBuilt:
    """Curve detectors written by hand from the tangent rule (`tangent_rule`, as in
    chapter 4's `tangent_weights`): each detector's weights from the oriented units of the
    layer before excite inputs along its curve's tangent and inhibit those across it,
    near the curve only (within about one input position, `stride` pixels), for the
    detector's preferred orientation and radius (from `tuning`, the CurveTuning of
    `layer`); the input angles from `lines` (the LineTuning of the layer before), only
    the `oriented` inputs used, the others given weight 0.

    One scale and one bias per detector are fitted (least squares) so that the
    hand-made unit's pre-activation matches the real one's on `images` (N, 3, H, W)
    (default: 256 of the organism's drawings), at every position.

    >>> from interp_lib.organism.models import Architecture, ConvNet, init_weights
    >>> from interp_lib.tuning import curve_tuning, line_tuning
    >>> net = ConvNet(Architecture((8, 4), 5, (1,))); init_weights(net, 0)
    >>> tuning, lines = curve_tuning(net, "relu2", size=32), line_tuning(net, "pool1", size=32)
    >>> oriented = lines.selectivity >= 0.1  # the pool1 units with some preferred angle
    >>> rule = tangent_rule(lines.preferred, float(tuning.preferred[0]), float(tuning.preferred_radius[0]),
    ...                     kernel_offsets(5, stride=2), width=2.0) * oriented[:, None, None]
    >>> with torch.no_grad():  # unit 0 becomes a tangent-rule detector, scale 0.5 and bias -0.1
    ...     net.conv2.weight[0], net.conv2.bias[0] = 0.5 * rule, -0.1
    >>> hand = hand_built_family(net, "relu2", [0, 1], tuning, lines, oriented=oriented, stride=2,
    ...                          images=torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    >>> round(hand.fit[0], 3), round(hand.scales[0], 3), round(hand.biases[0], 3)
    (1.0, 0.5, -0.1)
    >>> hand.fit[1] < 0.9  # unit 1 keeps its random weights: the rule does not describe it
    True
    """
    from interp_lib.organism import data

    name, conv, source = _check_family(model, layer, detectors, tuning, lines, oriented)
    if images is None:
        images = data.make_batch(256, seed=data.FIT_SEED).images
    acts = activations(model, images, [source, name])
    src, real = acts[source], acts[name]
    k = conv.weight.shape[-1]
    offsets = kernel_offsets(k, stride)
    weights, biases, scales, fit = {}, {}, {}, {}
    for c in detectors:
        rule = tangent_rule(lines.preferred, float(tuning.preferred[c]),
                            float(tuning.preferred_radius[c]), offsets, width=float(stride))
        rule = rule * oriented.float()[:, None, None]
        built = F.conv2d(src, rule[None], padding=k // 2)[:, 0].flatten()
        target = real[:, c].flatten()
        design = torch.stack([built, torch.ones_like(built)], dim=1).double()
        solution = torch.linalg.lstsq(design, target.double()[:, None]).solution[:, 0]
        scales[c], biases[c] = float(solution[0]), float(solution[1])
        weights[c] = (scales[c] * rule).float()
        fit[c] = float(torch.corrcoef(torch.stack([built, target]))[0, 1])
    return HandBuilt(weights, biases, scales, fit)


@dataclass
class CompositeReading:
    """A later unit read by position: `channel` of the convolution `layer` (the one
    whose kernel is read: `conv4` for `relu4`) and, at each kernel position, `best`
    (k, k), the family member that excites it most there (its index into the family, or
    -1 where none excites it), and `weight` (k, k), the largest weight there."""

    layer: str
    channel: int
    best: Tensor
    weight: Tensor


def composite_reading(model: nn.Module, layer: Layer, family: Sequence[int], *, images: Tensor,
                      labels: Tensor, class_index: int) -> CompositeReading:
    """Find the unit of `layer` most selective for one class (its mean activation on
    `images` (N, 3, H, W) of that class, labels (N,), minus its mean on the others), and
    read which member of `family` (channels of the layer before) excites it most at each
    position of its kernel. `plotting.composite_reading` draws the reading.

    >>> from interp_lib.organism.models import Architecture, ConvNet
    >>> net = ConvNet(Architecture((4, 3), 3, ()))
    >>> with torch.no_grad():
    ...     for p in net.parameters():
    ...         p[...] = 0.0
    ...     net.conv1.weight[0] = 1.0  # channel 0 of relu1: brightness
    ...     net.conv2.weight[2, 0] = 1.0  # unit 2 of relu2 answers bright images
    ...     for member, row in ((1, 0), (2, 1), (3, 2)):  # channel 1 feeds it at the top ...
    ...         net.conv2.weight[2, member, row] = 0.5
    >>> images = torch.cat([torch.ones(4, 3, 8, 8), torch.zeros(4, 3, 8, 8)])
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])  # class 0: the bright ones
    >>> reading = composite_reading(net, "relu2", [1, 2, 3], images=images, labels=labels,
    ...                             class_index=0)
    >>> reading.channel, reading.best  # family member 0 (channel 1) at the top, ...
    (2, tensor([[0, 0, 0],
            [1, 1, 1],
            [2, 2, 2]]))
    """
    name, conv = conv_of(model, layer)
    if tuple(labels.shape) != (len(images),):
        raise ValueError(f"labels must give one class per image, ({len(images)},); "
                         f"got {tuple(labels.shape)}")
    on = labels.cpu() == class_index
    if not on.any() or on.all():
        raise ValueError(f"selectivity for class {class_index} needs images of that class and of "
                         f"others; {int(on.sum())} of {len(on)} images are of class {class_index}")
    a = layer_activations(model, images, layer, reduce=lambda m: m.mean(dim=(2, 3)))  # (N, C)
    unit = int((a[on].mean(0) - a[~on].mean(0)).argmax())
    w = conv.weight.detach().cpu()[unit][list(family)]  # (F, k, k)
    value, best = w.max(dim=0)
    best = torch.where(value > 0, best, torch.full_like(best, -1))
    return CompositeReading(name, unit, best, value)
