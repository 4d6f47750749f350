# Your exercises. Generated from solutions/ch01_featurevis.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
"""Chapter 1: feature visualization by optimization.

The building blocks of interp_lib.objectives and interp_lib.render, written
by hand. Shapes: N images, C channels, H x W positions, K classes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=5)
def neuron_value(acts: Tensor, channel: int, x: int | None = None, y: int | None = None
                 ) -> Tensor:
    """The activation of one neuron in each image: channel `channel` at column x,
    row y (the centre of the grid when None).

    acts: (N, C, H, W). Returns (N,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=5)
def channel_value(acts: Tensor, channel: int) -> Tensor:
    """The activation of a channel in each image: its mean over all positions.

    acts: (N, C, H, W). Returns (N,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=5)
def deepdream_value(acts: Tensor) -> Tensor:
    """DeepDream's layer objective for each image: the mean of its squared activations.

    acts: (N, C, H, W). Returns (N,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
def class_probability_value(logits: Tensor, cls: int) -> Tensor:
    """The probability of class `cls` for each image, from its logits.

    logits: (N, K). Returns (N,).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def ascent_step(image: Tensor, score_fn: Callable[[Tensor], Tensor], lr: float) -> Tensor:
    """One step of gradient ascent on the input: the heart of feature visualization.

    image: (N, 3, H, W) in [0, 1]. score_fn(image) returns a scalar to maximise.
    Returns the new image (N, 3, H, W): image + lr * d score / d image, clamped
    to [0, 1] and detached from the graph.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=3, importance=2, minutes=25)
def diversity_value(acts: Tensor) -> Tensor:
    """Lucid's diversity term for a batch: the mean cosine similarity between the Gram
    matrices of different images. It measures how *alike* the images are (1 for
    identical ones), so a render subtracts it: `channel - k * diversity`.

    acts: (N, C, H, W) with N >= 2. Returns a scalar tensor.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")
