"""The toy models of superposition: what the chapter claims about them, tested."""

import torch

from interp_lib import superposition as sp
from interp_lib import superposition_measures as measures


def test_the_same_seed_gives_the_same_models():
    cfg = sp.ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.9))
    a = sp.train_toy(cfg, steps=100, seed=3).model.W
    b = sp.train_toy(cfg, steps=100, seed=3).model.W
    c = sp.train_toy(cfg, steps=100, seed=4).model.W
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_learners_toy_model_and_the_librarys_are_built_alike():
    from solutions.ch05_superposition import ReluHiddenModel, ToyModel
    for theirs, ours in ((ToyModel, sp.ToyModel), (ReluHiddenModel, sp.ReluHiddenModel)):
        assert torch.equal(theirs(20, 5, 3, seed=1).W, ours(20, 5, 3, seed=1).W)


def test_initial_scale_is_xavier_for_one_instance_whatever_the_number_of_instances():
    for n_instances in (10, 1000):  # the paper's code: std sqrt(2 / (m (n + I))), 0.115 and 0.02
        w = sp.ToyModel(20, 5, n_instances, seed=0).W
        assert abs(float(w.detach().std()) - (2 / 25) ** 0.5) < 0.02


def test_the_training_loop_leaves_the_thread_count_as_it_found_it():
    before = torch.get_num_threads()
    sp.train_toy(sp.ToyConfig(3, 2), steps=5)
    assert torch.get_num_threads() == before


def test_dense_features_keep_m_sparse_features_pack_more_than_m():
    # The intro setting: 5 features, 2 hidden dimensions, importance 0.9 ** i.
    cfg = sp.ToyConfig(n_features=5, n_hidden=2, sparsity=(0.0, 0.95), importance=0.9)
    model = sp.train_toy(cfg, steps=3000, seed=0).model
    kept = measures.n_represented(model)
    assert int(kept[0]) == 2, "with dense features only the two most important fit"
    assert int(kept[1]) > 2, "with sparse features more than m are packed in"
    norms = measures.feature_norms(model)[0]
    assert norms[:2].min() > 0.5 and norms[2:].max() < 0.5  # the *most important* two
    # Dense: two orthogonal features, a whole dimension each.
    assert abs(float(measures.dimensions_per_feature(model)[0]) - 1.0) < 0.1
    w = model.W.detach()[0]  # (m, n)
    assert abs(float(torch.nn.functional.cosine_similarity(w[:, 0], w[:, 1], dim=0))) < 0.1
    # Sparse: fewer dimensions per feature, paid for with interference.
    assert float(measures.dimensions_per_feature(model)[1]) < 0.9
    assert float(measures.interference(model)[1].max()) > 0.1


def test_feature_dimensionality_of_a_pentagon_is_two_fifths():
    angles = torch.arange(5) * 2 * torch.pi / 5
    model = sp.ToyModel(5, 2)
    with torch.no_grad():
        model.W.copy_(torch.stack([angles.cos(), angles.sin()])[None])
    assert torch.allclose(measures.feature_dimensionality(model), torch.full((1, 5), 0.4), atol=1e-5)
    assert torch.allclose(measures.dimensions_per_feature(model), torch.tensor([0.4]), atol=1e-5)


def test_the_loss_weights_features_by_importance():
    x = torch.ones(2, 1, 3)
    importance = torch.tensor([1.0, 0.5, 0.25])
    only_last_wrong = x.clone()
    only_last_wrong[..., 2] = 0
    only_first_wrong = x.clone()
    only_first_wrong[..., 0] = 0
    assert sp.importance_loss(x, only_last_wrong, importance) < sp.importance_loss(
        x, only_first_wrong, importance)


def test_correlation_changes_only_how_features_co_occur():
    g = torch.Generator().manual_seed(0)
    on = {c: generate_on(c, g) for c in sp.CORRELATIONS}
    for c, x in on.items():  # every feature keeps its probability, 0.2
        assert torch.allclose(x.mean(dim=0), torch.full((6,), 0.2), atol=0.02), c
    pair = {c: float((x[:, 0] * x[:, 1]).mean()) for c, x in on.items()}
    assert abs(pair["independent"] - 0.04) < 0.01  # 0.2 x 0.2
    assert abs(pair["correlated"] - 0.2) < 0.02  # always together
    assert pair["anticorrelated"] == 0.0  # never together
    across = float((on["correlated"][:, 1] * on["correlated"][:, 2]).mean())
    assert abs(across - 0.04) < 0.01  # different sets stay independent


def generate_on(correlation, g):
    cfg = sp.ToyConfig(6, 2, sparsity=(0.8,), correlation=correlation, set_size=2)
    return (sp.generate_batch(cfg, 20_000, generator=g)[:, 0] > 0).float()


def test_anticorrelated_features_pair_up_antipodally_correlated_ones_orthogonally():
    cos = {}
    for c in ("correlated", "anticorrelated"):
        cfg = sp.ToyConfig(4, 2, sparsity=(0.9,) * 4, importance=1.0, correlation=c)
        run = sp.train_toy(cfg, steps=1000, batch_size=512, lr=1e-2, seed=0)
        w = torch.nn.functional.normalize(run.model.W.detach()[sp.best_of(run, 4)[0]], dim=0)
        cos[c] = (float(w[:, 0] @ w[:, 1]), float(w[:, 2] @ w[:, 3]))
    assert all(v < -0.95 for v in cos["anticorrelated"])
    assert all(abs(v) < 0.2 for v in cos["correlated"])


