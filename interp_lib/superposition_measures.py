"""Measures of superposition: in the toy models, and in a real network's layer.

In a toy model (`interp_lib.superposition`), W (I, m, n) says it all: how long
each feature's direction is (represented or dropped), how much the others leak
into it (interference), what share of a dimension it gets (dimensionality),
and, when the hidden layer has a ReLU and so has neurons, how many features
each neuron answers (polysemanticity).

In a real network the features are unknown. Two measures here: how much a
unit prefers one class (class selectivity, which is *not* a measure of
superposition), and a sparse dictionary of a layer's activations: directions,
possibly more of them than the layer has units, each active on few inputs,
which together rebuild the activations. If a layer stores more features than
it has units, such a dictionary is one way to find them.

    feature_dimensionality(model)   # (I, n)
    neuron_polysemanticity(model)   # (I, m), for a ReluHiddenModel
    d = train_dictionary(acts, n_atoms=192)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from interp_lib.superposition import STICKY_FRACTIONS, ToyModel, one_thread
from interp_lib.tuning import CurveTuning, LineTuning

# --- the toy models ----------------------------------------------------------------------------


def feature_norms(model: ToyModel) -> Tensor:
    """(I, n): ||W_i||, the length of each feature's direction. About 1: represented;
    about 0: dropped.

    >>> m = ToyModel(3, 2)
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))
    >>> feature_norms(m)
    tensor([[1., 1., 0.]])
    """
    return model.W.detach().norm(dim=1)


def interference(model: ToyModel) -> Tensor:
    """(I, n): for each feature i, sum over j != i of (W_i_hat . W_j)^2: how much the
    other features leak into feature i's direction. 0 when features are orthogonal,
    and 0 for a dropped feature (no direction to leak into).

    >>> m = ToyModel(2, 1)
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

    >>> m = ToyModel(2, 1)
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

    >>> m = ToyModel(3, 2)
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

    >>> m = ToyModel(3, 2)
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, 0.0, 0.1], [0.0, 1.0, 0.0]]]))
    >>> n_represented(m)
    tensor([2])
    """
    return (feature_norms(model) > threshold).sum(dim=1)


def nearest_sticky_fraction(d: Tensor, fractions: Sequence[float] = STICKY_FRACTIONS) -> Tensor:
    """Each value of d replaced by the nearest of `fractions` (1, 3/4, 2/3, 1/2, 2/5, 3/8).

    >>> nearest_sticky_fraction(torch.tensor([0.97, 0.52, 0.41]))
    tensor([1.0000, 0.5000, 0.4000])
    """
    fr = torch.tensor(list(fractions), dtype=d.dtype)
    return fr[(d[..., None] - fr).abs().argmin(dim=-1)]


def sticky_share(d: Tensor, *, window: float = 0.01, fractions: Sequence[float] = STICKY_FRACTIONS
                 ) -> tuple[float, float]:
    """How strongly the values d (a 1-D tensor of dimensionalities) gather at the sticky
    fractions: (the share within `window` of one, the share an even spread over the
    range where most of them lie, their 5th to 95th percentile, would give). The
    second is the control: near-misses are easy where the fractions are close
    together (2/5 and 3/8 are 0.025 apart), and a wide window covers everything.

    >>> near, even = sticky_share(torch.tensor([0.5, 0.5, 0.4, 0.4, 0.45]))
    >>> round(near, 2), round(even, 2)  # 4 of 5 gather; of an even spread from 0.4 to 0.5, 20%
    (0.8, 0.2)
    >>> [round(v, 2) for v in sticky_share(torch.tensor([0.5, 0.5, 0.4, 0.4, 0.45]), fractions=[0.5])]
    [0.4, 0.1]
    """
    if d.numel() == 0:
        raise ValueError("no dimensionalities to measure")
    d = d.float()
    near = float(((d - nearest_sticky_fraction(d, fractions)).abs() <= window).float().mean())
    lo, hi = (float(q) for q in d.quantile(torch.tensor([0.05, 0.95])))
    grid = torch.linspace(lo, hi, 100_001)
    even = float(((grid - nearest_sticky_fraction(grid, fractions)).abs() <= window).float().mean())
    return near, even


def neuron_polysemanticity(model: ToyModel) -> Tensor:
    """(I, m): how many features each neuron answers, for a model with neurons (a ReLU on
    its hidden layer). Neuron k answers feature j alone with activation W_kj where that
    is positive (a negative weight only silences it); with a_j = max(W_kj, 0)^2, the
    effective number of features is (sum_j a_j)^2 / sum_j a_j^2: 1 for a monosemantic
    neuron, k for one answering k features equally, 0 for one that no feature excites.

    >>> m = ToyModel(3, 3)
    >>> with torch.no_grad():
    ...     _ = m.W.copy_(torch.tensor([[[1.0, -2.0, 0.0], [0.7, 0.7, 0.0], [0.0, 0.0, -1.0]]]))
    >>> neuron_polysemanticity(m)  # one feature, two features, none
    tensor([[1., 2., 0.]])
    """
    a = model.W.detach().clamp_min(0) ** 2  # (I, m, n)
    total = a.sum(dim=-1)
    return torch.where(total > 0, total**2 / (a**2).sum(dim=-1).clamp_min(1e-24),
                       torch.zeros_like(total))


def extra_feature_phase(W: Tensor, threshold: float = 0.5) -> Tensor:
    """For models of 2 features in 1 dimension, W (I, 1, 2): what became of the second,
    "extra" feature, (I,) indices into superposition.PHASES: 0 not represented
    (||W_2|| <= threshold, or the first holds the dimension), 1 a dedicated
    dimension (the first feature dropped), 2 superposition (both represented,
    pointing opposite ways: an antipodal pair).

    >>> extra_feature_phase(torch.tensor([[[1.0, 0.0]], [[0.1, 1.0]], [[1.0, -1.0]]]))
    tensor([0, 1, 2])
    """
    if W.dim() != 3 or W.shape[1:] != (1, 2):
        raise ValueError(f"W should be (I, 1, 2): 2 features in 1 dimension; got {tuple(W.shape)}")
    w1, w2 = W[:, 0, 0], W[:, 0, 1]
    both = (w1.abs() > threshold) & (w2.abs() > threshold) & (w1 * w2 < 0)
    dedicated = (w2.abs() > threshold) & (w2.abs() > w1.abs())
    return torch.where(both, 2, torch.where(dedicated, 1, 0))


def plot_dimensionality(model: ToyModel, sparsity: Sequence[float], *, panel_inches: float = 4.0
                        ) -> plt.Figure:
    """The paper's figure: each represented feature's dimensionality D_i (dots; features
    with ||W_i|| <= 0.5 are left out) and the dimensions per feature m / ||W||_F^2
    (line, averaged over the models of each sparsity) against 1 / (1 - S), with the
    sticky fractions 1, 3/4, 2/3, 1/2, 2/5 and 3/8 marked; beside it, a histogram of
    the dimensionalities below 0.9 (the features in superposition).

    >>> fig = plot_dimensionality(ToyModel(5, 2, 2), [0.0, 0.9])
    >>> len(fig.axes)  # the scatter and the histogram
    2
    """
    d = feature_dimensionality(model).cpu()
    represented = feature_norms(model).cpu() > 0.5
    per = dimensions_per_feature(model).cpu()
    x = 1.0 / (1.0 - torch.tensor(list(sparsity), dtype=torch.float64))
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(2.2 * panel_inches, panel_inches), sharey=True,
                                   gridspec_kw=dict(width_ratios=(2.2, 1)))
    for fr, label in zip(STICKY_FRACTIONS, ("1", "3/4", "2/3", "1/2", "2/5", "3/8")):
        for a in (ax, hist):
            a.axhline(fr, color="0.8", lw=0.8, zorder=0)
        # 2/5 and 3/8 are 0.025 apart: their labels go on either side, to stay readable
        shift = {"2/5": 0.012, "3/8": -0.012}.get(label, 0.0)
        hist.text(1.02, fr + shift, label, va="center", fontsize=10, color="0.35",
                  transform=hist.get_yaxis_transform())
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
    # above the axes: inside, it would cover the lowest dots of the sparse models
    ax.legend(fontsize=10, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    shared = d[represented & (d < 0.9)].numpy()
    hist.hist(shared, bins=np.arange(0.0, 0.9, 0.01), orientation="horizontal", color="tab:blue")
    hist.set_xlabel("features in superposition")
    fig.tight_layout()
    return fig


# --- a real network: class selectivity ----------------------------------------------------------

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


# --- a real network: a sparse dictionary -------------------------------------------------------

@dataclass
class SparseDictionary:
    """A sparse dictionary (a sparse autoencoder) of a layer's activations a (N, C):
    codes f = ReLU(encoder (a / scale - centre) + bias), (N, K), few of them non-zero;
    a is rebuilt as scale * (decoder f + centre). Column k of decoder (C, K), unit
    length, is atom k's direction in the layer: its weight on each unit.
    """

    encoder: Tensor  # (K, C)
    bias: Tensor  # (K,)
    decoder: Tensor  # (C, K)
    centre: Tensor  # (C,)
    scale: float
    l1: float  # the price of a unit of code, in the loss it was trained on

    def encode(self, acts: Tensor) -> Tensor:
        """(N, C) activations -> (N, K) codes."""
        return torch.relu((acts / self.scale - self.centre) @ self.encoder.T + self.bias)

    def decode(self, codes: Tensor) -> Tensor:
        """(N, K) codes -> (N, C) activations."""
        return self.scale * (codes @ self.decoder.T + self.centre)

    @torch.no_grad()
    def loss(self, acts: Tensor) -> float:
        """The loss it was trained on, over acts (N, C): mean squared error (activations
        scaled to unit mean squared norm) + l1 * the mean sum of the codes. Lower is a
        better sparse description; comparable between dictionaries of one `l1`."""
        codes = self.encode(acts)
        error = (acts - self.decode(codes)) / self.scale
        return float(error.pow(2).sum(dim=1).mean() + self.l1 * codes.sum(dim=1).mean())

    @torch.no_grad()
    def active(self, acts: Tensor) -> float:
        """The mean number of atoms active (code > 0) per activation vector."""
        return float((self.encode(acts) > 0).float().sum(dim=1).mean())

    @torch.no_grad()
    def unexplained(self, acts: Tensor) -> float:
        """The share of the activations' variance the reconstruction misses."""
        error = (acts - self.decode(self.encode(acts))).pow(2).sum(dim=1).mean()
        return float(error / (acts - acts.mean(dim=0)).pow(2).sum(dim=1).mean().clamp_min(1e-12))

    def randomised(self, *, seed: int = 0) -> SparseDictionary:
        """A control: each atom's encoder row replaced by a random direction of the same
        length, biases and centre kept. Whatever such directions pass, a test cannot
        credit to the dictionary."""
        g = torch.Generator().manual_seed(seed)
        rows = torch.nn.functional.normalize(torch.randn(self.encoder.shape, generator=g), dim=1)
        return SparseDictionary(rows * self.encoder.norm(dim=1, keepdim=True), self.bias,
                                self.decoder, self.centre, self.scale, self.l1)

    def tuning(self, t: CurveTuning) -> CurveTuning:
        """The curve tuning of the atoms, from a layer's curve tuning `t` (C channels):
        every stimulus's response vector, at the centre position, encoded. Its
        curve_detectors() are atoms, not channels.
        """
        def codes(r: Tensor) -> Tensor:  # (C, ...) -> (K, ...)
            return self.encode(r.reshape(r.shape[0], -1).T).T.reshape(-1, *r.shape[1:])

        lines = LineTuning(t.lines.layer, t.lines.angles, codes(t.lines.by_stimulus))
        return CurveTuning(t.layer, t.orientations, t.radii, codes(t.by_stimulus), lines, t.centre)


