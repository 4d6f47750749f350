"""Circuits: reading the weights between features (Zoom In, claim 2).

In the organism, `convK` reads the channels of the layer before it (`reluK-1`,
or `poolK-1` after a max-pool) through a kernel of weights: a k x k slice of
that kernel *is* the connection between one earlier unit and one later unit.
A positive weight at a position means "if the earlier unit fires there, excite
me"; a negative one, "inhibit me".

    w = weights(model, "conv3", to_channel=5, from_channel=7)     # (5, 5)
    pos, neg = split_sign(w)                                       # shown apart

Layers are named as everywhere in the course; the weights into `reluK` are
those of `convK`, so either name works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.hooks import Layer, get_layer, layer_names, resolve


def conv_of(model: nn.Module, layer: Layer) -> tuple[str, nn.Conv2d]:
    """The convolution whose weights feed `layer`: the layer itself if it is a
    convolution, else (for an organism's `reluK`) `convK`.

    >>> from interp_lib.organism.models import tiny_net
    >>> conv_of(tiny_net(), "relu2")[0]
    'conv2'
    """
    name = resolve(model, layer)
    module = get_layer(model, name)
    if isinstance(module, nn.Conv2d):
        return name, module
    if name.startswith("relu") and f"conv{name[4:]}" in layer_names(model):
        return f"conv{name[4:]}", get_layer(model, f"conv{name[4:]}")
    convs = [n for n in layer_names(model) if isinstance(get_layer(model, n), nn.Conv2d)]
    raise ValueError(f"{name!r} is not a convolution, so it has no kernel to read; "
                     f"convolutions: {', '.join(convs)}")


def input_layer(model: nn.Module, layer: Layer) -> str:
    """The layer a convolution reads: the module just before it (for the organisms,
    whose layers run in order: `relu2` or `pool2` before `conv3`).

    >>> from interp_lib.organism.models import tiny_net
    >>> input_layer(tiny_net(), "conv2")
    'pool1'
    """
    name, _ = conv_of(model, layer)
    names = [n for n in layer_names(model) if "." not in n]
    i = names.index(name)
    if i == 0:
        raise ValueError(f"{name!r} reads the input image, not another layer")
    return names[i - 1]


def weights(model: nn.Module, layer: Layer, to_channel: int, from_channel: int | None = None
            ) -> Tensor:
    """The kernel connecting units of the previous layer to channel `to_channel` of `layer`.

    Returns (C_in, k, k), or (k, k) for one `from_channel`: entry [y, x] is the
    weight from the earlier unit at that offset in the kernel's window. A copy:
    changing it does not change the model.

    >>> from interp_lib.organism.models import tiny_net
    >>> weights(tiny_net(), "conv2", 3).shape, weights(tiny_net(), "relu2", 3, 5).shape
    (torch.Size([6, 3, 3]), torch.Size([3, 3]))
    """
    name, conv = conv_of(model, layer)
    out_c, in_c = conv.weight.shape[:2]
    if not 0 <= to_channel < out_c:
        raise ValueError(f"to_channel {to_channel} is out of range: {name!r} has {out_c} "
                         f"channels (0 to {out_c - 1})")
    w = conv.weight.detach()[to_channel]
    if from_channel is None:
        return w.clone()
    if not 0 <= from_channel < in_c:
        raise ValueError(f"from_channel {from_channel} is out of range: {name!r} reads "
                         f"{in_c} channels (0 to {in_c - 1})")
    return w[from_channel].clone()


def split_sign(w: Tensor) -> tuple[Tensor, Tensor]:
    """(positive part, negative part) of weights, both >= 0: w = pos - neg.

    Excitation and inhibition cancel in a plain sum or average, so the
    Circuits thread shows them apart.

    >>> split_sign(torch.tensor([1.0, -2.0, 0.5]))
    (tensor([1.0000, 0.0000, 0.5000]), tensor([0., 2., 0.]))
    """
    return w.clamp_min(0), (-w).clamp_min(0)


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


def tangent_alignment(model: nn.Module, layer: Layer, detectors: Sequence[int],
                      orientations: Sequence[float], radii: Sequence[float],
                      input_orientations: Tensor, input_mask: Tensor, *, stride: int,
                      n_shuffles: int = 1000, seed: int = 0) -> TangentAlignment:
    """Do curve detectors' excitatory inputs lie along the curve's tangent?

    detectors: channels of `layer`, with their preferred orientations and radii
    (degrees, pixels). input_orientations: (C_in,) each input channel's
    preferred line angle (degrees, modulo 180); input_mask: (C_in,) bool, the
    inputs that are oriented at all (others are left out). stride: pixels
    between neighbouring positions of the input layer (kernel offsets are
    converted to image offsets with it).
    """
    _, conv = conv_of(model, layer)
    k = conv.weight.shape[-1]
    grid = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    offsets = torch.stack([xs, ys], dim=-1)  # (k, k, 2) as (x, y)
    theta = torch.as_tensor(input_orientations, dtype=torch.float32)[input_mask]
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(len(theta), generator=g) for _ in range(n_shuffles)])
    scores, nulls = [], []
    for c, phi, r in zip(detectors, orientations, radii):
        w = conv.weight.detach()[c][input_mask].clamp_min(0).cpu()  # (I, k, k)
        tau = tangent_angles(float(phi), float(r), offsets)  # (k, k)
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


def family_weights(model: nn.Module, layer: Layer, to_channels: Sequence[int],
                   from_channels: Sequence[int]) -> Tensor:
    """(T, F): each weight kernel from a `from_channels` unit to a `to_channels` unit,
    summed over its positions: the net excitation (+) or inhibition (-) one
    detector sends another.

    >>> from interp_lib.organism.models import tiny_net
    >>> family_weights(tiny_net(), "conv2", [0, 1], [2, 3, 4]).shape
    torch.Size([2, 3])
    """
    _, conv = conv_of(model, layer)
    w = conv.weight.detach().cpu()
    return w[list(to_channels)][:, list(from_channels)].sum(dim=(-2, -1))
