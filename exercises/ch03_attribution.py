# Your exercises. Generated from solutions/ch03_attribution.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
"""Chapter 3: attribution. Which pixels, and which hidden channels, made the decision?

Every function takes (model, images, target, ...): images (N, 3, H, W), target
a class index. Attributions come back shaped like the images unless said.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise
from interp_lib.hooks import run_with_cache


@exercise(difficulty=1, importance=3, minutes=10)
def saliency_map(model: nn.Module, images: Tensor, target: int) -> Tensor:
    """The saliency map: |d logit[target] / d image|, shaped like images (N, 3, H, W)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=20)
def integrated_gradients_midpoint(model: nn.Module, images: Tensor, target: int,
                                  baseline: Tensor, n_steps: int) -> Tensor:
    """Integrated gradients with the midpoint rule.

    (images - baseline) * mean over k of grad F(baseline + alpha_k (images - baseline)),
    alpha_k = (k + 0.5) / n_steps. baseline: like images. Returns (N, 3, H, W).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
def completeness_delta(attributions: Tensor, model: nn.Module, images: Tensor, target: int,
                       baseline: Tensor) -> Tensor:
    """How far attributions are from adding up: (N,) with
    sum of image i's attributions - (F(image i) - F(baseline i)), F the target logit."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=20)
@torch.no_grad()
def occlusion_map(model: nn.Module, images: Tensor, target: int, window: int,
                  baseline: float = 0.0) -> Tensor:
    """Occlusion with non-overlapping square windows (stride = window).

    Every pixel gets F(images) - F(images with its window, all channels, set to
    baseline): the drop in the target logit. Returns (N, 3, H, W).
    """
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=20)
def grad_cam_map(model: nn.Module, images: Tensor, target: int, layer: str) -> Tensor:
    """Grad-CAM at a layer, before upsampling: (N, 1, h, w) for a layer (N, C, h, w)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def rank_correlation(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two tensors of the same size (flattened), as a float.

    Assume no ties.
    """
    raise NotImplementedError("Exercise: replace this line with your code.")