def planted_activations(directions: Tensor, n_samples: int, *, active: float = 0.8,
                        seed: int = 0) -> Tensor:
    """Activations (n_samples, C) built from F known sparse features: feature f, with
    direction directions[:, f] (C, F), is on with probability active / F (on
    average `active` features per sample), uniform in [0, 1] when on. With F > C the
    features are in superposition: a known answer to test a measure on.

    >>> acts = planted_activations(torch.eye(3), 1000)  # each feature along its own unit
    >>> round(float((acts > 0).float().sum(dim=1).mean()), 1)  # `active`: 0.8 features on per sample
    0.8
    >>> d = torch.tensor([[1.0, 0.0, 0.6], [0.0, 1.0, 0.8]])  # 3 features in 2 units
    >>> torch.equal(planted_activations(d, 1000), acts @ d.T)  # the same codes, superposed
    True
    """
    g = torch.Generator().manual_seed(seed)
    n_features = directions.shape[1]
    on = torch.rand(n_samples, n_features, generator=g) < active / n_features
    return (torch.rand(n_samples, n_features, generator=g) * on) @ directions.T


def train_dictionary(acts: Tensor, n_atoms: int, *, l1: float = 0.3, steps: int = 1500,
                     batch_size: int = 512, lr: float = 1e-2, seed: int = 0) -> SparseDictionary:
    """Fit a sparse dictionary of n_atoms atoms to activations acts (N, C): minimise
    ||a - a'||^2 + l1 * sum_k f_k (Adam; activations scaled to unit mean squared
    norm; decoder columns kept at unit length, so that the codes cannot shrink to
    dodge the penalty). acts is not changed. The same seed gives the same dictionary.

    If a layer stores more sparse features than it has units, a dictionary with more
    atoms than units describes it better (a lower loss) than one with as many:

    >>> g = torch.Generator().manual_seed(0)
    >>> atoms = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=0)
    >>> codes = torch.rand(4000, 16, generator=g) * (torch.rand(4000, 16, generator=g) < 0.05)
    >>> acts = codes @ atoms.T  # 16 sparse features in 8 dimensions
    >>> as_many, more = train_dictionary(acts, 8, steps=800), train_dictionary(acts, 32, steps=800)
    >>> bool(more.loss(acts) < 0.85 * as_many.loss(acts))
    True
    """
    if acts.dim() != 2 or len(acts) < batch_size:
        raise ValueError(f"acts should be (N, C) with N >= batch_size ({batch_size}); "
                         f"got {tuple(acts.shape)}")
    g = torch.Generator().manual_seed(seed)
    scale = float(acts.pow(2).sum(dim=1).mean().sqrt().clamp_min(1e-12))
    x_all = acts.detach().float() / scale
    decoder = torch.nn.functional.normalize(torch.randn(acts.shape[1], n_atoms, generator=g), dim=0)
    decoder.requires_grad_(True)
    encoder = decoder.detach().T.clone().requires_grad_(True)
    bias = torch.zeros(n_atoms, requires_grad=True)
    centre = x_all.mean(dim=0).clone().requires_grad_(True)
    opt = torch.optim.Adam([encoder, bias, decoder, centre], lr=lr)
    with one_thread():
        for _ in range(steps):
            x = x_all[torch.randint(len(x_all), (batch_size,), generator=g)]
            f = torch.relu((x - centre) @ encoder.T + bias)
            loss = (x - f @ decoder.T - centre).pow(2).sum(dim=1).mean() + l1 * f.sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                decoder /= decoder.norm(dim=0, keepdim=True).clamp_min(1e-12)
    return SparseDictionary(encoder.detach(), bias.detach(), decoder.detach(), centre.detach(), scale,
                            l1)
