"""Probes and concept directions: what a layer encodes, and whether the network uses it.

A **linear probe** is a linear classifier (or regression) trained to read a
property of the input from a layer's activations (Alain and Bengio 2016). Its
held-out score says the property is *decodable* there, nothing more. Three
controls make the number mean something:

- a **control task** (Hewitt and Liang 2019): the same probe on labels given at
  random but consistently per *type* of drawing (`shape_types`: a class at a
  size and an orientation, which recurs between training and test images in
  other colours, places and stroke widths). Selectivity = real score minus
  control score: how much of the score is the property, not memorised types;
- the same layer of an **untrained** network of the same architecture;
- the **pixels** themselves, as layer zero (`PIXELS`).

Probe features are each channel's **spatial mean**, (N, C, H, W) -> (N, C). A
probe's weights are then a direction in the layer's channel space, the space
units live in, so it can be compared with units (`unit_cosines`) and removed
at every position (`project_out`); and w . mean(a) is the mean over positions
of w . a, so removing w at every position takes from the probe exactly what
it read. It is also what the organisms' own `gap` hands to the classifier. The
price: where in the image something is, is mostly lost.

A **concept activation vector** (CAV, Kim et al. 2018) is the normal of a
linear classifier that separates a concept's activations from random images';
TCAV asks how often moving a layer along it raises a class logit, and whether
that share differs from CAVs of random-versus-random splits (`concept_cavs`,
`tcav`). Decodable is not used: `inlp` (Ravfogel et al. 2020) finds the
directions a property is read along, and `amnesic_effect` (Elazar et al. 2021)
removes them inside the network and measures what its accuracy loses, against
removing as many random directions.

The probes are scikit-learn's: `LogisticRegression` (multinomial, L-BFGS)
and `RidgeCV`, behind a `LayerScaler`, regularization chosen by
cross-validation on the training images only. A hand-written probe would need
a learning rate, a number of epochs and its own test of convergence, each a
place for a result to differ for reasons that have nothing to do with the
layer; scikit-learn's solvers converge to the optimum of a convex loss and
warn when they do not, `RidgeCV` picks its penalty by exact leave-one-out, and
the pipeline keeps the scaler from seeing test data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from interp_lib import hooks
from interp_lib.hooks import Layer
from interp_lib.organism import data

PIXELS = "pixels"  # layer zero: the image's mean colour, read like any layer
POLARITIES = ("light on dark", "dark on light", "two-tone")
C_GRID = (0.01, 0.1, 1.0)  # logistic regression: inverse penalty, on LayerScaler-scaled features
ALPHA_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)  # ridge penalty


# --- what is drawn: the ground truth, and its types -----------------------------------------

def ground_truth(batch: data.ShapeBatch) -> dict[str, Tensor]:
    """The properties the chapter probes for, read from the parameters that drew each image.

    class: (N,) class index. curved: (N,) 1 for the classes drawn with curves only
    (data.CURVED). polarity: (N,) index into POLARITIES (a one-tone stroke brighter
    or darker than its background, or two-tone). orientation: (N, 2) the sine and
    cosine of the direction an arc bulges towards (360-degree symmetry), NaN for
    every other class. size: (N,) the shape's radius in pixels.

    >>> truth = ground_truth(data.make_batch(40, seed=0))
    >>> arcs = truth["class"] == data.CLASSES.index("arc")
    >>> bool(truth["orientation"][arcs].isfinite().all()), bool(truth["orientation"][~arcs].isnan().all())
    (True, True)
    """
    p = batch.params
    luminance = torch.tensor([0.299, 0.587, 0.114])
    brighter = p["fg"] @ luminance > p["bg"] @ luminance
    polarity = torch.where(p["two_tone"] > 0, 2, torch.where(brighter, 0, 1))
    arc = batch.labels == data.CLASSES.index("arc")
    angle = torch.deg2rad(p["angle"])
    orientation = torch.stack([torch.sin(angle), torch.cos(angle)], dim=1)
    curved = torch.tensor([data.CLASSES[k] in data.CURVED for k in batch.labels.tolist()])
    return {"class": batch.labels.clone(), "curved": curved.long(), "polarity": polarity,
            "orientation": torch.where(arc[:, None], orientation, torch.full_like(orientation, math.nan)),
            "size": p["radius"].clone()}


def shape_types(batch: data.ShapeBatch, *, size_bins: int = 3, angle_bins: int = 4) -> Tensor:
    """Each drawing's *type* for a control task: its class, its size (radius) in one of
    `size_bins` equal bins, and its rotation in one of `angle_bins` bins of the circle.

    A type plays the part of a word in Hewitt and Liang's control tasks: it recurs
    between training and test images (in other colours, places, stroke widths), so
    labels given at random per type can be learned, but only by telling types apart.
    Returns (N,) type ids in [0, 10 * size_bins * angle_bins).

    >>> batch = data.make_batch(200, seed=0)
    >>> types = shape_types(batch)
    >>> all(len(set(batch.labels[types == t].tolist())) == 1 for t in types.unique())  # one class each
    True
    """
    if size_bins < 1 or angle_bins < 1:
        raise ValueError(f"size_bins and angle_bins must be at least 1, got {size_bins}, {angle_bins}")
    k = batch.images.shape[-1] / data.IMAGE_SIZE  # make_batch draws radii of 9 to 20 px at 64 px
    size = ((batch.params["radius"] / k - 9.0) / 11.0 * size_bins).long().clamp(0, size_bins - 1)
    angle = (batch.params["angle"] % 360 / 360 * angle_bins).long()
    angle = angle.clamp(0, angle_bins - 1)
    return (batch.labels * size_bins + size) * angle_bins + angle


def control_labels(types: Tensor, target: Tensor, *, seed: int = 0) -> Tensor:
    """A control task (Hewitt and Liang 2019): every image of a type gets the target of
    one drawing picked at random from the whole set, the same for the whole type.

    The control targets have the real targets' distribution (categorical or
    continuous, (N,) or (N, D)) and are consistent within a type, but carry no
    relation to the property. Rows whose target is NaN stay NaN.

    >>> types = torch.tensor([0, 0, 1, 1, 2, 2])
    >>> ctrl = control_labels(types, torch.tensor([0, 1, 0, 1, 0, 1]), seed=1)
    >>> bool((ctrl[0::2] == ctrl[1::2]).all())  # consistent per type
    True
    """
    if types.shape[0] != target.shape[0]:
        raise ValueError(f"types ({types.shape[0]}) and target ({target.shape[0]}) must have one "
                         "entry per image")
    defined = _defined(target)
    if not defined.any():
        raise ValueError("target has no defined value (all NaN): nothing to draw control labels from")
    g = torch.Generator().manual_seed(seed)
    pool = defined.nonzero(as_tuple=True)[0]
    out = target.clone()
    for t in types[defined].unique():
        donor = pool[torch.randint(len(pool), (1,), generator=g)]
        out[(types == t) & defined] = target[donor]
    return out


def _defined(target: Tensor) -> Tensor:
    if not target.is_floating_point():
        return torch.ones(target.shape[0], dtype=torch.bool)
    return ~target.reshape(target.shape[0], -1).isnan().any(dim=1)


# --- probes ---------------------------------------------------------------------------------

def layer_features(model: nn.Module, images: Tensor, layers: Layer | Sequence[Layer], *,
                   batch_size: int = 256) -> dict[str, Tensor]:
    """Probe features: each channel's mean over positions, layer name -> (N, C) on the CPU.

    A convolutional layer's (N, C, H, W) becomes (N, C); a linear layer's (N, F) is
    kept. `PIXELS` ("pixels") gives the images' mean colour (N, 3), layer zero.
    Activations come through `hooks.activations`, in batches on the model's device.

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(4, 3, 16, 16)
    >>> f = layer_features(net, x, [PIXELS, "relu2", "gap"])
    >>> torch.allclose(f["relu2"], f["gap"].flatten(1))  # the spatial mean is what gap computes
    True
    """
    names = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
    inner = [n for n in names if not (isinstance(n, str) and n == PIXELS)]
    out = {}
    if inner:
        out = hooks.activations(model, images, inner, batch_size=batch_size, reduce=_spatial_mean)
    if len(inner) < len(names):
        out[PIXELS] = images.detach().float().mean(dim=(2, 3)).cpu()
    return {k: out[k] for k in (n if isinstance(n, str) else hooks.resolve(model, n) for n in names)}


def _spatial_mean(a: Tensor) -> Tensor:
    return a.mean(dim=(2, 3)) if a.ndim == 4 else a.flatten(1)


def train_split(n: int, *, test_fraction: float = 0.3, seed: int = 0) -> Tensor:
    """A random split of n images: (n,) bool, True for the training images.

    >>> train = train_split(10, test_fraction=0.3)
    >>> int(train.sum()), int((~train).sum())  # seven to train on, three held out
    (7, 3)
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction is the share of images held out, in (0, 1); got {test_fraction}")
    n_test = max(1, round(n * test_fraction))
    if n_test >= n:
        raise ValueError(f"{n} images cannot be split into a training and a test set")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train = torch.ones(n, dtype=torch.bool)
    train[order[:n_test]] = False
    return train


