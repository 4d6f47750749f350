# Your exercises. Generated from solutions/ch06_universality.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
"""Chapter 6: universality. Do different networks learn the same features?

Shapes: X (n examples, p1 features), Y (n, p2); Gram matrices K, L (n, n);
correlation tables corr (C_a units of A, C_b units of B).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=10)
def centre_gram(K: Tensor) -> Tensor:
    """The centred Gram matrix H K H, H = I - 11^T / n. K: (n, n). Returns (n, n)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def linear_cka(X: Tensor, Y: Tensor) -> Tensor:
    """Linear CKA of two representations of the same n examples: X (n, p1), Y (n, p2),
    where p1 and p2 may be far larger than n (a conv layer flattened). Returns a scalar
    tensor in [0, 1]."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=3, importance=2, minutes=25)
def unbiased_hsic(K: Tensor, L: Tensor) -> Tensor:
    """The unbiased HSIC estimator of two Gram matrices (n, n), n >= 4 (Song et al. 2012),
    as debiased CKA uses it. Returns a scalar tensor."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def random_orthogonal(p: int, generator: torch.Generator) -> Tensor:
    """A random orthogonal matrix (p, p) (Q^T Q = I), drawn from `generator`: a rotation
    (or reflection) of the feature space, which CKA must not notice."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
def best_partners(corr: Tensor) -> tuple[Tensor, Tensor]:
    """Semi-matching: each unit of A paired with its best-correlated unit of B.

    corr: (C_a, C_b). Returns (partner (C_a,) indices into B, correlation (C_a,))."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def one_to_one(corr: Tensor) -> tuple[Tensor, Tensor]:
    """One-to-one matching that maximises the summed correlation (C_a <= C_b).

    corr: (C_a, C_b). Returns (partner (C_a,), correlation (C_a,)), each B unit used once."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=20)
def stitch_step(bottom_acts: Tensor, top: Callable[[Tensor], Tensor], stitch: nn.Module,
                optimizer: torch.optim.Optimizer, labels: Tensor) -> float:
    """One training step of a stitching layer: A's activations bottom_acts (N, C_a, H, W)
    go through `stitch` (a 1x1 convolution to B's channels) and B's top `top` to logits;
    update the stitch only. B's weights stay as they are and get no gradients: they are
    not frozen (they still require grad), so a loss.backward() would store one in each.
    Returns the loss (a float)."""
    raise NotImplementedError("Exercise: replace this line with your code.")
