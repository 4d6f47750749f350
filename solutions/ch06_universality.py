"""Chapter 6: universality. Do different networks learn the same features?

Shapes: X (n examples, p1 features), Y (n, p2); Gram matrices K, L (n, n);
correlation tables corr (C_a units of A, C_b units of B).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "H = I - 11^T / n subtracts the mean. H K H removes the mean of every row and of every "
    "column of K.",
    "K - K.mean(dim=0, keepdim=True) - K.mean(dim=1, keepdim=True) + K.mean() (the overall "
    "mean was subtracted twice, so add it back once).",
])
def centre_gram(K: Tensor) -> Tensor:
    """The centred Gram matrix H K H, H = I - 11^T / n. K: (n, n). Returns (n, n)."""
    # SOLUTION
    return K - K.mean(dim=0, keepdim=True) - K.mean(dim=1, keepdim=True) + K.mean()
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Centre each feature first: X - X.mean(dim=0), the same for Y.",
    "||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), with torch.linalg.norm (or .norm()) as the "
    "Frobenius norm; note the numerator is squared, the denominator's norms are not.",
    "A conv layer flattened has far more features than there are examples (16 x 64 x 64 = "
    "65536 for a few hundred images): X^T X would be 65536 x 65536, 17 GB. The n x n Gram "
    "matrices K = X X^T and L = Y Y^T give the same numbers: ||Y^T X||_F^2 = (K * L).sum() "
    "and ||X^T X||_F = ||K||_F.",
])
def linear_cka(X: Tensor, Y: Tensor) -> Tensor:
    """Linear CKA of two representations of the same n examples: X (n, p1), Y (n, p2),
    where p1 and p2 may be far larger than n (a conv layer flattened). Returns a scalar
    tensor in [0, 1]."""
    # SOLUTION
    X = X - X.mean(dim=0, keepdim=True)
    Y = Y - Y.mean(dim=0, keepdim=True)
    K, L = X @ X.T, Y @ Y.T  # (n, n): small whatever the number of features
    return (K * L).sum() / (K.norm() * L.norm())
    # END SOLUTION


@exercise(difficulty=3, importance=2, minutes=25, hints=[
    "Zero the diagonals first: K = K - torch.diag(torch.diag(K)), the same for L.",
    "With 1 a vector of ones: tr(K L) = (K * L.T).sum(); 1^T K 1 = K.sum(); 1^T K L 1 = "
    "(K @ L).sum().",
    "HSIC_1 = [tr(K L) + (1^T K 1)(1^T L 1) / ((n - 1)(n - 2)) - 2 / (n - 2) * 1^T K L 1] "
    "/ (n (n - 3)).",
])
def unbiased_hsic(K: Tensor, L: Tensor) -> Tensor:
    """The unbiased HSIC estimator of two Gram matrices (n, n), n >= 4 (Song et al. 2012),
    as debiased CKA uses it. Returns a scalar tensor."""
    # SOLUTION
    n = K.shape[0]
    K = K - torch.diag(torch.diag(K))
    L = L - torch.diag(torch.diag(L))
    trace = (K * L.T).sum()
    middle = K.sum() * L.sum() / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * (K @ L).sum()
    return (trace + middle - last) / (n * (n - 3))
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "The Q of a QR decomposition of a matrix of Gaussian noise is orthogonal: "
    "torch.linalg.qr(torch.randn(p, p, generator=generator)).",
    "Multiply each column of Q by the sign of R's diagonal, so that every orthogonal matrix "
    "is equally likely (and the result does not depend on how QR chooses signs).",
])
def random_orthogonal(p: int, generator: torch.Generator) -> Tensor:
    """A random orthogonal matrix (p, p) (Q^T Q = I), drawn from `generator`: a rotation
    (or reflection) of the feature space, which CKA must not notice."""
    # SOLUTION
    q, r = torch.linalg.qr(torch.randn(p, p, generator=generator))
    return q * torch.sign(torch.diagonal(r))[None, :]
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Row a of corr holds unit a's correlation with every unit of B: the best partner is "
    "the column with the largest value.",
    "values, partners = corr.max(dim=1); return (partners, values).",
])
def best_partners(corr: Tensor) -> tuple[Tensor, Tensor]:
    """Semi-matching: each unit of A paired with its best-correlated unit of B.

    corr: (C_a, C_b). Returns (partner (C_a,) indices into B, correlation (C_a,))."""
    # SOLUTION
    values, partners = corr.max(dim=1)
    return partners, values
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "scipy.optimize.linear_sum_assignment solves the assignment problem; by default it "
    "*minimises* the total, so ask it to maximise (maximize=True).",
    "It takes a numpy array and returns (rows, cols): unit rows[i] of A goes with cols[i] "
    "of B. Put them into tensors shaped (C_a,).",
])
def one_to_one(corr: Tensor) -> tuple[Tensor, Tensor]:
    """One-to-one matching that maximises the summed correlation (C_a <= C_b).

    corr: (C_a, C_b). Returns (partner (C_a,), correlation (C_a,)), each B unit used once."""
    # SOLUTION
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(corr.detach().cpu().numpy(), maximize=True)
    partner = torch.empty(corr.shape[0], dtype=torch.long)
    partner[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.long)
    return partner, corr[torch.arange(corr.shape[0]), partner]
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=20, hints=[
    "loss = cross_entropy(top(stitch(bottom_acts)), labels). Only the stitch learns.",
    "Take the gradient of the stitch's parameters alone: grads = torch.autograd.grad(loss, "
    "params); a loss.backward() would also store gradients in every weight of the top "
    "network, and they would add up call after call.",
    "optimizer.zero_grad(); set p.grad = g for each stitch parameter; optimizer.step(); "
    "return loss.item().",
])
def stitch_step(bottom_acts: Tensor, top: Callable[[Tensor], Tensor], stitch: nn.Module,
                optimizer: torch.optim.Optimizer, labels: Tensor) -> float:
    """One training step of a stitching layer: A's activations bottom_acts (N, C_a, H, W)
    go through `stitch` (a 1x1 convolution to B's channels) and B's top `top` to logits;
    update the stitch only. B's weights stay as they are and get no gradients: they are
    not frozen (they still require grad), so a loss.backward() would store one in each.
    Returns the loss (a float)."""
    # SOLUTION
    params = [p for p in stitch.parameters() if p.requires_grad]
    loss = nn.functional.cross_entropy(top(stitch(bottom_acts)), labels)
    optimizer.zero_grad()
    grads = torch.autograd.grad(loss, params)
    for p, g in zip(params, grads):
        p.grad = g
    optimizer.step()
    return loss.item()
    # END SOLUTION
