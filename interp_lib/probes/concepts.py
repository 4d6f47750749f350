"""Concept activation vectors and TCAV (Kim et al. 2018): a concept's direction in a layer, and
how often moving along it raises a class logit, against CAVs of random splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from interp_lib import hooks
from interp_lib.hooks import Layer
from interp_lib.probes.linear import LayerScaler, layer_features


# --- concepts: CAVs and TCAV ----------------------------------------------------------------

__all__ = [
    'concept_activation_vector', 'ConceptCAVs', 'concept_cavs', 'class_gradients',
    'directional_derivatives', 'TCAVResult', 'tcav', 'two_sided_t_test',
]


def concept_activation_vector(concept: Tensor, random: Tensor) -> Tensor:
    """A CAV: the unit normal (C,) of a logistic regression separating a concept's
    features (Nc, C) from random images' (Nr, C), in the layer's channel space,
    pointing towards the concept.

    >>> g = torch.Generator().manual_seed(0)
    >>> random = torch.randn(100, 4, generator=g)
    >>> concept = torch.randn(100, 4, generator=g) + torch.tensor([0.0, 0.0, 2.0, 0.0])
    >>> int(concept_activation_vector(concept, random).argmax())  # the concept lives along channel 2
    2
    """
    if concept.ndim != 2 or random.ndim != 2 or concept.shape[1] != random.shape[1]:
        raise ValueError(f"concept and random features must both be (N, C) with the same C; got "
                         f"{tuple(concept.shape)} and {tuple(random.shape)}")
    x = torch.cat([concept, random]).detach().cpu().double().numpy()
    y = np.r_[np.ones(len(concept)), np.zeros(len(random))]
    with threadpool_limits(limits=1):
        est = make_pipeline(LayerScaler(), LogisticRegression(C=1.0, max_iter=3000)).fit(x, y)
    v = torch.as_tensor(est[-1].coef_[0], dtype=torch.float32)
    return v / v.norm().clamp_min(1e-12)


@dataclass
class ConceptCAVs:
    """CAVs for one concept at one layer: concept (M, C), one per random set it was
    trained against; random (M, C), random set j+1 against random set j, the
    baseline of the significance test."""

    layer: str
    concept: Tensor
    random: Tensor


def concept_cavs(model: nn.Module, concept_images: Tensor, random_sets: Sequence[Tensor],
                 layer: Layer) -> ConceptCAVs:
    """One CAV per random set (the concept's images against it), and as many
    random-versus-random CAVs (set j+1 against set j, cyclically), the baseline of
    TCAV's significance test (Kim et al. 2018).

    concept_images: (Nc, 3, H, W). random_sets: M >= 2 batches (N_j, 3, H, W) of
    images without the concept: random images, or (a *relative* CAV) images that
    differ from the concept's in the concept alone.

    >>> from interp_lib.organism.models import tiny_net
    >>> from interp_lib.organism import data
    >>> batch = data.make_batch(60, seed=0, size=32)
    >>> cavs = concept_cavs(tiny_net(), batch.images[:20], [batch.images[20:40], batch.images[40:]], "relu2")
    >>> tuple(cavs.concept.shape), tuple(cavs.random.shape)  # M = 2 CAVs of 8 channels each
    ((2, 8), (2, 8))
    """
    if len(random_sets) < 2:
        raise ValueError("TCAV's significance test needs at least two random sets (it compares "
                         f"concept CAVs with random-versus-random ones); got {len(random_sets)}")
    name = hooks.resolve(model, layer)
    concept = layer_features(model, concept_images, name)[name]
    randoms = [layer_features(model, r, name)[name] for r in random_sets]
    m = len(randoms)
    return ConceptCAVs(name, torch.stack([concept_activation_vector(concept, r) for r in randoms]),
                       torch.stack([concept_activation_vector(randoms[(j + 1) % m], randoms[j])
                                    for j in range(m)]))


def class_gradients(model: nn.Module, images: Tensor, target: int, layer: Layer, *,
                    batch_size: int = 128) -> Tensor:
    """d logit[target] / d a, summed over positions: (N, C). Its dot product with a unit
    direction v is the directional derivative of the logit when the layer's
    activation moves along v at every position at once (TCAV's sensitivity).

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> g = class_gradients(net, torch.rand(2, 3, 16, 16), 3, "gap")
    >>> torch.allclose(g, net.fc.weight[3].detach().expand(2, -1))  # the logit is linear in gap
    True
    """
    device = hooks.model_device(model)
    shift: list[Tensor] = []

    def nudge(a: Tensor) -> Tensor:  # a + 0, with the 0 one (N, C) tensor shared by every position
        shift.append(a.new_zeros(a.shape[:2] + (1,) * (a.ndim - 2), requires_grad=True))
        return a + shift[-1]

    parts = []
    with hooks.eval_mode(model), hooks.edit(model, layer, nudge), torch.enable_grad():
        for start in range(0, len(images), batch_size):
            shift.clear()
            logits = model(images[start:start + batch_size].to(device))
            (grad,) = torch.autograd.grad(logits[:, target].sum(), shift[-1])
            parts.append(grad.flatten(1).cpu())
    return torch.cat(parts)


def directional_derivatives(model: nn.Module, images: Tensor, target: int, layer: Layer,
                            direction: Tensor, *, batch_size: int = 128) -> Tensor:
    """How fast logit[target] rises as the layer's activation moves along `direction`
    (C,) at every position: (N,), one per image.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> d = directional_derivatives(net, torch.rand(3, 3, 16, 16), 0, "gap", net.fc.weight[0].detach())
    >>> bool((d > 0).all())  # moving gap along the class's own weights raises its logit
    True
    """
    v = direction.detach().float().cpu()
    return class_gradients(model, images, target, layer, batch_size=batch_size) @ (v / v.norm())


@dataclass
class TCAVResult:
    """TCAV for one class and one concept: scores (M,), the share of the class's images
    whose logit rises along each concept CAV; random_scores (M,), the same for the
    random-versus-random CAVs; p_value of a two-sided t-test between the two."""

    score: float
    scores: Tensor
    random_scores: Tensor
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the concept CAVs' scores differ from the random CAVs' at level alpha."""
        return self.p_value < alpha


def tcav(model: nn.Module, images: Tensor, target: int, cavs: ConceptCAVs, *,
         batch_size: int = 128) -> TCAVResult:
    """The TCAV score of class `target` for a concept, tested against random CAVs.

    images: (N, 3, H, W), usually the class's own images. The gradients are taken
    once; each CAV is a dot product with them.

    >>> from interp_lib.organism.models import tiny_net
    >>> from interp_lib.organism import data
    >>> batch = data.make_batch(60, seed=0, size=32)
    >>> net = tiny_net()
    >>> cavs = concept_cavs(net, batch.images[:20], [batch.images[20:40], batch.images[40:]], "relu2")
    >>> r = tcav(net, batch.images, 0, cavs)
    >>> 0.0 <= r.score <= 1.0 and 0.0 <= r.p_value <= 1.0
    True
    """
    grads = class_gradients(model, images, target, cavs.layer, batch_size=batch_size)
    scores = ((grads @ cavs.concept.T) > 0).float().mean(dim=0)
    random_scores = ((grads @ cavs.random.T) > 0).float().mean(dim=0)
    p = two_sided_t_test(scores, random_scores)
    return TCAVResult(float(scores.mean()), scores, random_scores, p)


def two_sided_t_test(a: Tensor, b: Tensor) -> float:
    """The p-value of Student's two-sided t-test that samples a (M,) and b (M',) have the
    same mean (pooled variance), as scipy.stats.ttest_ind computes it; 1 or 0 where
    both samples are constant (equal or different means).

    >>> round(two_sided_t_test(torch.tensor([0.9, 0.8, 0.85]), torch.tensor([0.5, 0.4, 0.6])), 4)
    0.0056
    """
    a, b = a.double(), b.double()
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"a t-test needs at least two values in each sample, got {n1} and {n2}")
    pooled = ((n1 - 1) * a.var() + (n2 - 1) * b.var()) / (n1 + n2 - 2)
    diff = float(a.mean() - b.mean())
    se = float((pooled * (1 / n1 + 1 / n2)).sqrt())
    if se == 0:  # no spread in either sample: the means are equal or they are not
        return float(diff == 0)
    return float(2 * stats.t.sf(abs(diff) / se, n1 + n2 - 2))
