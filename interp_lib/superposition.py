"""Superposition: more features than dimensions (Toy Models of Superposition, 2022).

A network can represent more features than it has neurons by giving each
feature a *direction* in activation space, directions that are not all
orthogonal. The price is interference: reading one feature picks up a bit of
the others. When features are *sparse* (rarely active at the same time),
that price is small, and packing more features than dimensions pays.

The toy model makes this exact. n features x (each 0 with probability S, the
sparsity, else uniform in [0, 1]) are squeezed into m < n hidden numbers and
read back out:

    h = W x                 W: (m, n), column W_i is feature i's direction
    x' = ReLU(W^T h + b)    the reconstruction
    loss = mean over the batch of sum_i importance_i (x_i - x'_i)^2

Several models (instances) train at once, one per sparsity, in one tensor:
shapes below carry an instance axis I first.

    cfg = ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.7, 0.9))
    model = train_toy(cfg, steps=3000)
    feature_norms(model)      # (I, n): which features each instance represents
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

STICKY_FRACTIONS = (1.0, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8)


@dataclass(frozen=True)
class ToyConfig:
    """One toy-model experiment: n_features squeezed into n_hidden dimensions.

    sparsity: one value per instance (each instance is a separate model).
    importance: feature i's weight in the loss is importance ** i (0.9: the
    first feature matters most, the last about 40% as much for n = 10).
    """

    n_features: int = 5
    n_hidden: int = 2
    sparsity: tuple[float, ...] = (0.0,)
    importance: float = 0.9

    def __post_init__(self):
        if self.n_hidden < 1 or self.n_features < 1:
            raise ValueError(f"n_features and n_hidden must be at least 1, got "
                             f"{self.n_features} and {self.n_hidden}")
        if not all(0.0 <= s < 1.0 for s in self.sparsity):
            raise ValueError(f"each sparsity is a probability of a feature being zero, in "
                             f"[0, 1); got {self.sparsity}")

    @property
    def n_instances(self) -> int:
        return len(self.sparsity)

    @property
    def importances(self) -> Tensor:
        """(n,): importance ** i."""
        return self.importance ** torch.arange(self.n_features, dtype=torch.float32)

    @property
    def feature_probability(self) -> Tensor:
        """(I,): the probability that a feature is non-zero, 1 - sparsity."""
        return 1.0 - torch.tensor(self.sparsity, dtype=torch.float32)


class ToyModel(nn.Module):
    """I toy models at once. W: (I, m, n); b: (I, n).

    forward(x): x (batch, I, n) -> x' (batch, I, n) = ReLU(W^T W x + b).

    >>> model = ToyModel(ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.9)))
    >>> model(torch.rand(8, 2, 5)).shape
    torch.Size([8, 2, 5])
    """

    def __init__(self, cfg: ToyConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        w = torch.empty(cfg.n_instances, cfg.n_hidden, cfg.n_features)
        # Xavier-normal, as in the paper's code: std = sqrt(2 / (fan_in + fan_out)).
        w.normal_(0.0, (2.0 / (cfg.n_hidden + cfg.n_features)) ** 0.5, generator=g)
        self.W = nn.Parameter(w)
        self.b = nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features))

    def hidden(self, x: Tensor) -> Tensor:
        """h = W x: (batch, I, n) -> (batch, I, m)."""
        return torch.einsum("imn,bin->bim", self.W, x)

    def forward(self, x: Tensor) -> Tensor:
        h = self.hidden(x)
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)


def generate_batch(cfg: ToyConfig, batch_size: int, *, generator: torch.Generator | None = None
                   ) -> Tensor:
    """Sparse features (batch, I, n): each is 0 with probability sparsity (per
    instance), else uniform in [0, 1].

    >>> x = generate_batch(ToyConfig(sparsity=(0.0, 0.99)), 1000,
    ...                    generator=torch.Generator().manual_seed(0))
    >>> x.shape, bool((x[:, 0] > 0).float().mean() > 0.99), bool((x[:, 1] > 0).float().mean() < 0.05)
    (torch.Size([1000, 2, 5]), True, True)
    """
    shape = (batch_size, cfg.n_instances, cfg.n_features)
    values = torch.rand(shape, generator=generator)
    on = torch.rand(shape, generator=generator) < cfg.feature_probability[None, :, None]
    return torch.where(on, values, torch.zeros(()))


def importance_loss(x: Tensor, x_hat: Tensor, importance: Tensor) -> Tensor:
    """Importance-weighted squared error: per instance, the mean over the batch of
    sum_i importance_i (x_i - x'_i)^2; returns the sum over instances (a scalar), so
    that each instance's gradient is its own loss's.

    >>> x = torch.ones(4, 1, 3)
    >>> importance_loss(x, torch.zeros(4, 1, 3), torch.tensor([1.0, 0.5, 0.25]))
    tensor(1.7500)
    """
    return (importance * (x - x_hat) ** 2).sum(dim=-1).mean(dim=0).sum()


@dataclass
class ToyRun:
    """A trained ToyModel and its loss curve (steps,) per instance (steps, I)."""

    model: ToyModel
    losses: Tensor = field(repr=False)


def train_toy(cfg: ToyConfig, *, steps: int = 5000, batch_size: int = 1024, lr: float = 1e-3,
              seed: int = 0, progress: bool = False) -> ToyRun:
    """Train one toy model per sparsity, all at once (AdamW, the paper's setting uses
    lr 1e-3, batch 1024, 10,000 steps). The same seed gives the same models.

    >>> run = train_toy(ToyConfig(n_features=3, n_hidden=2, sparsity=(0.0,)), steps=50)
    >>> run.model.W.shape, run.losses.shape
    (torch.Size([1, 2, 3]), torch.Size([50, 1]))
    """
    model = ToyModel(cfg, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed + 1)
    importance = cfg.importances
    losses = torch.empty(steps, cfg.n_instances)
    for step in tqdm(range(steps), disable=not progress, desc="toy models", unit="step"):
        x = generate_batch(cfg, batch_size, generator=g)
        per_instance = (importance * (x - model(x)) ** 2).sum(dim=-1).mean(dim=0)
        opt.zero_grad(set_to_none=True)
        per_instance.sum().backward()
        opt.step()
        losses[step] = per_instance.detach()
    return ToyRun(model.eval(), losses)


# --- measures ----------------------------------------------------------------------------

def feature_norms(model: ToyModel) -> Tensor:
    """(I, n): ||W_i||, the length of each feature's direction. About 1: represented;
    about 0: dropped.

    >>> m = ToyModel(ToyConfig(n_features=3, n_hidden=2))
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))
    >>> feature_norms(m)
    tensor([[1., 1., 0.]])
    """
    return model.W.detach().norm(dim=1)


def interference(model: ToyModel) -> Tensor:
    """(I, n): for each feature i, sum over j != i of (W_i_hat . W_j)^2: how much the
    other features leak into feature i's direction. 0 when features are orthogonal.

    >>> m = ToyModel(ToyConfig(n_features=2, n_hidden=1))
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, -1.0]]]))  # an antipodal pair
    >>> interference(m)
    tensor([[1., 1.]])
    """
    w = model.W.detach()  # (I, m, n)
    unit = w / w.norm(dim=1, keepdim=True).clamp_min(1e-8)
    overlap = torch.einsum("imn,imk->ink", unit, w) ** 2  # (I, n, n): (W_i_hat . W_j)^2
    return overlap.sum(dim=-1) - overlap.diagonal(dim1=1, dim2=2)


def dimensions_per_feature(model: ToyModel) -> Tensor:
    """(I,): m / ||W||_F^2, the hidden dimensions spent per feature represented.
    1 when every dimension holds one feature; 1/2 for antipodal pairs.

    >>> m = ToyModel(ToyConfig(n_features=2, n_hidden=1))
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, -1.0]]]))
    >>> dimensions_per_feature(m)
    tensor([0.5000])
    """
    w = model.W.detach()
    return w.shape[1] / w.pow(2).sum(dim=(1, 2))


def feature_dimensionality(model: ToyModel) -> Tensor:
    """(I, n): D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2, the share of a dimension
    feature i gets. 1 for a feature alone in its dimension, 1/2 for one of an
    antipodal pair, 2/5 for a pentagon; 0 for a dropped feature.

    >>> m = ToyModel(ToyConfig(n_features=3, n_hidden=2))
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]]))
    >>> feature_dimensionality(m)
    tensor([[0.5000, 0.5000, 1.0000]])
    """
    w = model.W.detach()
    norms = w.norm(dim=1)  # (I, n)
    unit = w / norms[:, None].clamp_min(1e-8)
    overlap = (torch.einsum("imn,imk->ink", unit, w) ** 2).sum(dim=-1)  # (I, n)
    return torch.where(norms > 1e-3, norms**2 / overlap.clamp_min(1e-12), torch.zeros_like(norms))


def n_represented(model: ToyModel, threshold: float = 0.5) -> Tensor:
    """(I,): how many features have ||W_i|| > threshold.

    >>> m = ToyModel(ToyConfig(n_features=3, n_hidden=2))
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, 0.0, 0.1], [0.0, 1.0, 0.0]]]))
    >>> n_represented(m)
    tensor([2])
    """
    return (feature_norms(model) > threshold).sum(dim=1)


def nearest_sticky_fraction(d: Tensor) -> Tensor:
    """Each value of d replaced by the nearest of 1, 3/4, 2/3, 1/2, 2/5, 3/8.

    >>> nearest_sticky_fraction(torch.tensor([0.97, 0.52, 0.41]))
    tensor([1.0000, 0.5000, 0.4000])
    """
    fr = torch.tensor(STICKY_FRACTIONS)
    return fr[(d[..., None] - fr).abs().argmin(dim=-1)]


# --- polysemantic units in a real network ---------------------------------------------------

def class_selectivity(class_means: Tensor) -> Tensor:
    """(C,): each unit's (top - rest) / (top + rest), top its mean activation on its
    favourite class, rest its mean over the other classes; 0 for a silent unit.

    class_means: (C units, K classes), non-negative.

    >>> class_selectivity(torch.tensor([[4.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    tensor([1., 0.])
    """
    top = class_means.amax(dim=1)
    rest = (class_means.sum(dim=1) - top) / (class_means.shape[1] - 1)
    total = top + rest
    return torch.where(total > 0, (top - rest) / total.clamp_min(1e-12), torch.zeros_like(top))


@dataclass
class PolysemanticUnit:
    """A unit answering two unrelated classes: its two best, their mean activations."""

    channel: int
    first: str
    second: str
    first_mean: float
    second_mean: float
    selectivity: float


def polysemantic_units(class_means: Tensor, classes: Sequence[str], *,
                       unrelated=None, min_ratio: float = 0.6, min_peak: float = 0.05
                       ) -> list[PolysemanticUnit]:
    """Units whose two favourite classes are unrelated (`unrelated(a, b)`, by default the
    organism's: one curved, one straight) and whose second class gets at least
    `min_ratio` of the first's mean activation; silent units (peak below `min_peak`
    of the layer's largest) left out. Sorted, most balanced first.

    class_means: (C units, K classes).

    >>> means = torch.tensor([[1.0, 0.9, 0.0], [1.0, 0.1, 0.0]])
    >>> [u.channel for u in polysemantic_units(means, ["a", "b", "c"], unrelated=lambda x, y: True)]
    [0]
    """
    if unrelated is None:
        from interp_lib.organism.data import unrelated
    top2 = class_means.topk(2, dim=1)
    peak = class_means.amax(dim=1)
    sel = class_selectivity(class_means)
    found = []
    for c in range(class_means.shape[0]):
        first, second = (int(i) for i in top2.indices[c])
        v1, v2 = (float(v) for v in top2.values[c])
        if (peak[c] >= min_peak * peak.max() and v1 > 0 and v2 >= min_ratio * v1
                and unrelated(classes[first], classes[second])):
            found.append(PolysemanticUnit(c, classes[first], classes[second], v1, v2, float(sel[c])))
    return sorted(found, key=lambda u: -u.second_mean / u.first_mean)


# --- figures -----------------------------------------------------------------------------

def plot_features_2d(model: ToyModel, *, titles: Sequence[str] | None = None,
                     size: float = 2.2) -> plt.Figure:
    """For m = 2: each instance's feature directions W_i as arrows in the hidden plane,
    coloured by importance (dark: important).

    >>> fig = plot_features_2d(ToyModel(ToyConfig(sparsity=(0.0, 0.9))))
    """
    w = model.W.detach().cpu()
    if w.shape[1] != 2:
        raise ValueError(f"arrows in a plane need n_hidden = 2; this model has {w.shape[1]}")
    n_inst, _, n = w.shape
    fig, axes = plt.subplots(1, n_inst, figsize=(size * n_inst, size + 0.4), squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 0.9, n))
    for k, ax in enumerate(axes[0]):
        for i in range(n):
            ax.annotate("", xy=(float(w[k, 0, i]), float(w[k, 1, i])), xytext=(0, 0),
                        arrowprops=dict(arrowstyle="->", color=colours[i], lw=1.8))
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    fig.tight_layout()
    return fig


def plot_gram(model: ToyModel, *, titles: Sequence[str] | None = None, size: float = 2.2
              ) -> plt.Figure:
    """Each instance's W^T W (n x n) as a heat map: the diagonal is how strongly each
    feature is represented, the off-diagonal their interference (red +, blue -).

    >>> fig = plot_gram(ToyModel(ToyConfig(sparsity=(0.0, 0.9))))
    """
    w = model.W.detach().cpu()
    gram = torch.einsum("imn,imk->ink", w, w)
    n_inst = gram.shape[0]
    fig, axes = plt.subplots(1, n_inst, figsize=(size * n_inst, size + 0.4), squeeze=False)
    for k, ax in enumerate(axes[0]):
        ax.imshow(gram[k].numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    fig.tight_layout()
    return fig


def plot_dimensionality(model: ToyModel, sparsity: Sequence[float], *, size: float = 4.0
                        ) -> plt.Figure:
    """The paper's figure: each represented feature's dimensionality D_i (dots; features
    with ||W_i|| <= 0.5 are left out) and the dimensions per feature m / ||W||_F^2
    (line, averaged over the models of each sparsity) against 1 / (1 - S), with the
    sticky fractions 1, 3/4, 2/3, 1/2, 2/5 and 3/8 marked.

    >>> fig = plot_dimensionality(ToyModel(ToyConfig(sparsity=(0.0, 0.9))), [0.0, 0.9])
    """
    d = feature_dimensionality(model).cpu()
    represented = feature_norms(model).cpu() > 0.5
    per = dimensions_per_feature(model).cpu()
    x = 1.0 / (1.0 - torch.tensor(list(sparsity), dtype=torch.float64))
    fig, ax = plt.subplots(figsize=(1.6 * size, size))
    for fr, label in zip(STICKY_FRACTIONS, ("1", "3/4", "2/3", "1/2", "2/5", "3/8")):
        ax.axhline(fr, color="0.8", lw=0.8, zorder=0)
        # 2/5 and 3/8 are 0.025 apart: their labels go on either side, to stay readable
        shift = {"2/5": 0.012, "3/8": -0.012}.get(label, 0.0)
        ax.text(float(x.max()) * 1.25, fr + shift, label, va="center", fontsize=10, color="0.35")
    for k in range(d.shape[0]):
        keep = represented[k]
        ax.scatter(np.full(int(keep.sum()), float(x[k])), d[k][keep].numpy(), s=14,
                   color="tab:blue", alpha=0.5, zorder=2)
    levels = sorted(set(x.tolist()))
    mean_per = [float(per[x == v].mean()) for v in levels]  # one point per sparsity
    ax.plot(levels, mean_per, color="black", lw=1.2, zorder=3, marker="o", ms=3,
            label="dimensions per feature, m / ||W||_F^2")
    ax.set_xscale("log")
    ax.set_xlabel("1 / (1 - sparsity)")
    ax.set_ylabel("feature dimensionality")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=10, loc="lower left")
    fig.tight_layout()
    return fig
