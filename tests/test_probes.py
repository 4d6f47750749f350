"""Probes, control tasks, CAVs and TCAV, removing directions (interp_lib.probes)."""

import math
import warnings

import pytest
import torch
from scipy import stats

from interp_lib import hooks, probes, zoo
from interp_lib.organism import data
from interp_lib.organism.models import init_weights, tiny_net


@pytest.fixture(scope="module")
def batch():
    return data.make_batch(300, seed=11, size=32)


def state(model):
    return ([p.detach().clone() for p in model.parameters()], [p.grad for p in model.parameters()],
            [m.training for m in model.modules()],
            [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()])


def assert_untouched(model, before):
    params, grads, modes, n_hooks = state(model)
    assert all(torch.equal(a, b) for a, b in zip(before[0], params))
    assert all(g is None for g in grads)
    assert modes == before[2] and n_hooks == before[3]


# --- ground truth and control tasks -------------------------------------------------------------

def test_ground_truth_follows_the_parameters(batch):
    truth = probes.ground_truth(batch)
    p = batch.params
    lum = torch.tensor([0.299, 0.587, 0.114])
    one_tone = p["two_tone"] == 0
    brighter = p["fg"] @ lum > p["bg"] @ lum
    assert torch.equal(truth["polarity"][~one_tone], torch.full_like(truth["polarity"][~one_tone], 2))
    assert torch.equal(truth["polarity"][one_tone], (~brighter[one_tone]).long())
    curved = torch.tensor([data.CLASSES[k] in data.CURVED for k in batch.labels.tolist()])
    assert torch.equal(truth["curved"].bool(), curved)
    arcs = batch.labels == data.CLASSES.index("arc")
    angle = torch.atan2(truth["orientation"][arcs, 0], truth["orientation"][arcs, 1]) % (2 * math.pi)
    assert torch.allclose(angle, torch.deg2rad(p["angle"][arcs]) % (2 * math.pi), atol=1e-4)
    assert truth["orientation"][~arcs].isnan().all()


def test_shape_types_separate_classes_and_sizes(batch):
    types = probes.shape_types(batch, size_bins=3, angle_bins=4)
    for t in types.unique():
        rows = types == t
        assert len(batch.labels[rows].unique()) == 1
    size_bin = (types // 4) % 3
    r = batch.params["radius"]
    assert len(size_bin.unique()) == 3 and r[size_bin == 0].max() <= r[size_bin == 2].min()


def test_control_labels_are_consistent_per_type_and_follow_the_labels():
    g = torch.Generator().manual_seed(0)
    types = torch.randint(300, (3000,), generator=g)
    labels = (torch.rand(3000, generator=g) < 0.2).long()
    ctrl = probes.control_labels(types, labels, seed=1)
    per_type = []
    for t in types.unique():
        assert len(ctrl[types == t].unique()) == 1
        per_type.append(float(ctrl[types == t][0]))
    assert abs(sum(per_type) / len(per_type) - 0.2) < 0.07  # the labels' own distribution
    assert torch.equal(ctrl, probes.control_labels(types, labels, seed=1))
    assert not torch.equal(ctrl, probes.control_labels(types, labels, seed=2))


def test_control_labels_keep_undefined_rows_undefined():
    target = torch.tensor([[0.0, 1.0], [math.nan, math.nan], [1.0, 0.0], [0.5, 0.5]])
    ctrl = probes.control_labels(torch.tensor([0, 0, 1, 1]), target, seed=0)
    assert ctrl[1].isnan().all() and ctrl[[0, 2, 3]].isfinite().all()
    assert torch.equal(ctrl[2], ctrl[3])  # one donor per type, whole rows
    with pytest.raises(ValueError, match="one entry per image"):
        probes.control_labels(torch.zeros(3).long(), torch.zeros(4).long())


# --- probes -------------------------------------------------------------------------------------

def test_layer_features_are_spatial_means_in_the_order_asked(batch):
    net = tiny_net(seed=1).train()
    before = state(net)
    feats = probes.layer_features(net, batch.images, ["relu2", probes.PIXELS, net.relu1])
    assert list(feats) == ["relu2", "pixels", "relu1"]
    full = hooks.layer_activations(net, batch.images, "relu2")
    assert torch.allclose(feats["relu2"], full.mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(feats["pixels"], batch.images.mean(dim=(2, 3)))
    assert_untouched(net, before)


def test_train_split_is_seeded_and_sized():
    a = probes.train_split(100, test_fraction=0.25, seed=3)
    assert int((~a).sum()) == 25 and torch.equal(a, probes.train_split(100, test_fraction=0.25, seed=3))
    assert not torch.equal(a, probes.train_split(100, test_fraction=0.25, seed=4))
    with pytest.raises(ValueError, match="test_fraction"):
        probes.train_split(10, test_fraction=1.0)


def test_fit_probe_recovers_a_planted_direction_and_scores_held_out_rows():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=g)
    w = torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0])
    train = probes.train_split(600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence or deprecation warnings
        cat = probes.fit_probe(x, (x @ w > 0).long(), train=train)
        reg = probes.fit_probe(x, x @ w + 0.1 * torch.randn(600, generator=g), train=train)
    for p in (cat, reg):
        assert torch.cosine_similarity(p.directions[0], w, dim=0) > 0.95
        assert p.n_train == int(train.sum()) and p.n_test == int((~train).sum())
    assert cat.kind == "categorical" and cat.score > 0.9 and reg.kind == "continuous" and reg.score > 0.9
    noise = probes.fit_probe(x, torch.randint(2, (600,), generator=g), train=train)
    assert noise.train_score > noise.score and noise.score < 0.62  # held out: no memorised rows


def test_fit_probe_skips_undefined_rows_and_explains_bad_input():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 3, generator=g)
    y = x[:, :2].clone()
    y[::2] = math.nan
    p = probes.fit_probe(x, y, train=probes.train_split(200))
    assert p.n_train + p.n_test == 100 and p.directions.shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        probes.fit_probe(torch.randn(10, 3, 4, 4), torch.zeros(10).long(), train=probes.train_split(10))
    with pytest.raises(ValueError, match="one class only"):
        probes.fit_probe(x, torch.zeros(200).long(), train=probes.train_split(200))


