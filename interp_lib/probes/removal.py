"""Decodable is not used: remove the directions a probe reads (INLP, Ravfogel et al. 2020) from
a layer inside the network and measure what it loses (amnesic probing, Elazar et al. 2021),
against as many random directions; and compare probe directions with the units."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib import hooks
from interp_lib.hooks import Layer
from interp_lib.probes.linear import _spatial_mean, fit_probe, train_split  # noqa: F401 (doctests)


# --- decodable versus used ------------------------------------------------------------------

__all__ = [
    'orthonormal', 'remove_directions', 'project_out', 'INLPResult', 'inlp', 'AmnesicResult',
    'amnesic_effect', 'unit_cosines',
]


def orthonormal(directions: Tensor) -> Tensor:
    """An orthonormal basis (K', C) of the span of directions (K, C) or (C,); directions
    that add nothing new (K' < K) are dropped.

    >>> q = orthonormal(torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [2.0, 2.0, 0.0]]))
    >>> q.shape, torch.allclose(q @ q.T, torch.eye(2), atol=1e-6)
    (torch.Size([2, 3]), True)
    """
    d = torch.atleast_2d(directions.detach()).double()
    q, r = torch.linalg.qr(d.T)
    keep = r.diagonal().abs() > 1e-6 * d.norm(dim=1).max().clamp_min(1e-12)
    return q.T[keep].float()


def remove_directions(acts: Tensor, directions: Tensor, *, mean: Tensor | None = None) -> Tensor:
    """acts (N, C, ...) with their components along directions (K, C) removed at every
    position: set to 0, or to the component of `mean` (C,) when it is given.

    >>> a = torch.rand(2, 3, 4, 4)
    >>> out = remove_directions(a, torch.tensor([0.0, 1.0, 0.0]))
    >>> float(out[:, 1].abs().max()), torch.equal(out[:, 0], a[:, 0])
    (0.0, True)
    """
    q = orthonormal(directions).to(acts.device, acts.dtype)
    centre = acts if mean is None else acts - mean.to(acts).view(1, -1, *([1] * (acts.ndim - 2)))
    coords = torch.einsum("nc...,kc->nk...", centre, q)
    return acts - torch.einsum("nk...,kc->nc...", coords, q)


@contextmanager
def project_out(model: nn.Module, layer: Layer, directions: Tensor, *, mean: Tensor | None = None
                ) -> Iterator[None]:
    """Within the block, the layer's output loses its components along directions
    (K, C) at every position (see `remove_directions`), through `hooks.edit`.

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(2, 3, 16, 16)
    >>> with project_out(net, "gap", net.fc.weight[:1].detach()):
    ...     out = net(x)
    >>> torch.allclose(out[:, 0], net.fc.bias[0].expand(2), atol=1e-6)  # class 0's logit: its bias alone
    True
    """
    with hooks.edit(model, layer, lambda a: remove_directions(a, directions, mean=mean)):
        yield


@dataclass
class INLPResult:
    """Iterative nullspace projection: directions (K, C), orthonormal, in the order
    found; scores[i], the held-out probe score after removing the directions of the
    first i iterations (scores[0]: nothing removed); chance, the probe's chance level."""

    directions: Tensor
    scores: list[float]
    chance: float


def inlp(features: Tensor, target: Tensor, *, train: Tensor, n_iterations: int = 10,
         tolerance: float | None = 0.02, mean: Tensor | None = None) -> INLPResult:
    """INLP (Ravfogel et al. 2020): fit a probe, remove its directions from the features,
    fit again on what is left; until the probe scores within `tolerance` of chance
    (None: never stop early), or for `n_iterations`.

    features: (N, C). mean: (C,) to remove directions around (see remove_directions).
    A binary probe gives one direction per iteration, a K-class one up to K.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(400, 6, generator=g)
    >>> r = inlp(x, (x[:, 0] + x[:, 1] > 0).long(), train=train_split(400))
    >>> r.scores[0] > 0.9, len(r.directions), r.scores[-1] < 0.6  # one direction made it unreadable
    (True, 1, True)
    """
    found = features.new_zeros(0, features.shape[1])
    p = fit_probe(features, target, train=train)
    scores = [p.score]
    for _ in range(n_iterations):
        if tolerance is not None and p.score <= p.chance + tolerance:
            break
        found = orthonormal(torch.cat([found, p.directions]))
        p = fit_probe(remove_directions(features, found, mean=mean), target, train=train)
        scores.append(p.score)
    return INLPResult(found, scores, p.chance)