class LayerScaler(TransformerMixin, BaseEstimator):
    """Centre each channel and divide the whole layer by one number, its channels' root
    mean variance (scikit-learn transformer). One number, not one per channel as
    StandardScaler would: the probe's weights then keep the layer's own geometry, so
    they are a direction in its channel space, and a nearly silent unit with a few
    informative flickers is not blown up into the direction's largest weight.

    >>> x = np.array([[0.0, 0.0], [2.0, 14.0]])  # variances 1 and 49: one spread, sqrt(25)
    >>> LayerScaler().fit(x).transform(x)  # the second channel stays 7 times the first
    array([[-0.2, -1.4],
           [ 0.2,  1.4]])
    """

    def fit(self, x: np.ndarray, y=None) -> LayerScaler:
        self.mean_ = x.mean(axis=0)
        self.scale_ = float(np.sqrt(x.var(axis=0).mean())) or 1.0
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_


@dataclass
class Probe:
    """A fitted linear probe.

    kind: "categorical" (logistic regression; score = held-out accuracy) or
    "continuous" (ridge regression; score = held-out R^2, averaged over outputs).
    weights: (K, C) the probe's weights in the layer's own units, one row per class
    (K = 1 for two classes) or per output; directions: the same rows scaled to length 1.
    penalty: the regularization cross-validation chose (C for logistic regression,
    alpha for ridge). chance: the score of the best constant answer on the test rows
    (categorical: the share of its most common class; continuous: 0).
    """

    kind: str
    score: float
    train_score: float
    chance: float
    weights: Tensor
    directions: Tensor
    penalty: float
    estimator: Pipeline
    n_train: int
    n_test: int

    def predict(self, features: Tensor) -> Tensor:
        """The probe's predictions for features (N, C): (N,) classes or (N, D) values."""
        return torch.as_tensor(self.estimator.predict(features.detach().cpu().double().numpy()))


