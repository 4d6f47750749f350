import torch
from torch import nn

from interp_lib import superposition, superposition_measures


class _Base(nn.Module):
    def __init__(self, n_features, n_hidden, n_instances=1, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        scale = (2.0 / (n_hidden + n_features)) ** 0.5
        self.W = nn.Parameter(torch.randn(n_instances, n_hidden, n_features, generator=g) * scale)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))


class _ReluOnHidden(_Base):
    def forward(self, x):
        h = torch.relu(torch.einsum("imn,bin->bim", self.W, x))
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)


class _NoOutputRelu(_Base):
    def forward(self, x):
        h = torch.einsum("imn,bin->bim", self.W, x)
        return torch.einsum("imn,bim->bin", self.W, h) + self.b


class _NoBias(_Base):
    def forward(self, x):
        h = torch.einsum("imn,bin->bim", self.W, x)
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h))


class _RenamedParameters(nn.Module):
    def __init__(self, n_features, n_hidden, n_instances=1, seed=0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_instances, n_hidden, n_features) * 0.5)
        self.bias = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, x):
        h = torch.einsum("imn,bin->bim", self.weight, x)
        return torch.relu(torch.einsum("imn,bim->bin", self.weight, h) + self.bias)


class _DetachedWeights(_Base):
    def forward(self, x):
        W = self.W.detach()  # no gradient reaches W: the model cannot learn
        h = torch.einsum("imn,bin->bim", W, x)
        return torch.relu(torch.einsum("imn,bim->bin", W, h) + self.b)


class _ClampsInput(_Base):
    def forward(self, x):
        x /= x.amax().clamp_min(1e-12)  # "normalises" the caller's batch
        h = torch.einsum("imn,bin->bim", self.W, x)
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)


def _sparse(use_sparsity=False, shared=False, gaussian=False, global_rng=False, coin=None):
    def features(batch_size, n_features, p, generator):
        shape = (batch_size, len(p), n_features)
        values = torch.randn(shape, generator=generator).abs() if gaussian else \
            torch.rand(shape, generator=generator)
        if shared:
            on = torch.rand(shape, generator=generator) < p.mean()
        elif coin is not None:  # one coin for several features: they switch on together
            on = torch.rand(coin(batch_size, len(p)), generator=generator) < p[None, :, None]
        else:
            prob = (1 - p) if use_sparsity else p
            rand = torch.rand(shape) if global_rng else torch.rand(shape, generator=generator)
            on = rand < prob[None, :, None]
        return torch.where(on, values, torch.zeros(()))
    return features


def _dimensionality(normalise=True, guard=True):
    def dims(W):
        norms = W.norm(dim=1)
        unit = W / norms[:, None].clamp_min(1e-8) if normalise else W
        if not guard:
            unit = W / norms[:, None]
        overlap = (torch.einsum("imj,imk->ijk", unit, W) ** 2).sum(-1)
        return norms**2 / overlap if not guard else torch.where(
            norms > 1e-3, norms**2 / overlap.clamp_min(1e-12), torch.zeros_like(norms))
    return dims


def _dimensionality_excludes_self(W):
    norms = W.norm(dim=1)
    unit = W / norms[:, None].clamp_min(1e-8)
    overlap = torch.einsum("imj,imk->ijk", unit, W) ** 2
    overlap = overlap.sum(-1) - overlap.diagonal(dim1=1, dim2=2)
    return torch.where(norms > 1e-3, norms**2 / overlap.clamp_min(1e-12), torch.zeros_like(norms))


def _selectivity(include_top=False, guard=True):
    def sel(m):
        top = m.amax(dim=1)
        rest = m.mean(dim=1) if include_top else (m.sum(dim=1) - top) / (m.shape[1] - 1)
        if not guard:
            return (top - rest) / (top + rest)
        return torch.where(top + rest > 0, (top - rest) / (top + rest).clamp_min(1e-12),
                           torch.zeros_like(top))
    return sel


