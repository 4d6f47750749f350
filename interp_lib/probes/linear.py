"""Linear probes and their controls: what a layer makes decodable, against a control task,
an untrained twin and the pixels (the package's docstring says why each control is needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from interp_lib import hooks
from interp_lib.hooks import Layer
from interp_lib.organism import data


__all__ = [
    'PIXELS', 'POLARITIES', 'C_GRID', 'ALPHA_GRID', 'ground_truth', 'shape_types', 'control_labels',
    'layer_features', 'train_split', 'LayerScaler', 'Probe', 'fit_probe', 'ProbeTable',
    'probe_layers',
]


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
