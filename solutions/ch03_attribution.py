"""Chapter 3: attribution. Which pixels, and which hidden channels, made the decision?

Every function takes (model, images, target, ...): images (N, 3, H, W), target
a class index. Attributions come back shaped like the images unless said.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise
from interp_lib.hooks import run_with_cache


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Make a copy of the images that records gradients: x = images.detach().requires_grad_(True).",
    "The score to differentiate is model(x)[:, target]; sum it over the batch so that "
    "torch.autograd.grad gets a scalar (each image's gradient only depends on its own score).",
    "Return the absolute value of the gradient.",
])
def saliency_map(model: nn.Module, images: Tensor, target: int) -> Tensor:
    """The saliency map: |d logit[target] / d image|, shaped like images (N, 3, H, W)."""
    # SOLUTION
    x = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, target].sum(), x)
    return grad.abs()
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=20, hints=[
    "The path runs from the baseline to the image: point k is "
    "baseline + alpha_k * (images - baseline) with alpha_k = (k + 0.5) / n_steps.",
    "Average the gradients of logit[target] over the n_steps points (use saliency-style "
    "gradients, but without the absolute value).",
    "Multiply the average gradient by (images - baseline): that factor is what makes the "
    "attributions add up to F(image) - F(baseline).",
])
def integrated_gradients_midpoint(model: nn.Module, images: Tensor, target: int,
                                  baseline: Tensor, n_steps: int) -> Tensor:
    """Integrated gradients with the midpoint rule.

    (images - baseline) * mean over k of grad F(baseline + alpha_k (images - baseline)),
    alpha_k = (k + 0.5) / n_steps. baseline: like images. Returns (N, 3, H, W).
    """
    # SOLUTION
    total = torch.zeros_like(images)
    for k in range(n_steps):
        alpha = (k + 0.5) / n_steps
        x = (baseline + alpha * (images - baseline)).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x)[:, target].sum(), x)
        total += grad
    return (images - baseline) * total / n_steps
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Completeness: the attributions of one image should sum to F(image) - F(baseline).",
    "Sum each image's attributions over all its dimensions (attributions.flatten(1).sum(1)), "
    "then subtract model(images)[:, target] - model(baseline)[:, target].",
])
def completeness_delta(attributions: Tensor, model: nn.Module, images: Tensor, target: int,
                       baseline: Tensor) -> Tensor:
    """How far attributions are from adding up: (N,) with
    sum of image i's attributions - (F(image i) - F(baseline i)), F the target logit."""
    # SOLUTION
    with torch.no_grad():
        gap = model(images)[:, target] - model(baseline)[:, target]
    return attributions.flatten(1).sum(dim=1) - gap
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=20, hints=[
    "Loop over the top-left corners (row, col) of a grid of window x window squares: "
    "range(0, H, window) for rows, the same for columns.",
    "For each square, copy the images, set all three channels of the square to `baseline`, "
    "and compute drop = F(images) - F(occluded): how much the target logit falls.",
    "Write each image's drop into its square of the result: "
    "result[:, :, r:r + window, c:c + window] = drop[:, None, None, None].",
])
@torch.no_grad()
def occlusion_map(model: nn.Module, images: Tensor, target: int, window: int,
                  baseline: float = 0.0) -> Tensor:
    """Occlusion with non-overlapping square windows (stride = window).

    Every pixel gets F(images) - F(images with its window, all channels, set to
    baseline): the drop in the target logit. Returns (N, 3, H, W).
    """
    # SOLUTION
    score = model(images)[:, target]
    result = torch.zeros_like(images)
    h, w = images.shape[-2:]
    for r in range(0, h, window):
        for c in range(0, w, window):
            occluded = images.clone()
            occluded[:, :, r:r + window, c:c + window] = baseline
            drop = score - model(occluded)[:, target]
            result[:, :, r:r + window, c:c + window] = drop[:, None, None, None]
    return result
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=20, hints=[
    "run_with_cache(model, images, layer, detach=False) returns (logits, acts); "
    "take the gradient of logits[:, target].sum() with respect to acts[layer], (N, C, h, w).",
    "Each channel's weight is its gradient averaged over positions: grad.mean(dim=(2, 3), "
    "keepdim=True), shaped (N, C, 1, 1).",
    "The map is the ReLU of the weighted sum of the channels: "
    "(weights * acts).sum(dim=1, keepdim=True).clamp_min(0), (N, 1, h, w).",
])
def grad_cam_map(model: nn.Module, images: Tensor, target: int, layer: str) -> Tensor:
    """Grad-CAM at a layer, before upsampling: (N, 1, h, w) for a layer (N, C, h, w)."""
    # SOLUTION
    logits, acts = run_with_cache(model, images, layer, detach=False)
    a = acts[layer]
    (grad,) = torch.autograd.grad(logits[:, target].sum(), a)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return (weights * a).sum(dim=1, keepdim=True).clamp_min(0).detach()
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "Spearman's correlation is Pearson's correlation of the ranks.",
    "x.argsort() gives the order, not the ranks: the rank of each element is "
    "x.argsort().argsort().",
    "Centre both rank vectors and return (ra * rb).sum() / sqrt((ra ** 2).sum() * (rb ** 2).sum()).",
])
def rank_correlation(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two tensors of the same size (flattened), as a float.

    Assume no ties.
    """
    # SOLUTION
    ra = a.flatten().argsort().argsort().double()
    rb = b.flatten().argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / torch.sqrt((ra**2).sum() * (rb**2).sum()))
    # END SOLUTION
