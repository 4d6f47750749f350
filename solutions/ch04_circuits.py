"""Chapter 4: circuits. Reading, testing and rebuilding the weights between features.

Shapes: C_out, C_in channels; k x k kernels; O orientations.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "A Conv2d's weight is shaped (out_channels, in_channels, k, k): the first index is the "
    "unit that receives, the second the unit that sends.",
    "Index model.get_submodule(layer).weight[to_channel, from_channel], then .detach().clone() "
    "so that changing the result cannot change the model.",
])
def kernel_between(model: nn.Module, layer: str, to_channel: int, from_channel: int) -> Tensor:
    """The k x k weights from channel `from_channel` of the layer before `layer` to channel
    `to_channel` of `layer` (a convolution, such as "conv3"). Returns a (k, k) copy."""
    # SOLUTION
    weight = model.get_submodule(layer).weight
    return weight[to_channel, from_channel].detach().clone()
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=5, hints=[
    "Excitation is the positive part: w.clamp(min=0).",
    "Inhibition is the size of the negative part, also >= 0: (-w).clamp(min=0). Then "
    "excitation - inhibition == w.",
])
def split_sign(w: Tensor) -> tuple[Tensor, Tensor]:
    """(excitation, inhibition) of weights w: both >= 0, shaped like w, and
    excitation - inhibition == w."""
    # SOLUTION
    return w.clamp(min=0), (-w).clamp(min=0)
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "An average-pool output is the mean of a 2 x 2 block: a weight w on it is a weight w / 4 "
    "on each of the four inputs of the block.",
    "Each kernel entry becomes a 2 x 2 block of w / 4: w.repeat_interleave(2, dim=-1)"
    ".repeat_interleave(2, dim=-2) / 4 (or a transposed convolution with stride 2).",
])
def spread_through_pool(w: Tensor) -> Tensor:
    """Expanded weights through a 2 x 2 pooling, treated as an average (the Circuits
    thread's rule for max-pools): w (C_out, C_in, k, k) on the pooled grid ->
    (C_out, C_in, 2k, 2k) on the grid before the pool."""
    # SOLUTION
    return w.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2) / 4
    # END SOLUTION


@exercise(difficulty=3, importance=3, minutes=25, hints=[
    "With ReLU as the identity, the unit sums w_outer[o, m, p] times channel m at offset p, "
    "and channel m at p is itself a sum of w_inner[m, i, q] times input i at p + q.",
    "So the composed weight at offset r is the sum over m and over p + q = r: a full "
    "convolution of the kernels, which F.conv_transpose2d(w_outer, w_inner) computes "
    "(its input: w_outer as a batch of C_out 'images' with C_mid channels).",
    "F.conv2d would cross-correlate: it flips one kernel relative to the other.",
])
def compose_through_conv(w_outer: Tensor, w_inner: Tensor) -> Tensor:
    """Expanded weights through one more convolution, ReLU treated as the identity.

    w_outer: (C_out, C_mid, k1, k1), the later layer's kernel on the middle layer;
    w_inner: (C_mid, C_in, k2, k2), the middle layer's kernel on the earlier one.
    Returns (C_out, C_in, k1 + k2 - 1, k1 + k2 - 1): the later units' weights on the
    earlier layer."""
    # SOLUTION
    return F.conv_transpose2d(w_outer, w_inner)
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "Work on a copy: copy.deepcopy(model). The caller's model must not change.",
    "Walk the copy's named_modules(); replace each nn.ReLU with nn.Identity() and each "
    "nn.MaxPool2d with nn.AvgPool2d of the same kernel_size and stride, using setattr on "
    "the parent module.",
])
def linearise(model: nn.Module) -> nn.Module:
    """A copy of the model in which every nn.ReLU is the identity and every nn.MaxPool2d
    an average-pool of the same size: the linear network expanded weights describe.
    The model you are given is left unchanged."""
    # SOLUTION
    lin = copy.deepcopy(model)
    for name, module in list(lin.named_modules()):
        if isinstance(module, nn.ReLU):
            new = nn.Identity()
        elif isinstance(module, nn.MaxPool2d):
            new = nn.AvgPool2d(module.kernel_size, module.stride)
        else:
            continue
        parent, _, child = name.rpartition(".")
        setattr(lin.get_submodule(parent) if parent else lin, child, new)
    return lin
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=20, hints=[
    "A forward hook that returns a value replaces the module's output: "
    "handle = model.get_submodule(layer).register_forward_hook(hook).",
    "In the hook, build a new tensor: out = output.clone(); out[:, channels] = 0; return out. "
    "Zeroing the output in place would break back-propagation (a ReLU's backward needs "
    "its own output).",
    "yield inside try: ... finally: handle.remove(), so the hook goes away even when the "
    "block raises.",
])
@contextmanager
def ablate_channels(model: nn.Module, layer: str, channels: Sequence[int]) -> Iterator[None]:
    """Within the `with` block, the given channels of `layer` output 0. The hook is
    removed when the block ends, also when it raises."""
    # SOLUTION
    idx = list(channels)

    def hook(_module, _inputs, output):
        out = output.clone()
        out[:, idx] = 0
        return out

    handle = model.get_submodule(layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
    # END SOLUTION


@exercise(difficulty=1, importance=2, minutes=10, hints=[
    "The orientations are evenly spaced over 360 degrees: 180 degrees away is O // 2 steps "
    "away, around the circle (modulo O).",
    "best = responses.argmax(dim=1); opposite = responses.gather(1, ((best + O // 2) % O)"
    "[:, None])[:, 0]; divide by the peak, and give 0 for a channel whose peak is 0.",
])
def echo_ratio(responses: Tensor) -> Tensor:
    """Each channel's response to the curve facing the opposite way, over its peak.

    responses: (C, O), responses to O orientations evenly spaced over 360 degrees
    (O even). Returns (C,): the response 180 degrees from the preferred orientation
    divided by the preferred one's; 0 for a channel whose responses are all 0."""
    # SOLUTION
    n = responses.shape[1]
    best = responses.argmax(dim=1)
    opposite = responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0]
    peak = responses.amax(dim=1)
    return torch.where(peak > 0, opposite / peak.clamp_min(1e-12), torch.zeros_like(peak))
    # END SOLUTION