def fit_probe(features: Tensor, target: Tensor, *, train: Tensor, penalty: float | None = None,
              kind: str | None = None) -> Probe:
    """Train a linear probe on the rows where `train` is True, score it on the others.

    features: (N, C). target: (N,) integer classes, or (N,) / (N, D) floats (NaN
    rows, where the property does not apply, are left out). kind: "categorical"
    for integer targets, "continuous" for floats, unless given. penalty: None
    chooses the regularization by 3-fold cross-validation on the training rows;
    a number fixes it (a control task uses the real task's, so the two probes have
    the same capacity).

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(300, 5, generator=g)
    >>> p = fit_probe(x, (x[:, 2] > 0).long(), train=train_split(300))
    >>> p.score > 0.9, int(p.directions[0].abs().argmax())  # it reads channel 2
    (True, 2)
    """
    if features.ndim != 2:
        raise ValueError(f"features must be (N, C), one row per image; got {tuple(features.shape)}. "
                         "layer_features gives each channel's spatial mean.")
    if target.shape[0] != features.shape[0] or train.shape != (features.shape[0],):
        raise ValueError(f"features ({features.shape[0]} rows), target ({target.shape[0]}) and train "
                         f"({tuple(train.shape)}) must have one entry per image")
    kind = kind or ("continuous" if target.is_floating_point() else "categorical")
    if kind not in ("categorical", "continuous"):
        raise ValueError(f"kind is 'categorical' or 'continuous', got {kind!r}")
    ok = _defined(target)
    x = features.detach().cpu().double().numpy()
    y = target.detach().cpu().numpy()
    tr, te = (train & ok).numpy(), (~train & ok).numpy()
    if tr.sum() < 6 or te.sum() < 1:
        raise ValueError(f"only {int(tr.sum())} training and {int(te.sum())} test rows have a "
                         "target: too few to fit and score a probe")
    if kind == "categorical" and len(np.unique(y[tr])) < 2:
        raise ValueError("the training rows hold one class only: a probe needs two to tell apart")
    with threadpool_limits(limits=1):  # small problems: one BLAS thread beats several fighting
        if kind == "categorical":
            def logistic(c: float) -> Pipeline:
                return make_pipeline(LayerScaler(), LogisticRegression(C=c, max_iter=3000))
            values, counts = np.unique(y[tr], return_counts=True)
            if penalty is None and counts.min() < 2:
                penalty = 1.0  # a class seen once cannot be cross-validated: scikit-learn's default
            if penalty is None:
                folds = StratifiedKFold(int(min(3, counts.min())), shuffle=True, random_state=0)
                search = GridSearchCV(logistic(1.0), {"logisticregression__C": list(C_GRID)}, cv=folds)
                penalty = search.fit(x[tr], y[tr]).best_params_["logisticregression__C"]
            est = logistic(penalty).fit(x[tr], y[tr])
            chance = float(max((y[te] == v).mean() for v in values))  # the best constant answer
        else:
            alphas = [penalty] if penalty is not None else list(ALPHA_GRID)
            est = make_pipeline(LayerScaler(), RidgeCV(alphas=alphas)).fit(x[tr], y[tr])
            penalty, chance = float(est[-1].alpha_), 0.0
        score, train_score = float(est.score(x[te], y[te])), float(est.score(x[tr], y[tr]))
    weights = torch.as_tensor(np.atleast_2d(est[-1].coef_) / est[0].scale_, dtype=torch.float32)
    directions = weights / weights.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return Probe(kind, score, train_score, chance, weights, directions, float(penalty), est,
                 int(tr.sum()), int(te.sum()))


