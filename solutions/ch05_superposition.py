"""Chapter 5: polysemantic neurons and superposition.

The toy model of Toy Models of Superposition, in pieces. Shapes: B examples,
I instances (models trained side by side, one per sparsity), n features,
m hidden dimensions; W is (I, m, n): column W[i, :, j] is feature j's direction.
With a ReLU on the hidden layer the m hidden numbers are neurons, and row
W[i, k, :] is neuron k's weight from each feature.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interp_lib.course.exercises import exercise


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "h = W x for each instance: torch.einsum('imn,bin->bim', self.W, x) gives (B, I, m).",
    "Back out with the transpose, add the bias, then the ReLU: "
    "torch.relu(torch.einsum('imn,bim->bin', self.W, h) + self.b). The ReLU acts on the "
    "output only; the hidden layer h stays linear.",
])
class ToyModel(nn.Module):
    """I toy models side by side: h = W x, x' = ReLU(W^T h + b).

    Parameters (keep their names and shapes): W (I, m, n), b (I, n). The same
    arguments, in the same order, as the library's superposition.ToyModel.
    forward(x): x (B, I, n) -> x' (B, I, n).
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        scale = (2.0 / (n_hidden + n_features)) ** 0.5  # Xavier-normal for one m x n matrix
        self.W = nn.Parameter(torch.randn(n_instances, n_hidden, n_features, generator=g) * scale)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, x: Tensor) -> Tensor:
        # SOLUTION
        h = torch.einsum("imn,bin->bim", self.W, x)
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)
        # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Weight each feature's squared error by its importance, then add over features "
    "(the last dimension).",
    "(importance * (x - x_hat) ** 2).sum(dim=-1) is (B, I); average over the batch (dim 0), "
    "then add the instances' losses so each instance is trained on its own.",
])
def importance_loss(x: Tensor, x_hat: Tensor, importance: Tensor) -> Tensor:
    """The importance-weighted reconstruction loss: for each instance, the mean over the
    batch of sum_j importance_j (x_j - x'_j)^2; summed over instances.

    x, x_hat: (B, I, n); importance: (n,). Returns a scalar."""
    # SOLUTION
    return (importance * (x - x_hat) ** 2).sum(dim=-1).mean(dim=0).sum()
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Two draws of the same shape (B, I, n): the values, uniform in [0, 1] (torch.rand), "
    "and whether each feature is on (another torch.rand, compared with the probability).",
    "feature_probability is per instance, (I,): compare with feature_probability[None, :, None] "
    "so that each instance gets its own. Pass generator= to both draws.",
])
def sparse_features(batch_size: int, n_features: int, feature_probability: Tensor,
                    generator: torch.Generator) -> Tensor:
    """A batch of sparse features (B, I, n): each feature is uniform in [0, 1] with
    probability feature_probability[i] (one per instance, (I,)), else exactly 0,
    each feature of each example on or off independently of the others.
    Random only through `generator`."""
    # SOLUTION
    shape = (batch_size, len(feature_probability), n_features)
    values = torch.rand(shape, generator=generator)
    on = torch.rand(shape, generator=generator) < feature_probability[None, :, None]
    return torch.where(on, values, torch.zeros(()))
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Normalise the columns: unit = W / W.norm(dim=1, keepdim=True), with a guard against 0 "
    "(clamp_min) for dropped features.",
    "All overlaps at once: torch.einsum('imj,imk->ijk', unit, W) ** 2 is (I, n, n), entry "
    "[i, j, k] = (W_j_hat . W_k)^2. Sum over k, then take away the diagonal (k = j), the "
    "feature's overlap with itself.",
])
def interference(W: Tensor) -> Tensor:
    """How much the other features leak into each feature's direction:
    sum over k != j of (W_j_hat . W_k)^2, with W_j_hat = W_j / ||W_j||. 0 for a feature
    orthogonal to all others; 1 for each feature of an antipodal pair; 0 for a dropped
    feature (W_j = 0: no direction to leak into).

    W: (I, m, n). Returns (I, n)."""
    # SOLUTION
    unit = W / W.norm(dim=1, keepdim=True).clamp_min(1e-8)
    overlap = torch.einsum("imj,imk->ijk", unit, W) ** 2
    return overlap.sum(dim=-1) - overlap.diagonal(dim1=1, dim2=2)
    # END SOLUTION