def test_layer_scaler_keeps_the_layers_geometry():
    import numpy as np
    x = np.random.default_rng(0).normal(size=(50, 3)) * np.array([1.0, 5.0, 25.0])
    z = probes.LayerScaler().fit(x).transform(x)
    assert np.allclose(z.std(axis=0) / z.std(axis=0)[0], x.std(axis=0) / x.std(axis=0)[0])
    assert np.allclose(z.mean(axis=0), 0)


def test_probe_table_selectivity_is_real_minus_control(batch):
    feats = {"tiny": probes.layer_features(tiny_net(), batch.images, [probes.PIXELS, "relu2"])}
    truth = probes.ground_truth(batch)
    table = probes.probe_layers(feats, {"class": truth["class"], "size": truth["size"]},
                                types=probes.shape_types(batch))
    for prop in ("class", "size"):
        for layer in table.layers:
            key = ("tiny", prop, layer)
            assert table.selectivity(*key) == table.scores[key] - table.control[key]
    assert table.properties == {"class": "categorical", "size": "continuous"}
    assert table.directions[("tiny", "class", "relu2")].shape == (10, 8)


# --- CAVs and TCAV ------------------------------------------------------------------------------

def test_class_gradients_are_the_derivative_of_a_uniform_step():
    net = tiny_net(seed=2).train()
    before = state(net)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    v = torch.randn(6, generator=torch.Generator().manual_seed(4))
    v = v / v.norm()
    got = probes.directional_derivatives(net, x, 4, "relu1", v)
    assert_untouched(net, before)
    eps = 1e-3
    with hooks.eval_mode(net), torch.no_grad():
        with hooks.edit(net, "relu1", lambda a: a + eps * v.view(1, -1, 1, 1)):
            up = net(x)[:, 4]
        with hooks.edit(net, "relu1", lambda a: a - eps * v.view(1, -1, 1, 1)):
            down = net(x)[:, 4]
    assert torch.allclose(got, (up - down) / (2 * eps), atol=1e-3)