def _selectivity_in_place(m):
    m /= m.amax(dim=1, keepdim=True).clamp_min(1e-12)  # normalises the caller's table
    return _selectivity()(m)


def _loss_subtracts_in_place(x, x_hat, importance):
    x -= x_hat  # the caller's batch becomes the error
    return (importance * x**2).sum(dim=-1).mean(dim=0).sum()


def _dims_squares_in_place(W):
    return W.shape[1] / W.pow_(2).sum(dim=(1, 2))  # squares the caller's weights


class _NoHiddenRelu(_Base):  # the first toy model, submitted as the second
    def forward(self, x):
        h = torch.einsum("imn,bin->bim", self.W, x)
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)


class _HiddenReluNoOutputRelu(_Base):
    def forward(self, x):
        h = torch.relu(torch.einsum("imn,bin->bim", self.W, x))
        return torch.einsum("imn,bim->bin", self.W, h) + self.b


class _HiddenReluNoBias(_Base):
    def forward(self, x):
        h = torch.relu(torch.einsum("imn,bin->bim", self.W, x))
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h))


class _HiddenReluOnInput(_Base):
    def forward(self, x):
        x /= x.amax().clamp_min(1e-12)  # "normalises" the caller's batch
        h = torch.relu(torch.einsum("imn,bin->bim", self.W, x))
        return torch.relu(torch.einsum("imn,bim->bin", self.W, h) + self.b)


class _HiddenReluDetached(_Base):
    def forward(self, x):
        h = torch.relu(torch.einsum("imn,bin->bim", self.W.detach(), x))
        return torch.relu(torch.einsum("imn,bim->bin", self.W.detach(), h) + self.b)


def _interference(self_term=False, normalise=True, square=True, guard=True):
    def leak(W):
        norms = W.norm(dim=1, keepdim=True)
        unit = W / (norms.clamp_min(1e-8) if guard else norms) if normalise else W
        overlap = torch.einsum("imj,imk->ijk", unit, W)
        overlap = overlap**2 if square else overlap
        total = overlap.sum(-1)
        return total if self_term else total - overlap.diagonal(dim1=1, dim2=2)
    return leak


def _interference_normalises_in_place(W):
    W /= W.norm(dim=1, keepdim=True).clamp_min(1e-8)  # the caller's W, made unit length
    overlap = torch.einsum("imj,imk->ijk", W, W) ** 2
    return overlap.sum(-1) - overlap.diagonal(dim1=1, dim2=2)


def _polysemanticity(part=lambda W: W.clamp_min(0), square=True, guard=True, dim=-1):
    def poly(W):
        a = part(W) ** 2 if square else part(W)
        total = a.sum(dim=dim)
        if not guard:
            return total**2 / (a**2).sum(dim=dim)
        return torch.where(total > 0, total**2 / (a**2).sum(dim=dim).clamp_min(1e-24),
                           torch.zeros_like(total))
    return poly


def _polysemanticity_in_place(W):
    a = W.clamp_(min=0) ** 2  # clamps the caller's weights
    total = a.sum(-1)
    return torch.where(total > 0, total**2 / (a**2).sum(-1).clamp_min(1e-24), torch.zeros_like(total))


