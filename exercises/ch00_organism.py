# Your exercises. Generated from solutions/ch00_organism.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
"""Chapter 0: the model organism. Reading activations and measuring a unit.

Shapes: N images, C channels, H x W positions, O orientations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise
from interp_lib.hooks import capture


@exercise(difficulty=1, importance=3, minutes=5, hints=[
    "The channel axis is dimension 1. Average over every other axis.",
    "Tensor.mean accepts a tuple of dimensions: acts.mean(dim=(0, 2, 3)).",
])
def channel_means(acts: Tensor) -> Tensor:
    """The mean activation of each channel over a batch and every position.

    acts: (N, C, H, W). Returns (C,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Run the model inside `with capture(model, layer) as acts:` and read acts[layer], "
    "shaped (N, C, H, W).",
    "Score each image by the channel's mean over positions: "
    "acts[layer][:, channel].mean(dim=(1, 2)), shaped (N,).",
    "torch.topk(scores, k) returns the largest k values and their indices, largest first.",
])
def top_activating(model: nn.Module, images: Tensor, layer: str, channel: int, k: int) -> Tensor:
    """Indices of the k images that most activate a channel: its dataset examples.

    A channel's activation on an image is its mean over positions.
    images: (N, 3, H, W). Returns (k,) indices into images, most activating first.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=10, hints=[
    "responses is (C, O): the peak and the mean of each channel are taken over dimension 1.",
    "A channel that never fires has mean 0: return 0 there instead of dividing by zero, "
    "for example with torch.where(mean > 0, peak / mean, torch.zeros_like(peak)).",
])
def peak_to_mean(responses: Tensor) -> Tensor:
    """How sharply each channel is tuned: its largest response over its mean response.

    responses: (C, O), each channel's (non-negative) response to O stimuli.
    Returns (C,); 0 for a channel whose responses are all 0.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")
