"""The toy model of superposition: what the chapter claims about it, tested."""

import torch

from interp_lib import superposition as sp


def test_the_same_seed_gives_the_same_models():
    cfg = sp.ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.9))
    a = sp.train_toy(cfg, steps=100, seed=3).model.W
    b = sp.train_toy(cfg, steps=100, seed=3).model.W
    c = sp.train_toy(cfg, steps=100, seed=4).model.W
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_dense_features_keep_m_sparse_features_pack_more_than_m():
    # The intro setting: 5 features, 2 hidden dimensions, importance 0.9 ** i.
    cfg = sp.ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.95), importance=0.9)
    model = sp.train_toy(cfg, steps=3000, seed=0).model
    kept = sp.n_represented(model)
    assert int(kept[0]) == 2, "with dense features only the two most important fit"
    assert int(kept[1]) > 2, "with sparse features more than m are packed in"
    norms = sp.feature_norms(model)[0]
    assert norms[:2].min() > 0.5 and norms[2:].max() < 0.5  # the *most important* two
    # Dense: two orthogonal features, a whole dimension each.
    assert abs(float(sp.dimensions_per_feature(model)[0]) - 1.0) < 0.1
    w = model.W.detach()[0]  # (m, n)
    assert abs(float(torch.nn.functional.cosine_similarity(w[:, 0], w[:, 1], dim=0))) < 0.1
    # Sparse: fewer dimensions per feature, paid for with interference.
    assert float(sp.dimensions_per_feature(model)[1]) < 0.9
    assert float(sp.interference(model)[1].max()) > 0.1


def test_feature_dimensionality_of_a_pentagon_is_two_fifths():
    angles = torch.arange(5) * 2 * torch.pi / 5
    model = sp.ToyModel(sp.ToyConfig(n_features=5, n_hidden=2))
    with torch.no_grad():
        model.W.copy_(torch.stack([angles.cos(), angles.sin()])[None])
    assert torch.allclose(sp.feature_dimensionality(model), torch.full((1, 5), 0.4), atol=1e-5)
    assert torch.allclose(sp.dimensions_per_feature(model), torch.tensor([0.4]), atol=1e-5)


def test_the_loss_weights_features_by_importance():
    x = torch.ones(2, 1, 3)
    importance = torch.tensor([1.0, 0.5, 0.25])
    only_last_wrong = x.clone()
    only_last_wrong[..., 2] = 0
    only_first_wrong = x.clone()
    only_first_wrong[..., 0] = 0
    assert sp.importance_loss(x, only_last_wrong, importance) < sp.importance_loss(
        x, only_first_wrong, importance)