@dataclass
class AmnesicResult:
    """The network's answers (class indices) on the same images: intact (N,);
    removed[name] (N,), with that set of directions removed; random[name] (R, N),
    with as many random directions removed, R times; labels (N,), the true classes.
    variance[name] and random_variance[name] (R,): the share of the layer's
    variance (of its channels' spatial means) that each removal takes."""

    labels: Tensor
    intact: Tensor
    removed: dict[str, Tensor]
    random: dict[str, Tensor]
    variance: dict[str, float]
    random_variance: dict[str, Tensor]

    def accuracy(self, name: str | None = None, *, groups: Tensor | None = None) -> float:
        """Accuracy intact (name None) or with a set removed. groups: (n_classes,) maps each
        class to a coarser label (curved or not), to score the network's answers by it."""
        return _accuracy(self.intact if name is None else self.removed[name], self.labels, groups)

    def random_accuracy(self, name: str, *, groups: Tensor | None = None) -> Tensor:
        """(R,) accuracy with as many random directions removed as the set `name` has."""
        return torch.tensor([_accuracy(p, self.labels, groups) for p in self.random[name]])


def _accuracy(predicted: Tensor, labels: Tensor, groups: Tensor | None) -> float:
    if groups is not None:
        predicted, labels = groups[predicted], groups[labels]
    return float((predicted == labels).float().mean())


def amnesic_effect(model: nn.Module, images: Tensor, labels: Tensor, layer: Layer,
                   directions: Mapping[str, Tensor], *, n_random: int = 5, seed: int = 0,
                   keep_mean: bool = True, batch_size: int = 256) -> AmnesicResult:
    """What the network loses when each set of directions (K, C) is removed from
    `layer` at every position, against removing K random directions, `n_random`
    times (the random sets are shared by every set of the same size).

    keep_mean: set each removed component to its mean over the images (the
    information goes, the average activation stays) rather than to 0.

    >>> from interp_lib.organism.models import tiny_net
    >>> from interp_lib.organism import data
    >>> net, batch = tiny_net(), data.make_batch(40, seed=0, size=32)
    >>> labels = net(batch.images).argmax(1).detach()  # its own answers (classes 1 and 5)
    >>> between = (net.fc.weight[1] - net.fc.weight[5]).detach()  # what tells them apart
    >>> r = amnesic_effect(net, batch.images, labels, "gap", {"1 or 5": between}, n_random=3)
    >>> r.accuracy(), r.accuracy("1 or 5") < 0.8, bool(r.random_accuracy("1 or 5").min() > 0.9)
    (1.0, True, True)
    """
    name, output = hooks.resolve(model, layer), hooks.layer_names(model)[-1]
    both = hooks.activations(model, images, [name, output], batch_size=batch_size, reduce=_spatial_mean)
    feats, intact = both[name], both[output].argmax(dim=1)
    mean = feats.mean(dim=0) if keep_mean else None
    cov = torch.cov(feats.T.double())

    def share(q: Tensor) -> float:  # the share of the layer's variance along q's rows
        q = q.double()
        return float(torch.trace(q @ cov @ q.T) / torch.trace(cov).clamp_min(1e-12))

    def answers(q: Tensor) -> Tensor:
        with project_out(model, layer, q, mean=mean):
            return _logits(model, images, batch_size).argmax(dim=1)

    g = torch.Generator().manual_seed(seed)
    baselines: dict[int, tuple[Tensor, Tensor]] = {}  # K -> answers (R, N), variance shares (R,)
    removed, random, variance, random_variance = {}, {}, {}, {}
    for name, d in directions.items():
        q = orthonormal(d)
        if len(q) not in baselines:
            draws = [orthonormal(torch.randn(len(q), q.shape[1], generator=g)) for _ in range(n_random)]
            baselines[len(q)] = (
                torch.stack([answers(r) for r in draws]) if draws else torch.zeros(0, len(images)).long(),
                torch.tensor([share(r) for r in draws]))
        removed[name], variance[name] = answers(q), share(q)
        random[name], random_variance[name] = baselines[len(q)]
    return AmnesicResult(labels.cpu(), intact, removed, random, variance, random_variance)


def _logits(model: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    """The model's output, read at its last layer through the library's one road."""
    return hooks.layer_activations(model, images, hooks.layer_names(model)[-1], batch_size=batch_size)


# --- probe directions and units -------------------------------------------------------------

def unit_cosines(directions: Tensor) -> Tensor:
    """The cosine between each direction and each unit (the standard basis vector of
    its channel): (C,) for one direction (C,), (K, C) for K of them. A direction that
    is one unit gives 1 there and 0 elsewhere; one spread evenly over C units gives
    1 / sqrt(C) each.

    >>> unit_cosines(torch.tensor([0.0, 3.0, -4.0]))
    tensor([ 0.0000,  0.6000, -0.8000])
    """
    norms = directions.norm(dim=-1, keepdim=True)
    if (norms == 0).any():
        raise ValueError("a direction of length 0 has no cosine with anything: check the probe "
                         "that made it")
    return directions / norms
