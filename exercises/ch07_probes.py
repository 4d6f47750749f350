# Your exercises. Generated from solutions/ch07_probes.py by `make exercises`:
# write your code where it says NotImplementedError, then run `make grade`.
# Hints, one at a time: `make hint EX=<exercise name> N=1`.
"""Chapter 7: probes and concept directions. What does a layer encode, and does the
network use it?

Features are (N, C): one row per image, one column per channel of a layer (the
chapter uses each channel's mean over positions, `probes.layer_features`). A
direction is a (C,) vector in that channel space; several are (K, C).
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

from interp_lib import hooks
from interp_lib.course.exercises import exercise


@exercise(difficulty=1, importance=3, minutes=15)
def held_out_accuracy(features: Tensor, labels: Tensor, *, test_fraction: float = 0.3,
                      seed: int = 0) -> float:
    """Train a logistic-regression probe on a random share (1 - test_fraction) of the rows
    and return its accuracy on the other rows, which it never saw, as a float.

    features: (N, C); labels: (N,) integer classes. The split depends on `seed` only:
    the same seed gives the same split."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def control_labels(types: Tensor, labels: Tensor, *, seed: int = 0) -> Tensor:
    """A control task (Hewitt and Liang 2019): every row of a type gets the same label,
    drawn at random from the labels' own distribution, independently for each type.

    types: (N,) integer type ids (any integers); labels: (N,) integer classes. Returns
    (N,) labels of the same dtype. Random only through a generator seeded with `seed`."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=3, minutes=10)
def selectivity(features: Tensor, labels: Tensor, types: Tensor, *, seed: int = 0) -> float:
    """Hewitt and Liang's selectivity: the held-out accuracy of a probe on the real labels
    minus that of the same probe on a control task over the same types.

    Use your held_out_accuracy and control_labels (or probes.fit_probe and
    probes.control_labels from the library). features: (N, C); labels, types: (N,)."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=15)
def concept_activation_vector(concept: Tensor, random: Tensor) -> Tensor:
    """A CAV (Kim et al. 2018): the unit normal (C,) of a linear classifier that separates
    a concept's features (Nc, C) from random images' features (Nr, C), pointing towards
    the concept, in the layer's own channel space."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=3, importance=3, minutes=30)
def tcav_score(model: nn.Module, images: Tensor, target: int, layer: str, cav: Tensor) -> float:
    """The TCAV score: the share of images whose logit[target] rises when the layer's
    activations move along `cav` (C,) at every position (a positive directional
    derivative). images: (N, 3, H, W). Leaves the model as it found it."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=2, importance=3, minutes=20)
def remove_directions(acts: Tensor, directions: Tensor) -> Tensor:
    """acts (N, C, H, W) or (N, C) without their components along the span of
    directions (K, C) (or one direction (C,)), removed at every position. The result
    keeps everything orthogonal to that span, and the gradient to acts."""
    raise NotImplementedError("Exercise: replace this line with your code.")


@exercise(difficulty=1, importance=2, minutes=10)
def unit_cosines(directions: Tensor) -> Tensor:
    """The cosine between each direction and each unit's own direction (the standard basis
    vector of its channel): (C,) for a direction (C,), (K, C) for K directions. Signed:
    a unit the direction points away from gets a negative cosine. Raises ValueError
    for a direction of length 0."""
    raise NotImplementedError("Exercise: replace this line with your code.")
