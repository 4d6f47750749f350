# Your exercises. Generated from solutions/ch00_organism.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
"""Chapter 0: the model organism. Reading activations and measuring a unit.

Shapes: N images, C channels, H x W positions, O orientations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise
from interp_lib.hooks import capture


@exercise(difficulty=1, importance=3, minutes=5)
def channel_means(acts: Tensor) -> Tensor:
    """The mean activation of each channel over a batch and every position.

    acts: (N, C, H, W). Returns (C,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def top_activating(model: nn.Module, images: Tensor, layer: str, channel: int, k: int) -> Tensor:
    """Indices of the k images that most activate a channel: its dataset examples.

    A channel's activation on an image is its mean over positions.
    images: (N, 3, H, W). Returns (k,) indices into images, most activating first.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=10)
def peak_to_mean(responses: Tensor) -> Tensor:
    """How sharply each channel is tuned: its largest response over its mean response.

    responses: (C, O), each channel's (non-negative) response to O stimuli.
    Returns (C,); 0 for a channel whose responses are all 0.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")