@exercise(difficulty=3, importance=3, minutes=30, hints=[
    "Kernel entry [y, x] sits at offset p = ((x - k // 2) * stride, (y - k // 2) * stride) "
    "pixels from the unit's centre: x is the column.",
    "The curve bulges towards `orientation`; its centre of curvature is radius pixels behind "
    "the midpoint: c = -radius * (cos, sin)(orientation). At p the tangent is perpendicular "
    "to p - c: tangent = atan2(p_y - c_y, p_x - c_x) + 90 degrees.",
    "An input of angle theta is parallel to the tangent tau when cos(2 (theta - tau)) is 1 "
    "(excite), perpendicular when it is -1 (inhibit); the 2 makes 0 and 180 degrees the "
    "same line.",
    "Only positions near the curve count: multiply by exp(-d^2 / (2 stride^2)), d = "
    "| |p - c| - radius |, the distance from p to the circle the curve lies on.",
])
def tangent_weights(input_orientations: Tensor, orientation: float, radius: float, k: int,
                    stride: int) -> Tensor:
    """Hand-set weights for a curve detector: excite each oriented input where it lies
    along the curve's tangent, inhibit it where it lies across, near the curve only.

    input_orientations: (C_in,) the preferred line angle of each input channel, degrees.
    The curve bulges towards `orientation` (degrees, clockwise from "right", y down),
    its midpoint at the unit's centre, its centre of curvature c `radius` pixels behind.
    k: kernel size; stride: pixels between neighbouring input positions.
    Returns (C_in, k, k): cos(2 (input angle - tangent angle at p)) * exp(-d^2 / (2 stride^2)),
    d the distance from position p to the circle of the curve."""
    # SOLUTION
    offsets = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(offsets, offsets, indexing="ij")
    phi = math.radians(orientation)
    cx, cy = -radius * math.cos(phi), -radius * math.sin(phi)
    tangent = torch.atan2(ys - cy, xs - cx) + math.pi / 2  # (k, k), radians
    near = torch.exp(-((torch.hypot(xs - cx, ys - cy) - radius) ** 2) / (2 * stride**2))
    theta = torch.deg2rad(input_orientations.float())[:, None, None]
    return torch.cos(2 * (theta - tangent)) * near
    # END SOLUTION