def test_neurons_turn_polysemantic_as_features_get_sparse():
    cfg = sp.ToyConfig(6, 3, sparsity=(0.0,) * 3 + (0.95,) * 3, importance=0.75)
    run = sp.train_toy(cfg, model_class=sp.ReluHiddenModel, steps=1500, batch_size=512, lr=1e-2)
    poly = measures.neuron_polysemanticity(run.model)[sp.best_of(run, 3)]  # (2, m)
    assert float(poly[0].max()) < 1.2, "dense: one feature per neuron"
    assert float(poly[1].mean()) > 1.5, "sparse: neurons answer several features"


def test_the_closed_form_losses_match_the_loss_of_the_three_arrangements():
    density, importance = torch.tensor([0.8, 0.1]), torch.tensor([0.5, 2.0])
    theory = sp.extra_feature_losses(density, importance)  # (3, R, P)
    cells = [(float(r), float(p)) for r in importance for p in density]
    cfg = sp.ToyConfig(2, 1, sparsity=tuple(1 - p for _, p in cells),
                       feature_importance=tuple((1.0, r) for r, _ in cells))
    for k, (w, b) in enumerate((([1.0, 0.0], lambda p: [0.0, p / 2]), ([0.0, 1.0], lambda p: [p / 2, 0.0]),
                                ([1.0, -1.0], lambda p: [0.0, 0.0]))):
        model = sp.ToyModel(2, 1, len(cells))
        with torch.no_grad():
            model.W.copy_(torch.tensor(w).expand(len(cells), 1, 2))
            model.b.copy_(torch.tensor([b(p) for _, p in cells]))
        sampled = sp.expected_loss(sp.ToyRun(model, cfg, torch.empty(0)), n_samples=400_000)
        assert torch.allclose(sampled, theory[k].flatten(), rtol=0.03, atol=2e-4), sp.PHASES[k]


def test_trained_extra_features_follow_the_theory_away_from_its_boundaries():
    d = sp.extra_feature_phases([1.0, 0.05], [0.2, 5.0], repeats=2, steps=1500)
    assert d.theory.tolist() == [[0, 2], [1, 2]]
    assert d.trained.tolist() == d.theory.tolist()
    assert d.agreement == 1.0


def test_extra_feature_phase_reads_the_arrangement():
    W = torch.tensor([[[0.9, 0.1]], [[0.2, -1.1]], [[1.0, -0.9]], [[0.7, 0.7]], [[0.0, 0.0]]])
    assert measures.extra_feature_phase(W).tolist() == [0, 1, 2, 0, 0]


def test_sticky_share_counts_values_near_the_fractions_against_an_even_spread():
    near, even = measures.sticky_share(torch.tensor([0.5, 0.4, 0.375, 0.45, 0.3]))
    assert abs(near - 0.6) < 1e-6
    assert 0.15 < even < 0.3  # windows of 0.02 around 3/8, 2/5, 1/2 in a range 0.2 wide


def test_a_sparse_dictionary_finds_features_stored_in_superposition():
    g = torch.Generator().manual_seed(0)
    atoms = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=0)  # 16 in 8 dims
    codes = torch.rand(6000, 16, generator=g) * (torch.rand(6000, 16, generator=g) < 0.05)
    acts = codes @ atoms.T
    before = acts.clone()
    d = measures.train_dictionary(acts, 32, steps=1500)
    assert torch.equal(acts, before)
    best = (atoms.T @ d.decoder).abs().amax(dim=1)  # each true feature's closest atom
    assert int((best > 0.9).sum()) >= 14


def test_more_atoms_than_units_pay_off_only_when_features_outnumber_units():
    g = torch.Generator().manual_seed(1)
    planted = {
        "superposition": torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=0),
        "rotated basis": torch.linalg.qr(torch.randn(8, 8, generator=g))[0],
    }
    gain = {}
    for name, atoms in planted.items():
        n = atoms.shape[1]
        acts = (torch.rand(6000, n, generator=g) * (torch.rand(6000, n, generator=g) < 0.8 / n)) @ atoms.T
        as_many, more = (measures.train_dictionary(acts, k, steps=1000) for k in (8, 32))
        gain[name] = 1 - more.loss(acts) / as_many.loss(acts)
    assert gain["superposition"] > 0.15
    assert abs(gain["rotated basis"]) < 0.03


def test_an_identity_dictionary_tunes_like_the_channels():
    from interp_lib.organism.models import tiny_net
    from interp_lib.tuning import curve_tuning
    t = curve_tuning(tiny_net(), "relu2", size=32)
    c = t.by_stimulus.shape[0]
    identity = measures.SparseDictionary(torch.eye(c), torch.zeros(c), torch.eye(c), torch.zeros(c), 1.0,
                                          0.0)
    td = identity.tuning(t)
    assert torch.allclose(td.by_stimulus, t.by_stimulus.clamp_min(0), atol=1e-6)
    assert torch.allclose(td.lines.by_stimulus, t.lines.by_stimulus.clamp_min(0), atol=1e-6)
