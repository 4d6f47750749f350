# Your exercises. Generated from solutions/ch04_circuits.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
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


@exercise(difficulty=1, importance=3, minutes=10)
def kernel_between(model: nn.Module, layer: str, to_channel: int, from_channel: int) -> Tensor:
    """The k x k weights from channel `from_channel` of the layer before `layer` to channel
    `to_channel` of `layer` (a convolution, such as "conv3"). Returns a (k, k) copy."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=5)
def split_sign(w: Tensor) -> tuple[Tensor, Tensor]:
    """(excitation, inhibition) of weights w: both >= 0, shaped like w, and
    excitation - inhibition == w."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def spread_through_pool(w: Tensor) -> Tensor:
    """Expanded weights through a 2 x 2 pooling, treated as an average (the Circuits
    thread's rule for max-pools): w (C_out, C_in, k, k) on the pooled grid ->
    (C_out, C_in, 2k, 2k) on the grid before the pool."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=3, importance=3, minutes=25)
def compose_through_conv(w_outer: Tensor, w_inner: Tensor) -> Tensor:
    """Expanded weights through one more convolution, ReLU treated as the identity.

    w_outer: (C_out, C_mid, k1, k1), the later layer's kernel on the middle layer;
    w_inner: (C_mid, C_in, k2, k2), the middle layer's kernel on the earlier one.
    Returns (C_out, C_in, k1 + k2 - 1, k1 + k2 - 1): the later units' weights on the
    earlier layer."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def linearise(model: nn.Module) -> nn.Module:
    """A copy of the model in which every nn.ReLU is the identity and every nn.MaxPool2d
    an average-pool of the same size: the linear network expanded weights describe.
    The model you are given is left unchanged."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=20)
@contextmanager
def ablate_channels(model: nn.Module, layer: str, channels: Sequence[int]) -> Iterator[None]:
    """Within the `with` block, the given channels of `layer` output 0. The hook is
    removed when the block ends, also when it raises."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=10)
def echo_ratio(responses: Tensor) -> Tensor:
    """Each channel's response to the curve facing the opposite way, over its peak.

    responses: (C, O), responses to O orientations evenly spaced over 360 degrees
    (O even). Returns (C,): the response 180 degrees from the preferred orientation
    divided by the preferred one's; 0 for a channel whose responses are all 0."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=3, importance=3, minutes=30)
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
    raise NotImplementedError("Exercise: replace this line with your code.")
