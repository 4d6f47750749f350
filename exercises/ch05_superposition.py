# Your exercises. Generated from solutions/ch05_superposition.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
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


@exercise(difficulty=2, importance=3, minutes=15)
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
        raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
def importance_loss(x: Tensor, x_hat: Tensor, importance: Tensor) -> Tensor:
    """The importance-weighted reconstruction loss: for each instance, the mean over the
    batch of sum_j importance_j (x_j - x'_j)^2; summed over instances.

    x, x_hat: (B, I, n); importance: (n,). Returns a scalar."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def sparse_features(batch_size: int, n_features: int, feature_probability: Tensor,
                    generator: torch.Generator) -> Tensor:
    """A batch of sparse features (B, I, n): each feature is uniform in [0, 1] with
    probability feature_probability[i] (one per instance, (I,)), else exactly 0,
    each feature of each example on or off independently of the others.
    Random only through `generator`."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def interference(W: Tensor) -> Tensor:
    """How much the other features leak into each feature's direction:
    sum over k != j of (W_j_hat . W_k)^2, with W_j_hat = W_j / ||W_j||. 0 for a feature
    orthogonal to all others; 1 for each feature of an antipodal pair; 0 for a dropped
    feature (W_j = 0: no direction to leak into).

    W: (I, m, n). Returns (I, n)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=10)
def dimensions_per_feature(W: Tensor) -> Tensor:
    """m / ||W||_F^2 for each instance: hidden dimensions per feature represented.

    W: (I, m, n). Returns (I,)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=3, importance=3, minutes=25)
def feature_dimensionality(W: Tensor) -> Tensor:
    """Each feature's dimensionality D_j = ||W_j||^2 / sum_k (W_j_hat . W_k)^2: 1 for a
    feature alone in its dimension, 1/2 in an antipodal pair, 2/5 in a pentagon, 0 for
    a feature the model dropped (||W_j|| < 1e-3).

    W: (I, m, n). Returns (I, n)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
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
        raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def neuron_polysemanticity(W: Tensor) -> Tensor:
    """How many features each neuron answers, in a model with a ReLU hidden layer. With
    a_j = max(W_kj, 0)^2 for neuron k, the effective number of features
    (sum_j a_j)^2 / sum_j a_j^2: 1 for a monosemantic neuron, 2 for one answering two
    features equally, 0 for a neuron no feature excites.

    W: (I, m, n). Returns (I, m)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=2, minutes=15)
def class_selectivity(class_means: Tensor) -> Tensor:
    """How much a unit prefers one class: (top - rest) / (top + rest), where top is its
    mean activation on its favourite class and rest its mean over the other classes.
    1: answers one class only; 0: answers all alike (or never fires).

    class_means: (C units, K classes), non-negative. Returns (C,)."""
    raise NotImplementedError("Exercise: replace this line with your code.")
