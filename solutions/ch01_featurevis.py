"""Chapter 1: feature visualization by optimization.

The building blocks of interp_lib.objectives and interp_lib.render, written
by hand. Shapes: N images, C channels, H x W positions, K classes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=5, hints=[
    "A neuron is one channel at one position. The centre of an H x W grid is "
    "row H // 2, column W // 2.",
    "acts[:, channel, y, x] with y = H // 2 and x = W // 2 when they are None.",
])
def neuron_value(acts: Tensor, channel: int, x: int | None = None, y: int | None = None
                 ) -> Tensor:
    """The activation of one neuron in each image: channel `channel` at column x,
    row y (the centre of the grid when None).

    acts: (N, C, H, W). Returns (N,).
    """
    # SOLUTION
    h, w = acts.shape[2:]
    row = h // 2 if y is None else y
    col = w // 2 if x is None else x
    return acts[:, channel, row, col]
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=5, hints=[
    "A channel is the same detector at every position: average over the grid.",
    "acts[:, channel].mean(dim=(1, 2))",
])
def channel_value(acts: Tensor, channel: int) -> Tensor:
    """The activation of a channel in each image: its mean over all positions.

    acts: (N, C, H, W). Returns (N,).
    """
    # SOLUTION
    return acts[:, channel].mean(dim=(1, 2))
    # END SOLUTION


@exercise(difficulty=1, importance=2, minutes=5, hints=[
    "DeepDream amplifies whatever a layer already sees: the objective is the mean "
    "of the squared activations of the whole layer.",
    "Square, then average over channels and positions: (acts ** 2).mean(dim=(1, 2, 3)).",
])
def deepdream_value(acts: Tensor) -> Tensor:
    """DeepDream's layer objective for each image: the mean of its squared activations.

    acts: (N, C, H, W). Returns (N,).
    """
    # SOLUTION
    return (acts**2).mean(dim=(1, 2, 3))
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "The softmax turns the K logits of each image into probabilities that sum to 1; "
    "it works along the class axis, dim=1.",
    "torch.softmax(logits, dim=1)[:, cls]",
])
def class_probability_value(logits: Tensor, cls: int) -> Tensor:
    """The probability of class `cls` for each image, from its logits.

    logits: (N, K). Returns (N,).
    """
    # SOLUTION
    return torch.softmax(logits, dim=1)[:, cls]
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Make the image a leaf that records gradients: x = image.detach().requires_grad_(True). "
    "Then score = score_fn(x) and grad, = torch.autograd.grad(score, x).",
    "Ascent goes *up* the gradient: image + lr * grad. Keep the result a valid image "
    "with .clamp(0, 1), and return it detached.",
])
def ascent_step(image: Tensor, score_fn: Callable[[Tensor], Tensor], lr: float) -> Tensor:
    """One step of gradient ascent on the input: the heart of feature visualization.

    image: (N, 3, H, W) in [0, 1]. score_fn(image) returns a scalar to maximise.
    Returns the new image (N, 3, H, W): image + lr * d score / d image, clamped
    to [0, 1] and detached from the graph.
    """
    # SOLUTION
    x = image.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(score_fn(x), x)
    return (x + lr * grad).clamp(0, 1).detach()
    # END SOLUTION


@exercise(difficulty=3, importance=2, minutes=25, hints=[
    "Per image, flatten the activations to (C, H*W) and take the Gram matrix "
    "G = F F^T, (C, C): which channels fire together, regardless of where.",
    "Flatten each G to a vector and normalise it to unit length "
    "(torch.nn.functional.normalize). Then S = V V^T is the (N, N) matrix of cosine "
    "similarities.",
    "Average S over the N * (N - 1) pairs of *different* images (leave out the "
    "diagonal, where every image is similar to itself) and return that mean.",
])
def diversity_value(acts: Tensor) -> Tensor:
    """Lucid's diversity term for a batch: the mean cosine similarity between the Gram
    matrices of different images. It measures how *alike* the images are (1 for
    identical ones), so a render subtracts it: `channel - k * diversity`.

    acts: (N, C, H, W) with N >= 2. Returns a scalar tensor.
    """
    # SOLUTION
    n, c = acts.shape[:2]
    flat = acts.reshape(n, c, -1)
    gram = torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1)
    v = torch.nn.functional.normalize(gram, dim=1)
    sim = v @ v.T
    return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    # END SOLUTION
