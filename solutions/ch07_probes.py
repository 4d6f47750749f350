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


@exercise(difficulty=1, importance=3, minutes=15, hints=[
    "Shuffle the row indices with a generator of your own: "
    "torch.randperm(n, generator=torch.Generator().manual_seed(seed)). The first "
    "round(n * test_fraction) of them are the held-out rows, the rest the training rows.",
    "scikit-learn wants numpy arrays: x = features.detach().numpy(), y = labels.numpy(). "
    "Fit LogisticRegression(max_iter=2000) on the training rows only, then "
    ".score(x[test], y[test]) is the held-out accuracy.",
])
def held_out_accuracy(features: Tensor, labels: Tensor, *, test_fraction: float = 0.3,
                      seed: int = 0) -> float:
    """Train a logistic-regression probe on a random share (1 - test_fraction) of the rows
    and return its accuracy on the other rows, which it never saw, as a float.

    features: (N, C); labels: (N,) integer classes. The split depends on `seed` only:
    the same seed gives the same split."""
    # SOLUTION
    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = round(n * test_fraction)
    test, train = order[:n_test].numpy(), order[n_test:].numpy()
    x, y = features.detach().cpu().numpy(), labels.cpu().numpy()
    probe = LogisticRegression(max_iter=2000).fit(x[train], y[train])
    return float(probe.score(x[test], y[test]))
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Loop over the distinct types (types.unique()). For each, pick one row of the whole "
    "set at random (torch.randint(n, (1,), generator=g)) and give every row of that type "
    "the label of the row you picked.",
    "Picking a random row's label draws from the labels' own distribution (a class that "
    "is 90% of the rows comes up 90% of the time), and any type id works, even 1000 or "
    "-3. Start from labels.clone() so that the result has their dtype and shape.",
])
def control_labels(types: Tensor, labels: Tensor, *, seed: int = 0) -> Tensor:
    """A control task (Hewitt and Liang 2019): every row of a type gets the same label,
    drawn at random from the labels' own distribution, independently for each type.

    types: (N,) integer type ids (any integers); labels: (N,) integer classes. Returns
    (N,) labels of the same dtype. Random only through a generator seeded with `seed`."""
    # SOLUTION
    g = torch.Generator().manual_seed(seed)
    out = labels.clone()
    for t in types.unique():
        donor = torch.randint(len(labels), (1,), generator=g)
        out[types == t] = labels[donor]
    return out
    # END SOLUTION


@exercise(difficulty=1, importance=3, minutes=10, hints=[
    "Two probes, one split: held_out_accuracy(features, labels, seed=seed) on the real "
    "task, and the same on control_labels(types, labels, seed=seed).",
    "Selectivity is the real task's accuracy minus the control task's: high when the "
    "features hold the property, near 0 when they only tell types apart.",
])
def selectivity(features: Tensor, labels: Tensor, types: Tensor, *, seed: int = 0) -> float:
    """Hewitt and Liang's selectivity: the held-out accuracy of a probe on the real labels
    minus that of the same probe on a control task over the same types.

    Use your held_out_accuracy and control_labels (or probes.fit_probe and
    probes.control_labels from the library). features: (N, C); labels, types: (N,)."""
    # SOLUTION
    real = held_out_accuracy(features, labels, seed=seed)
    control = held_out_accuracy(features, control_labels(types, labels, seed=seed), seed=seed)
    return real - control
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=15, hints=[
    "Stack the two sets into one design matrix, with label 1 for the concept's rows and 0 "
    "for the random ones, and fit LogisticRegression(max_iter=2000) on it.",
    "The CAV is the fitted .coef_[0] (the normal of the boundary, pointing towards label 1), "
    "as a float tensor divided by its norm. Fit on the features as they are: if you "
    "standardise each channel, divide each weight by that channel's scale afterwards, so "
    "that the CAV is a direction in the layer's own space.",
])
def concept_activation_vector(concept: Tensor, random: Tensor) -> Tensor:
    """A CAV (Kim et al. 2018): the unit normal (C,) of a linear classifier that separates
    a concept's features (Nc, C) from random images' features (Nr, C), pointing towards
    the concept, in the layer's own channel space."""
    # SOLUTION
    x = torch.cat([concept, random]).detach().cpu().numpy()
    y = torch.cat([torch.ones(len(concept)), torch.zeros(len(random))]).numpy()
    w = torch.as_tensor(LogisticRegression(max_iter=2000).fit(x, y).coef_[0], dtype=torch.float32)
    return w / w.norm()
    # END SOLUTION