MUTANTS = {
    "ToyModel": [
        ("ReLU on the hidden layer", _ReluOnHidden),
        ("no ReLU on the output", _NoOutputRelu),
        ("bias left out", _NoBias),
        ("parameters renamed", _RenamedParameters),
        ("no gradient: the weights are detached", _DetachedWeights),
        ("side effect: normalises the caller's batch in place", _ClampsInput),
    ],
    "importance_loss": [
        ("side effect: x - x_hat computed in the caller's x", _loss_subtracts_in_place),
        ("mean over features", lambda x, xh, imp: (imp * (x - xh) ** 2).mean(-1).mean(0).sum()),
        ("importance squared", lambda x, xh, imp: (imp**2 * (x - xh) ** 2).sum(-1).mean(0).sum()),
        ("importance ignored", lambda x, xh, imp: ((x - xh) ** 2).sum(-1).mean(0).sum()),
        ("mean over instances", lambda x, xh, imp: (imp * (x - xh) ** 2).sum(-1).mean()),
        ("no gradient: computed on detached values", lambda x, xh, imp: (
            imp * (x - xh.detach()) ** 2).sum(-1).mean(0).sum()),
    ],
    "sparse_features": [
        ("sparsity and probability swapped", _sparse(use_sparsity=True)),
        ("one probability for every instance", _sparse(shared=True)),
        ("values not uniform in [0, 1]", _sparse(gaussian=True)),
        ("hard-coded: ignores the generator", _sparse(global_rng=True)),
        ("one on/off coin per example: all features correlated",
         _sparse(coin=lambda b, i: (b, 1, 1))),
        ("one coin per example and instance: an instance's features correlated",
         _sparse(coin=lambda b, i: (b, i, 1))),
    ],
    "interference": [
        ("the feature's overlap with itself kept", _interference(self_term=True)),
        ("W_j not normalised", _interference(normalise=False)),
        ("overlaps not squared", _interference(square=False)),
        ("edge: NaN for a dropped feature", _interference(guard=False)),
        ("side effect: normalises the caller's W in place", _interference_normalises_in_place),
    ],
    "dimensions_per_feature": [
        ("side effect: squares the caller's W in place", _dims_squares_in_place),
        ("||W||_F not squared", lambda W: W.shape[1] / W.pow(2).sum(dim=(1, 2)).sqrt()),
        ("n instead of m", lambda W: W.shape[2] / W.pow(2).sum(dim=(1, 2))),
        ("one value for all instances", lambda W: (W.shape[1] / W.pow(2).sum()).expand(W.shape[0])),
    ],
    "feature_dimensionality": [
        ("W_j not normalised", _dimensionality(normalise=False)),
        ("edge: NaN for dropped features", _dimensionality(guard=False)),
        ("the feature itself left out of the sum", _dimensionality_excludes_self),
    ],
    "ReluHiddenModel": [
        ("no ReLU on the hidden layer (the first toy model)", _NoHiddenRelu),
        ("no ReLU on the output", _HiddenReluNoOutputRelu),
        ("bias left out", _HiddenReluNoBias),
        ("no gradient: the weights are detached", _HiddenReluDetached),
        ("side effect: normalises the caller's batch in place", _HiddenReluOnInput),
    ],
    "neuron_polysemanticity": [
        ("negative weights counted (|W| instead of the positive part)", _polysemanticity(
            part=torch.abs)),
        ("weights not squared", _polysemanticity(square=False)),
        ("edge: NaN for a neuron no feature excites", _polysemanticity(guard=False)),
        ("over the neurons instead of the features", _polysemanticity(dim=-2)),
        ("side effect: clamps the caller's W in place", _polysemanticity_in_place),
    ],
    "class_selectivity": [
        ("top class included in the rest", _selectivity(include_top=True)),
        ("edge: NaN for a silent unit", _selectivity(guard=False)),
        ("side effect: normalises the caller's table in place", _selectivity_in_place),
        ("hard-coded: 4 classes", lambda m: torch.where(
            m.amax(1) > 0, (m.amax(1) - (m.sum(1) - m.amax(1)) / 3)
            / (m.amax(1) + (m.sum(1) - m.amax(1)) / 3).clamp_min(1e-12), torch.zeros(m.shape[0]))),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

class _PerExampleLoop(_Base):
    def forward(self, x):
        rows = []
        for k in range(x.shape[0]):  # one example at a time
            h = torch.einsum("imn,in->im", self.W, x[k])
            rows.append(torch.relu(torch.einsum("imn,im->in", self.W, h) + self.b))
        return torch.stack(rows)


class _ReluHiddenPerExample(_Base):
    def forward(self, x):
        rows = []
        for k in range(x.shape[0]):
            h = torch.relu(torch.einsum("imn,in->im", self.W, x[k]))
            rows.append(torch.relu(torch.einsum("imn,im->in", self.W, h) + self.b))
        return torch.stack(rows)


class _LibrarySubclass(superposition.ToyModel):
    pass  # forward inherited from the library


class _LibraryForward(_Base):
    hidden = superposition.ToyModel.hidden

    def forward(self, x):
        return superposition.ToyModel.forward(self, x)


class _LibraryInside(_Base):
    def forward(self, x):
        lib = superposition.ReluHiddenModel(x.shape[2], self.W.shape[1], x.shape[1])
        del lib.W, lib.b
        lib.W, lib.b = self.W, self.b
        return lib(x)


def _sparse_per_element(batch_size, n_features, p, generator):
    out = torch.zeros(batch_size, len(p), n_features)
    for b in range(batch_size):
        for i in range(len(p)):
            for j in range(n_features):
                if torch.rand((), generator=generator) < p[i]:
                    out[b, i, j] = torch.rand((), generator=generator)
    return out


def _sparse_values(draw):
    def sparse(batch_size, n_features, p, generator):
        shape = (batch_size, len(p), n_features)
        on = torch.rand(shape, generator=generator) < p[None, :, None]
        return torch.where(on, draw(shape, generator), torch.zeros(()))
    return sparse


def _sparse_library(batch_size, n_features, p, generator):
    cfg = superposition.ToyConfig(n_features, sparsity=tuple((1 - p).tolist()))
    return superposition.generate_batch(cfg, batch_size, generator=generator)


def _dimensionality(guard="exact"):
    def dims(W):
        norms = W.norm(dim=1)
        unit = W / norms[:, None].clamp_min(1e-12)
        overlap = (torch.einsum("imj,imk->ijk", unit, W) ** 2).sum(-1)
        if guard == "exact":  # 0 only for a feature that is exactly 0
            return torch.where(norms > 0, norms**2 / overlap.clamp_min(1e-30), torch.zeros_like(norms))
        signed = torch.einsum("imj,imk->ijk", unit, W).sum(-1)  # overlaps not squared
        return torch.where(norms > 1e-3, norms**2 / signed, torch.zeros_like(norms))
    return dims


def _polysemanticity_per_feature(W):
    a = W.clamp_min(0) ** 2
    total = a.sum(dim=1)  # over neurons: a column, not a row
    return torch.where(total > 0, total**2 / (a**2).sum(dim=1).clamp_min(1e-24), torch.zeros_like(total))


def _selectivity(rest="mean", denominator="sum", numpy=False):
    def selectivity(class_means):
        if numpy:
            import numpy as np
            m = class_means.numpy()  # a table that requires grad cannot go to numpy
            top = np.max(m, axis=1)
            result = (top - (m.sum(1) - top) / (m.shape[1] - 1))
            total = top + (m.sum(1) - top) / (m.shape[1] - 1)
            return torch.as_tensor(np.where(total > 0, result / np.maximum(total, 1e-12), 0.0))
        top = class_means.amax(dim=1)
        if rest == "mean":
            others = (class_means.sum(dim=1) - top) / (class_means.shape[1] - 1)
        else:
            others = class_means.amin(dim=1)
        total = top + others if denominator == "sum" else top
        return torch.where(total > 0, (top - others) / total.clamp_min(1e-12), torch.zeros_like(top))
    return selectivity


MUTANTS["ToyModel"] += [
    ("[cost] a Python loop over the examples of the batch", _PerExampleLoop, "slower than the reference"),
    ("[learner] subclasses the library's ToyModel", _LibrarySubclass, "subclasses the library's"),
    ("[learner] calls the library's forward", _LibraryForward, "superposition.ToyModel"),
]
MUTANTS["ReluHiddenModel"] += [
    ("[cost] a Python loop over the examples of the batch", _ReluHiddenPerExample,
     "slower than the reference"),
    ("[learner] runs the library's ReluHiddenModel inside", _LibraryInside, "the library's own"),
]
MUTANTS["importance_loss"] += [
    ("[learner] the library's importance_loss", lambda x, xh, imp: superposition.importance_loss(x, xh, imp),
     "superposition.importance_loss"),
    ("[message] absolute errors", lambda x, xh, imp: (imp * (x - xh).abs()).sum(-1).mean(0).sum(),
     "squared error"),
    ("[message] summed over the batch", lambda x, xh, imp: (imp * (x - xh) ** 2).sum(), "average over it"),
]
MUTANTS["sparse_features"] += [
    ("[cost] a Python loop over examples and features", _sparse_per_element, "slower than the reference"),
    ("[distribution] values the mean of two uniform draws",
     _sparse_values(lambda s, g: (torch.rand(s, generator=g) + torch.rand(s, generator=g)) / 2),
     "uniform in [0, 1]"),
    ("[distribution] every feature that is on is 0.5", _sparse_values(lambda s, g: torch.full(s, 0.5)),
     "uniform in [0, 1]"),
    ("[learner] the library's generate_batch", _sparse_library, "superposition.generate_batch"),
]
MUTANTS["interference"] += [
    ("[learner] the library's interference", lambda W: superposition_measures.interference(_as_model(W)),
     "superposition_measures.interference"),
]
MUTANTS["dimensions_per_feature"] += [
    ("[learner] the library's dimensions_per_feature",
     lambda W: superposition_measures.dimensions_per_feature(_as_model(W)), "the library's own"),
    ("[message] the mean of the squares, not their sum", lambda W: W.shape[1] / W.pow(2).mean(dim=(1, 2)),
     "times the right ones"),
]
MUTANTS["feature_dimensionality"] += [
    ("[wild] a feature of length 1e-5 kept (tested against exactly 0)", _dimensionality("exact"),
     "length 1e-5"),
    ("[message] overlaps not squared", _dimensionality("not squared"), "did not square"),
    ("[learner] the library's feature_dimensionality",
     lambda W: superposition_measures.feature_dimensionality(_as_model(W)), "the library's own"),
]
MUTANTS["neuron_polysemanticity"] += [
    ("[message] per feature (columns) instead of per neuron", _polysemanticity_per_feature,
     "a neuron is a row"),
    ("[learner] the library's neuron_polysemanticity",
     lambda W: superposition_measures.neuron_polysemanticity(_as_model(W)), "the library's own"),
]
MUTANTS["class_selectivity"] += [
    ("[wild] numpy on a table that requires grad", _selectivity(numpy=True), "requires grad"),
    ("[message] divided by the top class alone", _selectivity(denominator="top"), "top + rest"),
    ("[message] the lowest class as the rest", _selectivity(rest="lowest"), "mean over all"),
    ("[learner] the library's class_selectivity",
     lambda m: superposition_measures.class_selectivity(m), "the library's own"),
]


def _as_model(W):
    model = superposition.ToyModel(W.shape[2], W.shape[1], W.shape[0])
    with torch.no_grad():
        model.W.copy_(W)
    return model


# Fresh wrong answers, round 3 (issue 21), now caught.
def _dimensionality_norm_threshold(W):
    norms = W.norm(dim=1)
    unit = W / norms[:, None].clamp_min(1e-8)
    overlap = (torch.einsum("imj,imk->ijk", unit, W) ** 2).sum(dim=-1)
    return torch.where(norms > 0.5, norms**2 / overlap.clamp_min(1e-12), torch.zeros_like(norms))


MUTANTS["feature_dimensionality"] += [
    ("[fresh] features shorter than 0.5 counted as dropped", _dimensionality_norm_threshold,
     "threshold the norm"),
]


def _dimensionality_squared_threshold(W):
    norms = W.norm(dim=1)
    unit = W / norms[:, None].clamp_min(1e-8)
    overlap = (torch.einsum("imj,imk->ijk", unit, W) ** 2).sum(dim=-1)
    return torch.where(norms**2 > 1e-3, norms**2 / overlap.clamp_min(1e-12), torch.zeros_like(norms))


MUTANTS["feature_dimensionality"] += [
    ("[fresh] the cut made on the squared norm: short features dropped", _dimensionality_squared_threshold,
     "threshold the norm"),
]