def test_tcav_scores_the_share_of_rising_logits_and_tests_against_random_cavs(batch):
    net = tiny_net(seed=0)
    cavs = probes.concept_cavs(net, batch.images[:40], [batch.images[40 + 40 * i:80 + 40 * i]
                                                       for i in range(4)], "relu1")
    assert cavs.concept.shape == (4, 6) and torch.allclose(cavs.concept.norm(dim=1), torch.ones(4))
    result = probes.tcav(net, batch.images[200:], 2, cavs)
    grads = probes.class_gradients(net, batch.images[200:], 2, "relu1")
    assert torch.allclose(result.scores, ((grads @ cavs.concept.T) > 0).float().mean(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when a sample is constant
        expected = stats.ttest_ind(result.scores.double().numpy(), result.random_scores.double().numpy())
    assert math.isnan(expected.pvalue) or abs(result.p_value - expected.pvalue) < 1e-6


def test_t_test_matches_scipy_and_handles_constant_samples():
    a, b = torch.tensor([0.2, 0.4, 0.3, 0.35]), torch.tensor([0.6, 0.7, 0.5])
    expected = stats.ttest_ind(a.double().numpy(), b.double().numpy()).pvalue
    assert abs(probes.two_sided_t_test(a, b) - expected) < 1e-9
    assert probes.two_sided_t_test(torch.ones(3), torch.ones(3)) == 1.0
    assert probes.two_sided_t_test(torch.ones(3), torch.zeros(3)) == 0.0


# --- removing directions ------------------------------------------------------------------------

def test_orthonormal_drops_directions_that_add_nothing():
    d = torch.tensor([[1.0, 0, 0], [1.0, 1.0, 0], [3.0, 2.0, 0]])
    q = probes.orthonormal(d)
    assert q.shape == (2, 3) and torch.allclose(q @ q.T, torch.eye(2), atol=1e-6)


def test_remove_directions_removes_the_span_and_keeps_the_rest():
    g = torch.Generator().manual_seed(5)
    acts = torch.randn(4, 6, 3, 3, generator=g)
    d = torch.randn(2, 6, generator=g)
    out = probes.remove_directions(acts, d)
    assert torch.einsum("nchw,kc->nkhw", out, d).abs().max() < 1e-4
    other = torch.linalg.svd(d, full_matrices=True).Vh[2:]  # directions orthogonal to d
    assert torch.allclose(torch.einsum("nchw,kc->nkhw", out, other),
                          torch.einsum("nchw,kc->nkhw", acts, other), atol=1e-5)
    mean = torch.randn(6, generator=g)
    kept = probes.remove_directions(acts, d, mean=mean)
    q = probes.orthonormal(d)
    assert torch.allclose(torch.einsum("nchw,kc->nkhw", kept, q),
                          (q @ mean).view(1, -1, 1, 1).expand(4, -1, 3, 3), atol=1e-5)


def test_project_out_edits_inside_the_block_only():
    net = tiny_net(seed=1)
    x = torch.rand(2, 3, 16, 16)
    w = net.fc.weight[:2].detach()
    with probes.project_out(net, "gap", w):
        _, acts = hooks.run_with_cache(net, x, "gap")
    assert (acts["gap"].flatten(1) @ probes.orthonormal(w).T).abs().max() < 1e-5
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0


def test_inlp_stops_at_chance_with_orthonormal_directions():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(800, 10, generator=g)
    y = (x[:, 0] - x[:, 1] + 0.5 * x[:, 2] > 0).long()
    r = probes.inlp(x, y, train=probes.train_split(800), n_iterations=6)
    assert r.scores[0] > 0.9 and r.scores[-1] <= r.chance + 0.02
    assert torch.allclose(r.directions @ r.directions.T, torch.eye(len(r.directions)), atol=1e-5)
    fixed = probes.inlp(x, y, train=probes.train_split(800), n_iterations=3, tolerance=None)
    assert len(fixed.directions) == 3 and len(fixed.scores) == 4


def test_amnesic_effect_hurts_where_the_network_reads_and_leaves_the_model_alone(batch):
    net = tiny_net(seed=0).train()
    before = state(net)
    labels = hooks.layer_activations(net, batch.images, "fc").argmax(1)
    classes = labels.unique()
    between = (net.fc.weight[classes[0]] - net.fc.weight[classes[1]]).detach()
    r = probes.amnesic_effect(net, batch.images, labels, "gap", {"read": between, "also": -between},
                              n_random=4)
    assert_untouched(net, before)
    assert r.accuracy() == 1.0 and r.accuracy("read") < 0.9
    assert r.random["read"] is r.random["also"]  # one random baseline per number of directions
    assert 0.0 <= r.variance["read"] <= 1.0 and r.random_variance["read"].shape == (4,)
    groups = torch.zeros(10, dtype=torch.long)
    assert r.accuracy("read", groups=groups) == 1.0  # one group: every answer is right


def test_unit_cosines():
    assert torch.allclose(probes.unit_cosines(torch.tensor([[3.0, 4.0], [0.0, -2.0]])),
                          torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="length 0"):
        probes.unit_cosines(torch.zeros(4))


# --- the organism -------------------------------------------------------------------------------

def test_class_is_decodable_from_the_trained_organism_not_from_its_untrained_twin():
    pool = data.make_batch(800, seed=data.FIT_SEED)
    trained = zoo.load("conv5-s0")
    twin = zoo.build("conv5-s0")
    init_weights(twin, seed=0)
    train = probes.train_split(len(pool))
    scores = {name: probes.fit_probe(probes.layer_features(m, pool.images, "relu4")["relu4"],
                                     pool.labels, train=train).score
              for name, m in (("trained", trained), ("untrained", twin.eval()))}
    assert scores["trained"] > 0.85 and scores["untrained"] < 0.4