@exercise(difficulty=3, importance=3, minutes=30, hints=[
    "Move the layer along the CAV by an amount t that autograd can see: inside "
    "hooks.edit(model, layer, fn), fn(a) returns a + t[:, None, None, None] * "
    "cav[None, :, None, None], with t = torch.zeros(N, requires_grad=True), one step per "
    "image. The same step at every position: the whole layer moves along the CAV.",
    "The directional derivative of each image's logit is torch.autograd.grad("
    "model(images)[:, target].sum(), t): never .backward(), which would leave gradients "
    "in the model's weights. Do it in eval mode (hooks.eval_mode) so that the model's "
    "own mode comes back.",
    "The TCAV score is the share of images whose derivative is above 0, as a float.",
])
def tcav_score(model: nn.Module, images: Tensor, target: int, layer: str, cav: Tensor) -> float:
    """The TCAV score: the share of images whose logit[target] rises when the layer's
    activations move along `cav` (C,) at every position (a positive directional
    derivative). images: (N, 3, H, W). Leaves the model as it found it."""
    # SOLUTION
    device = hooks.model_device(model)
    t = torch.zeros(len(images), device=device, requires_grad=True)  # one step size per image
    v = cav.detach().float().to(device)

    def nudge(a: Tensor) -> Tensor:  # the same step at every position: (N, 1, 1, 1) * (1, C, 1, 1)
        return a + t.view(-1, *([1] * (a.ndim - 1))) * v.view(1, -1, *([1] * (a.ndim - 2)))

    with hooks.eval_mode(model), hooks.edit(model, layer, nudge), torch.enable_grad():
        logits = model(images.to(device))
        (grad,) = torch.autograd.grad(logits[:, target].sum(), t)
    return float((grad > 0).float().mean())
    # END SOLUTION


@exercise(difficulty=2, importance=3, minutes=20, hints=[
    "Directions need not be orthogonal or of length 1. Make an orthonormal basis of their "
    "span first: q, r = torch.linalg.qr(directions.T); keep the columns of q whose "
    "r.diagonal() is not (close to) 0: a direction that is a mix of the others adds nothing.",
    "With q (K, C) orthonormal rows, the coordinates of every position along them are "
    "torch.einsum('nc...,kc->nk...', acts, q); subtract torch.einsum('nk...,kc->nc...', "
    "coords, q). The '...' covers (H, W) for a conv layer and nothing for (N, C).",
])
def remove_directions(acts: Tensor, directions: Tensor) -> Tensor:
    """acts (N, C, H, W) or (N, C) without their components along the span of
    directions (K, C) (or one direction (C,)), removed at every position. The result
    keeps everything orthogonal to that span, and the gradient to acts."""
    # SOLUTION
    d = torch.atleast_2d(directions).to(acts.dtype)
    q, r = torch.linalg.qr(d.T)
    q = q.T[r.diagonal().abs() > 1e-6 * d.norm(dim=1).max()]
    coords = torch.einsum("nc...,kc->nk...", acts, q)
    return acts - torch.einsum("nk...,kc->nc...", coords, q)
    # END SOLUTION


@exercise(difficulty=1, importance=2, minutes=10, hints=[
    "The cosine between a direction w and unit c's basis vector e_c is w_c / ||w||.",
    "For (K, C), divide each row by its own norm: directions.norm(dim=-1, keepdim=True). "
    "A direction of length 0 has no cosine: raise a ValueError that says so.",
])
def unit_cosines(directions: Tensor) -> Tensor:
    """The cosine between each direction and each unit's own direction (the standard basis
    vector of its channel): (C,) for a direction (C,), (K, C) for K directions. Signed:
    a unit the direction points away from gets a negative cosine. Raises ValueError
    for a direction of length 0."""
    # SOLUTION
    norms = directions.norm(dim=-1, keepdim=True)
    if (norms == 0).any():
        raise ValueError("a direction of length 0 has no cosine with any unit")
    return directions / norms
    # END SOLUTION
