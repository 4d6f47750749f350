"""Representations as matrices: what every similarity index does to its inputs first.

Each index compares two representations of the same examples, X (n, p1) and
Y (n, p2): a conv layer's activations (n, C, H, W) are flattened per example
and computed in float64 (`_as_matrix`), the two must describe the same n
examples, at least 4 (`_same_examples`), and most indices centre each
feature (`centre_columns`). They live here, apart from CKA and CCA, so that
both families read their inputs the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _as_matrix(x: Tensor) -> Tensor:
    """A representation as X (n, p) in float64: each example's features flattened."""
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"a representation is (n examples, features...), got shape "
                         f"{tuple(x.shape)}")
    return x.reshape(x.shape[0], -1).double()


def _same_examples(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _as_matrix(x), _as_matrix(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"the two representations must describe the same examples: x has "
                         f"{x.shape[0]}, y has {y.shape[0]}")
    if x.shape[0] < 4:
        raise ValueError(f"comparing representations needs at least 4 examples, got {x.shape[0]}")
    return x, y


def centre_columns(x: Tensor) -> Tensor:
    """Subtract each feature's mean over examples: X (n, p) -> centred X.

    >>> centre_columns(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    tensor([[-1., -2.],
            [ 1.,  2.]])
    """
    return x - x.mean(dim=0, keepdim=True)
