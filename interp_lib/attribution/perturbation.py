"""Perturbation: attribution by changing the input and watching the score, no gradients.

Occlusion (Zeiler and Fergus 2014) covers a window of the input with a
baseline and records how far the target score drops. It stands apart from
the gradient methods because it measures what the model does with a part of
the input *removed*, a finite change, where a gradient measures an
infinitesimal one: a saturated unit has no gradient but still matters when
its input is taken away.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from interp_lib.attribution._common import (Target, _baselines, _check_inputs, _check_target,
                                            _expand_target, _prepared, select_target)


def _per_dim(value: int | Sequence[int], x: Tensor, name: str) -> tuple[int, ...]:
    dims = x.shape[1:]
    if isinstance(value, int):
        # An int means a square window over the last two dims of an image, all channels.
        return (dims[0], value, value) if x.ndim == 4 else (value,) * len(dims)
    out = tuple(int(v) for v in value)
    if len(out) != len(dims):
        raise ValueError(f"{name} {out} must give one size per input dimension {tuple(dims)}")
    return out


@torch.no_grad()
def occlusion(model: nn.Module, inputs: Tensor, target: Target = None, *,
              window: int | Sequence[int] = 8, stride: int | Sequence[int] = 4,
              baseline: Tensor | float = 0.0, windows_per_batch: int = 16) -> Tensor:
    """Occlusion (Zeiler and Fergus 2014): slide a window over the input, set it to
    `baseline`, and record how much the target score drops.

    Each feature's attribution is the mean, over the windows covering it, of
    F(input) - F(input with the window occluded). An int window or stride on
    images (N, C, H, W) covers all channels and a square of pixels. baseline: a
    number, or a tensor that broadcasts against the inputs (a blurred copy, a
    per-image mean colour (N, C, 1, 1)). windows_per_batch: how many occluded
    copies of each input go through the model in one forward pass. The stride
    may not exceed the window (pixels between windows would get no attribution).

    >>> lin = nn.Linear(3, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.fill_(2.0)
    >>> occlusion(lin, torch.tensor([[1.0, 2.0, 3.0]]), 0, window=1, stride=1)
    tensor([[2., 4., 6.]])
    """
    _check_inputs(inputs)
    _check_target(target)
    if windows_per_batch < 1:
        raise ValueError(f"windows_per_batch must be at least 1, got {windows_per_batch}")
    with _prepared(model) as device:
        x = inputs.detach().to(device)
        win = _per_dim(window, x, "window")
        st = _per_dim(stride, x, "stride")
        dims = x.shape[1:]
        if any(w < 1 or w > d for w, d in zip(win, dims)):
            raise ValueError(f"window {win} must fit inside one input {tuple(dims)}")
        if any(s < 1 for s in st):
            raise ValueError(f"stride {st} must be at least 1 in every dimension")
        if any(s > w for s, w in zip(st, win)):
            raise ValueError(f"stride {st} is larger than the window {win}: the features "
                             "between windows would never be occluded. Use stride <= window.")
        base = _baselines(x, baseline)
        base_score = select_target(model(x), target)
        total = torch.zeros_like(x)
        count = torch.zeros(dims, dtype=x.dtype, device=x.device)
        # As in Captum: ceil((d - w) / s) + 1 windows per dimension; the last may be clipped.
        starts = [range(0, (math.ceil((d - w) / s) + 1) * s, s) for d, w, s in zip(dims, win, st)]
        regions = [tuple(slice(c, c + w) for c, w in zip(corner, win))
                   for corner in itertools.product(*starts)]
        n = x.shape[0]
        for i in range(0, len(regions), windows_per_batch):
            group = regions[i:i + windows_per_batch]
            occluded = x.repeat(len(group), *([1] * len(dims)))  # window-major: (G * N, ...)
            for j, region in enumerate(group):
                where = (slice(j * n, (j + 1) * n),) + region
                occluded[where] = base[(slice(None),) + region]
            drops = base_score.repeat(len(group)) - select_target(model(occluded),
                                                                  _expand_target(target, len(group)))
            for j, region in enumerate(group):
                total[(slice(None),) + region] += drops[j * n:(j + 1) * n].view(-1, *([1] * len(dims)))
                count[region] += 1
        return (total / count.clamp_min(1)).to(inputs.device)