@dataclass
class ProbeTable:
    """Held-out probe scores, keyed (network, property, layer): scores for the real
    task, control for the control task; directions, the real probes' (K, C); each
    property's kind and chance level. selectivity(...) = score - control."""

    layers: list[str]
    networks: list[str]
    properties: dict[str, str]
    chance: dict[str, float]
    scores: dict[tuple[str, str, str], float]
    control: dict[tuple[str, str, str], float]
    directions: dict[tuple[str, str, str], Tensor]

    def selectivity(self, network: str, prop: str, layer: str) -> float:
        """Real-task score minus control-task score for one probe."""
        key = (network, prop, layer)
        return self.scores[key] - self.control[key]

    def row(self, network: str, prop: str, *, control: bool = False) -> list[float]:
        """One network's scores for one property, layer by layer."""
        table = self.control if control else self.scores
        return [table[(network, prop, layer)] for layer in self.layers]


def probe_layers(features: Mapping[str, Mapping[str, Tensor]], targets: Mapping[str, Tensor], *,
                 types: Tensor, test_fraction: float = 0.3, seed: int = 0) -> ProbeTable:
    """Probe every layer of every network for every property, with a control task each.

    features: network name -> layer -> (N, C), from `layer_features` (for example a
    trained network and its untrained twin). targets: property -> (N,) or (N, D)
    (see `ground_truth`). types: (N,) the drawings' types for the control tasks
    (`shape_types`). One train/test split for everything; each control probe uses
    its real probe's regularization, so the two differ in their labels only.

    >>> from interp_lib.organism.models import tiny_net
    >>> batch = data.make_batch(120, seed=0, size=32)
    >>> feats = {"tiny": layer_features(tiny_net(), batch.images, [PIXELS, "relu2"])}
    >>> table = probe_layers(feats, {"size": batch.params["radius"]}, types=shape_types(batch))
    >>> table.layers, table.row("tiny", "size") == [table.scores[("tiny", "size", l)] for l in table.layers]
    (['pixels', 'relu2'], True)
    """
    first = next(iter(features.values()))
    layers = list(first)
    train = train_split(len(next(iter(first.values()))), test_fraction=test_fraction, seed=seed)
    scores, control, directions, kinds, chance = {}, {}, {}, {}, {}
    for prop, target in targets.items():
        fake = control_labels(types, target, seed=seed)
        for net, by_layer in features.items():
            for layer in layers:
                key = (net, prop, layer)
                real = fit_probe(by_layer[layer], target, train=train)
                ctrl = fit_probe(by_layer[layer], fake, train=train, penalty=real.penalty, kind=real.kind)
                scores[key], control[key], directions[key] = real.score, ctrl.score, real.directions
                kinds[prop], chance[prop] = real.kind, real.chance
    return ProbeTable(layers, list(features), kinds, chance, scores, control, directions)


# --- concepts: CAVs and TCAV ----------------------------------------------------------------

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


# --- decodable versus used ------------------------------------------------------------------

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