@exercise(difficulty=1, importance=2, minutes=10, hints=[
    "||W||_F^2 is the sum of every squared entry of an instance's W (its m x n matrix).",
    "W.shape[1] / W.pow(2).sum(dim=(1, 2)).",
])
def dimensions_per_feature(W: Tensor) -> Tensor:
    """m / ||W||_F^2 for each instance: hidden dimensions per feature represented.

    W: (I, m, n). Returns (I,)."""
    # SOLUTION
    return W.shape[1] / W.pow(2).sum(dim=(1, 2))
    # END SOLUTION


@exercise(difficulty=3, importance=3, minutes=25, hints=[
    "For instance i, the columns W[i, :, j] are the feature directions. Normalise them: "
    "unit = W / W.norm(dim=1, keepdim=True) (guard against 0 for dropped features).",
    "The overlaps (W_j_hat . W_k)^2 for all j, k: torch.einsum('imj,imk->ijk', unit, W) ** 2, "
    "(I, n, n). Sum over k, the feature itself included.",
    "D_j = ||W_j||^2 / that sum; give 0 where ||W_j|| is about 0 (a dropped feature).",
])
def feature_dimensionality(W: Tensor) -> Tensor:
    """Each feature's dimensionality D_j = ||W_j||^2 / sum_k (W_j_hat . W_k)^2: 1 for a
    feature alone in its dimension, 1/2 in an antipodal pair, 2/5 in a pentagon, 0 for
    a feature the model dropped (||W_j|| < 1e-3).

    W: (I, m, n). Returns (I, n)."""
    # SOLUTION
    norms = W.norm(dim=1)  # (I, n)
    unit = W / norms[:, None].clamp_min(1e-8)
    overlap = (torch.einsum("imj,imk->ijk", unit, W) ** 2).sum(dim=-1)
    return torch.where(norms > 1e-3, norms**2 / overlap.clamp_min(1e-12), torch.zeros_like(norms))
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Only the hidden layer changes: h = torch.relu(torch.einsum('imn,bin->bim', self.W, x)).",
    "Then as before: torch.relu(torch.einsum('imn,bim->bin', self.W, h) + self.b).",
])
class ReluHiddenModel(nn.Module):
    """The toy model with neurons: h = ReLU(W x), x' = ReLU(W^T h + b). Row W[i, k, :]
    is neuron k's weight from each feature.

    Parameters (keep their names and shapes): W (I, m, n), b (I, n).
    forward(x): x (B, I, n) -> x' (B, I, n).
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        scale = (2.0 / (n_hidden + n_features)) ** 0.5  # Xavier-normal for one m x n matrix
        self.W = nn.Parameter(torch.randn(n_instances, n_hidden, n_features, generator=g) * scale)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, x: Tensor) -> Tensor:
        # SOLUTION
        h = torch.relu(torch.einsum("imn,bin->bim", self.W, x))
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)
        # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "A neuron answers feature j alone with activation W[i, k, j] when it is positive: "
    "a = W.clamp_min(0) ** 2 keeps what excites it (a negative weight only silences it).",
    "The effective number of features is a.sum(-1) ** 2 / (a ** 2).sum(-1); where a.sum(-1) "
    "is 0 (no feature excites the neuron) give 0 with torch.where, not NaN.",
])
def neuron_polysemanticity(W: Tensor) -> Tensor:
    """How many features each neuron answers, in a model with a ReLU hidden layer. With
    a_j = max(W_kj, 0)^2 for neuron k, the effective number of features
    (sum_j a_j)^2 / sum_j a_j^2: 1 for a monosemantic neuron, 2 for one answering two
    features equally, 0 for a neuron no feature excites.

    W: (I, m, n). Returns (I, m)."""
    # SOLUTION
    a = W.clamp_min(0) ** 2
    total = a.sum(dim=-1)
    return torch.where(total > 0, total**2 / (a**2).sum(dim=-1).clamp_min(1e-24),
                       torch.zeros_like(total))
    # END SOLUTION


@exercise(difficulty=2, importance=2, minutes=15, hints=[
    "For each unit, the top class's mean and the mean over the *other* classes.",
    "selectivity = (top - others) / (top + others); 0 where a unit is silent for every class.",
])
def class_selectivity(class_means: Tensor) -> Tensor:
    """How much a unit prefers one class: (top - rest) / (top + rest), where top is its
    mean activation on its favourite class and rest its mean over the other classes.
    1: answers one class only; 0: answers all alike (or never fires).

    class_means: (C units, K classes), non-negative. Returns (C,)."""
    # SOLUTION
    top = class_means.amax(dim=1)
    rest = (class_means.sum(dim=1) - top) / (class_means.shape[1] - 1)
    total = top + rest
    return torch.where(total > 0, (top - rest) / total.clamp_min(1e-12), torch.zeros_like(top))
    # END SOLUTION
