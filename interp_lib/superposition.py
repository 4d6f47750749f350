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

With a ReLU on the hidden layer too, h = ReLU(W x) (`ReluHiddenModel`), the
m hidden numbers become *neurons*: a rotation of W no longer gives the same
model, so one can ask which features each neuron carries.

Several models (instances) train at once, one per sparsity, in one tensor:
shapes below carry an instance axis I first. The measures of a trained model
are in `interp_lib.superposition_measures`.

    cfg = ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.7, 0.9))
    run = train_toy(cfg, steps=3000)
    run.model.W               # (I, m, n)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

STICKY_FRACTIONS = (1.0, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8)
CORRELATIONS = ("independent", "correlated", "anticorrelated")
PHASES = ("not represented", "dedicated dimension", "superposition")


@dataclass(frozen=True)
class ToyConfig:
    """One toy-model experiment: n_features squeezed into n_hidden dimensions.

    sparsity: one value per instance (each instance is a separate model).
    importance: feature i's weight in the loss is importance ** i (0.9: the
    first feature matters most, the last about 40% as much for n = 10).
    feature_importance: each instance's own importances, (I, n) as nested
    tuples; when given, it replaces importance ** i.
    correlation: how features co-occur, within sets of `set_size` neighbours
    (features 0 and 1, 2 and 3, ...): "independent"; "correlated" (a set's
    features are on or off together); "anticorrelated" (at most one of a set
    is on). Each feature is on with probability 1 - sparsity in all three.
    """

    n_features: int = 5
    n_hidden: int = 2
    sparsity: tuple[float, ...] = (0.0,)
    importance: float = 0.9
    feature_importance: tuple[tuple[float, ...], ...] | None = None
    correlation: str = "independent"
    set_size: int = 2

    def __post_init__(self):
        if self.n_hidden < 1 or self.n_features < 1:
            raise ValueError(f"n_features and n_hidden must be at least 1, got "
                             f"{self.n_features} and {self.n_hidden}")
        if not all(0.0 <= s < 1.0 for s in self.sparsity):
            raise ValueError(f"each sparsity is a probability of a feature being zero, in "
                             f"[0, 1); got {self.sparsity}")
        if self.correlation not in CORRELATIONS:
            raise ValueError(f"correlation must be one of {CORRELATIONS}, got {self.correlation!r}")
        if self.correlation != "independent" and (
                self.set_size < 2 or self.n_features % self.set_size):
            raise ValueError(f"feature sets of {self.set_size} must split {self.n_features} "
                             "features evenly, with at least 2 features a set")
        if self.correlation == "anticorrelated" and min(self.sparsity) < 1 - 1 / self.set_size:
            raise ValueError(f"with at most one feature of {self.set_size} on at a time, each "
                             f"is on at most 1/{self.set_size} of the time: sparsity must be at "
                             f"least {1 - 1 / self.set_size:.3g}, got {min(self.sparsity)}")
        if self.feature_importance is not None and (
                len(self.feature_importance) != self.n_instances
                or any(len(row) != self.n_features for row in self.feature_importance)):
            raise ValueError(f"feature_importance needs one row of {self.n_features} values for "
                             f"each of the {self.n_instances} instances")

    @property
    def n_instances(self) -> int:
        return len(self.sparsity)

    @property
    def importances(self) -> Tensor:
        """(I, n): each instance's feature importances."""
        if self.feature_importance is not None:
            return torch.tensor(self.feature_importance, dtype=torch.float32)
        decay = self.importance ** torch.arange(self.n_features, dtype=torch.float32)
        return decay.expand(self.n_instances, -1)

    @property
    def feature_probability(self) -> Tensor:
        """(I,): the probability that a feature is non-zero, 1 - sparsity."""
        return 1.0 - torch.tensor(self.sparsity, dtype=torch.float32)


class ToyModel(nn.Module):
    """I toy models at once. W: (I, m, n); b: (I, n).

    forward(x): x (batch, I, n) -> x' (batch, I, n) = ReLU(W^T W x + b).

    >>> model = ToyModel(3, 2)  # 3 features, 2 dimensions
    >>> with torch.no_grad():  # W: features 0 and 1 get a dimension each, feature 2 none
    ...     _ = model.W.copy_(torch.eye(2, 3)[None])
    >>> model(torch.tensor([[[0.5, 0.7, 0.9]]])).detach()  # the dropped feature is lost
    tensor([[[0.5000, 0.7000, 0.0000]]])
    >>> h = ToyModel(5, 2, 3).hidden(-torch.rand(8, 3, 5))
    >>> bool((h < 0).any())  # the hidden layer is linear: any sign, no preferred basis
    True
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        # Xavier-normal for one m x n matrix, std sqrt(2 / (n + m)), whatever the number
        # of instances. (The paper's public code calls xavier_normal_ on an (I, n, m)
        # tensor, which PyTorch reads as a convolution weight: std sqrt(2 / (m (n + I))),
        # smaller by a factor sqrt(m (n + I) / (n + m)), 2.1 for n = 5, m = 2, I = 10.)
        scale = (2.0 / (n_hidden + n_features)) ** 0.5
        self.W = nn.Parameter(torch.randn(n_instances, n_hidden, n_features, generator=g) * scale)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))

    def hidden(self, x: Tensor) -> Tensor:
        """h = W x: (batch, I, n) -> (batch, I, m)."""
        return torch.einsum("imn,bin->bim", self.W, x)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(torch.einsum("imn,bim->bin", self.W, self.hidden(x)) + self.b)


class ReluHiddenModel(ToyModel):
    """The toy model with a ReLU on the hidden layer: h = ReLU(W x), x' = ReLU(W^T h + b).
    The hidden numbers are now neurons, and row W[:, k, :] is neuron k's weight from
    each feature. Same arguments and parameters as ToyModel.

    >>> model = ReluHiddenModel(5, 2, 3)
    >>> bool((model.hidden(-torch.rand(8, 3, 5)) >= 0).all())  # a neuron never goes negative
    True
    """

    def hidden(self, x: Tensor) -> Tensor:
        """h = ReLU(W x): (batch, I, n) -> (batch, I, m)."""
        return torch.relu(super().hidden(x))


def generate_batch(cfg: ToyConfig, batch_size: int, *, generator: torch.Generator | None = None
                   ) -> Tensor:
    """Sparse features (batch, I, n): each is 0 with probability sparsity (per instance),
    else uniform in [0, 1]; features co-occur as `cfg.correlation` says.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = generate_batch(ToyConfig(n_features=4, sparsity=(0.0, 0.99)), 2000, generator=g)
    >>> [round(v, 2) for v in (x > 0).float().mean(dim=(0, 2)).tolist()]  # on: 1 - sparsity
    [1.0, 0.01]
    >>> both = {c: generate_batch(ToyConfig(4, sparsity=(0.7,), correlation=c), 4000, generator=g)
    ...         for c in ("independent", "correlated", "anticorrelated")}
    >>> [round(float(((x[..., 0] > 0) & (x[..., 1] > 0)).float().mean()), 1) for x in both.values()]
    [0.1, 0.3, 0.0]
    """
    p = cfg.feature_probability[None, :, None]  # (1, I, 1)
    shape = (batch_size, cfg.n_instances, cfg.n_features)
    if cfg.correlation == "independent":
        # One draw does both: below p the feature is on, and u / p is then uniform in [0, 1].
        u = torch.rand(shape, generator=generator)
        return torch.where(u < p, u / p, torch.zeros(()))
    values = torch.rand(shape, generator=generator)
    sets = (batch_size, cfg.n_instances, cfg.n_features // cfg.set_size)
    u = torch.rand(sets, generator=generator)
    if cfg.correlation == "correlated":
        on = (u < p).repeat_interleave(cfg.set_size, dim=2)  # one coin for the whole set
    else:  # the set is on with probability set_size * p; then one member, chosen at random
        member = (u / (cfg.set_size * p)).mul(cfg.set_size).floor()
        on = (u < cfg.set_size * p)[..., None] & (
            member[..., None] == torch.arange(cfg.set_size))
        on = on.flatten(2)
    return torch.where(on, values, torch.zeros(()))


def importance_loss(x: Tensor, x_hat: Tensor, importance: Tensor) -> Tensor:
    """Importance-weighted squared error: per instance, the mean over the batch of
    sum_i importance_i (x_i - x'_i)^2; returns the sum over instances (a scalar), so
    that each instance's gradient is its own loss's. importance: (n,) or (I, n).

    >>> x = torch.ones(4, 1, 3)
    >>> importance_loss(x, torch.zeros(4, 1, 3), torch.tensor([1.0, 0.5, 0.25]))
    tensor(1.7500)
    """
    return (importance * (x - x_hat) ** 2).sum(dim=-1).mean(dim=0).sum()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread, then restore the thread count. The toy models'
    tensors are so small that threads cost more to start than they save (several
    times slower on two busy cores).

    >>> n = torch.get_num_threads()
    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == n
    True
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class ToyRun:
    """A trained ToyModel and its loss curve (steps,) per instance (steps, I)."""

    model: ToyModel
    cfg: ToyConfig
    losses: Tensor = field(repr=False)


def train_toy(cfg: ToyConfig, *, model_class: type[ToyModel] = ToyModel, steps: int = 5000,
              batch_size: int = 1024, lr: float = 1e-3, seed: int = 0, progress: bool = False
              ) -> ToyRun:
    """Train one toy model per instance of `cfg`, all at once (AdamW; the paper's setting
    is lr 1e-3, batch 1024, 10,000 steps). model_class: ToyModel or ReluHiddenModel.
    The same seed gives the same models.

    >>> cfg = ToyConfig(n_features=3, n_hidden=2, sparsity=(0.0,))
    >>> run = train_toy(cfg, steps=50)
    >>> bool(run.losses[-5:].mean() < run.losses[:5].mean())  # it learns
    True
    >>> torch.equal(train_toy(cfg, steps=50).model.W, run.model.W)  # seed 0 again: the same model
    True
    """
    model = model_class(cfg.n_features, cfg.n_hidden, cfg.n_instances, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed + 1)
    importance = cfg.importances
    losses = torch.empty(steps, cfg.n_instances)
    with one_thread():
        for step in tqdm(range(steps), disable=not progress, desc="toy models", unit="step"):
            x = generate_batch(cfg, batch_size, generator=g)
            per_instance = (importance * (x - model(x)) ** 2).sum(dim=-1).mean(dim=0)
            opt.zero_grad(set_to_none=True)
            per_instance.sum().backward()
            opt.step()
            losses[step] = per_instance.detach()
    return ToyRun(model.eval(), cfg, losses)


@torch.no_grad()
def expected_loss(run: ToyRun, *, n_samples: int = 20_000, seed: int = 2**31 - 5) -> Tensor:
    """(I,): each instance's loss on a fresh batch of n_samples examples (the same for
    every call): to compare models trained from different seeds.

    >>> run = train_toy(ToyConfig(n_features=3, n_hidden=2, sparsity=(0.0, 0.0)), steps=300)
    >>> untrained = ToyRun(ToyModel(3, 2, 2), run.cfg, run.losses)
    >>> bool((expected_loss(run) < expected_loss(untrained)).all())
    True
    """
    x = generate_batch(run.cfg, n_samples, generator=torch.Generator().manual_seed(seed))
    return (run.cfg.importances * (x - run.model(x)) ** 2).sum(dim=-1).mean(dim=0)


def best_of(run: ToyRun, repeats: int) -> Tensor:
    """Instances come in groups of `repeats` (the same setting, different starts); the
    index of the one with the lowest expected loss in each group, (I / repeats,).
    The paper shows the best of many runs: small toy models often stop in a worse
    arrangement.

    >>> run = train_toy(ToyConfig(3, 2, sparsity=(0.0, 0.0, 0.9, 0.9)), steps=20)
    >>> best_of(run, 2).tolist() in ([0, 2], [0, 3], [1, 2], [1, 3])
    True
    """
    loss = expected_loss(run)
    if len(loss) % repeats:
        raise ValueError(f"{len(loss)} instances do not split into groups of {repeats}")
    groups = loss.view(-1, repeats)
    return torch.arange(len(groups)) * repeats + groups.argmin(dim=1)


# --- the phase diagram: one extra feature ---------------------------------------------------

@dataclass
class PhaseDiagram:
    """Two features, one hidden dimension: what happens to the second, "extra" feature as
    its importance (the first's is 1) and the density 1 - S of both features change.

    density: (P,); importance: (R,); trained, theory: (R, P) phases, indices into
    PHASES (0 not represented, 1 a dedicated dimension, 2 superposition); W: (R, P, 2)
    the best trained model's weights.
    """

    density: Tensor
    importance: Tensor
    trained: Tensor
    theory: Tensor
    W: Tensor = field(repr=False)

    @property
    def agreement(self) -> float:
        """The share of cells where the trained models' phase is the theory's."""
        return float((self.trained == self.theory).float().mean())


def extra_feature_losses(density: Tensor, importance: Tensor) -> Tensor:
    """The expected loss of the three ways to store 2 features in 1 dimension, in closed
    form: (3, R, P) for importance (R,) and density (P,), in the order of PHASES.

    W = [1, 0] (drop the extra feature; its bias is set to its mean p/2): the extra
    feature's variance, r (p/3 - p^2/4). W = [0, 1] (drop the first): p/3 - p^2/4.
    W = [1, -1] (antipodal, bias 0): exact unless both are on (probability p^2); then
    ReLU(x_1 - x_2) and ReLU(x_2 - x_1) lose the smaller value in both features, and
    E[min(u, v)^2] = 1/6, so (1 + r) p^2 / 6.

    >>> losses = extra_feature_losses(torch.tensor([1.0, 0.01]), torch.tensor([0.5]))
    >>> losses.argmin(dim=0).tolist()  # dense: drop it; sparse: superposition
    [[0, 2]]
    """
    p, r = density[None, :], importance[:, None]
    variance = p / 3 - p**2 / 4
    return torch.stack([r * variance, variance.expand_as(r * p), (1 + r) * p**2 / 6])


def extra_feature_phases(density: Sequence[float], importance: Sequence[float], *,
                         repeats: int = 2, steps: int = 2000, batch_size: int = 256,
                         lr: float = 1e-2, seed: int = 0) -> PhaseDiagram:
    """Train `repeats` models (n = 2, m = 1) per cell of the grid importance x density, all
    at once, and keep each cell's best (lowest expected loss); its phase beside the
    theory's (the lowest of `extra_feature_losses`).

    >>> d = extra_feature_phases([1.0, 0.02], [0.3], steps=600)
    >>> d.trained.tolist(), d.theory.tolist()
    ([[0, 2]], [[0, 2]])
    """
    from interp_lib.superposition_measures import extra_feature_phase

    dens = torch.as_tensor(density, dtype=torch.float32)
    imp = torch.as_tensor(importance, dtype=torch.float32)
    cells = [(float(r), float(p)) for r in imp for p in dens for _ in range(repeats)]
    cfg = ToyConfig(n_features=2, n_hidden=1, sparsity=tuple(1 - p for _, p in cells),
                    feature_importance=tuple((1.0, r) for r, _ in cells))
    run = train_toy(cfg, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    best = best_of(run, repeats)
    W = run.model.W.detach()[best]  # (R * P, 1, 2)
    trained = extra_feature_phase(W).view(len(imp), len(dens))
    theory = extra_feature_losses(dens, imp).argmin(dim=0)
    return PhaseDiagram(dens, imp, trained, theory, W[:, 0].view(len(imp), len(dens), 2))


# --- figures -----------------------------------------------------------------------------

def plot_features_2d(W: Tensor, *, titles: Sequence[str] | None = None,
                     panel_inches: float = 2.2, colours: Sequence | None = None,
                     labels: Sequence[str] | None = None) -> plt.Figure:
    """For m = 2: each instance's feature directions W_i as arrows in the hidden plane,
    coloured by importance (dark: important), or by `colours` (one per feature).
    W: (I, 2, n), for example run.model.W. panel_inches: each panel's width in inches.
    labels: one name per feature, shown in a legend below the panels.

    >>> fig = plot_features_2d(ToyModel(5, 2, 2).W)
    >>> len(fig.axes), len(fig.axes[0].texts)  # a panel per instance, an arrow per feature
    (2, 5)
    """
    w = W.detach().cpu()
    if w.shape[1] != 2:
        raise ValueError(f"arrows in a plane need n_hidden = 2; this model has {w.shape[1]}")
    n_inst, _, n = w.shape
    fig, axes = plt.subplots(1, n_inst, figsize=(panel_inches * n_inst, panel_inches + 0.4), squeeze=False)
    if colours is None:
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
        ax.spines[:].set_visible(False)
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    if labels is not None:
        handles = [plt.Line2D([], [], color=colours[i], lw=2.5) for i in range(n)]
        fig.legend(handles, labels, loc="lower center", ncol=n, frameon=False, fontsize=10)
        fig.set_size_inches(fig.get_size_inches() + np.array([0.0, 0.35]))
        fig.tight_layout(rect=(0, 0.35 / fig.get_size_inches()[1], 1, 1))
        return fig
    fig.tight_layout()
    return fig


def plot_gram(W: Tensor, *, titles: Sequence[str] | None = None, panel_inches: float = 2.2
              ) -> plt.Figure:
    """Each instance's W^T W (n x n) as a heat map: the diagonal is how strongly each
    feature is represented, the off-diagonal their interference (red +, blue -).
    W: (I, m, n). panel_inches: each panel's width in inches.

    >>> fig = plot_gram(torch.eye(3)[None])
    >>> fig.axes[0].images[0].get_array().diagonal().tolist()  # three features, one dimension each
    [1.0, 1.0, 1.0]
    """
    w = W.detach().cpu()
    gram = torch.einsum("imn,imk->ink", w, w)
    n_inst = gram.shape[0]
    fig, axes = plt.subplots(1, n_inst, figsize=(panel_inches * n_inst, panel_inches + 0.4), squeeze=False)
    for k, ax in enumerate(axes[0]):
        ax.imshow(gram[k].numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    fig.tight_layout()
    # the scale stops at +-1, so squared lengths above 1 show as the deepest red
    fig.colorbar(axes[0][0].images[0], ax=axes[0].tolist(), fraction=0.02, pad=0.02)
    return fig
