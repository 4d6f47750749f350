import numpy as np
import pytest
import torch

from interp_lib import hooks, similarity as sim
from interp_lib.organism.models import tiny_net
from interp_lib.similarity.cka import _median


@pytest.fixture(scope="module")
def published():
    """Kornblith et al.'s check case: X ~ N(0, 1) (100 x 10), Y = X + N(0, 1)."""
    rng = np.random.RandomState(1337)
    x = rng.randn(100, 10)
    y = rng.randn(100, 10) + x
    return torch.tensor(x), torch.tensor(y)


def test_published_check_values(published):
    x, y = published
    assert sim.linear_cka(x, y) == pytest.approx(0.55761, abs=5e-6)
    assert sim.linear_cka_gram(x, y) == pytest.approx(0.55761, abs=5e-6)
    # Published to five places: the tolerance is half a unit in the last one, so a
    # lower-middle median (torch.median: 0.65485) fails where numpy's mean of the two passes.
    assert sim.rbf_cka(x, y, threshold=0.5) == pytest.approx(0.65483, abs=5e-6)
    assert sim.debiased_cka(x, y) == pytest.approx(0.51346, abs=5e-6)
    assert sim.mean_squared_cca(x, y, centre=False) == pytest.approx(0.54312, abs=5e-6)


def test_the_rbf_bandwidth_uses_numpys_median_of_all_squared_distances(published):
    # Kornblith et al.'s demo: sigma^2 = threshold^2 * np.median(squared distances), over all
    # n^2 entries; for an even count numpy averages the two middle values.
    x, _ = published
    assert _median(torch.tensor([4.0, 1.0, 3.0, 2.0])) == 2.5
    assert _median(torch.tensor([4.0, 1.0, 3.0])) == 3.0
    xn = x.numpy()
    sq = ((xn[:, None, :] - xn[None, :, :]) ** 2).sum(-1)
    assert float(_median(torch.tensor(sq))) == pytest.approx(np.median(sq), rel=1e-12)
    reference = np.exp(-sq / (2 * 0.5**2 * np.median(sq)))
    assert np.allclose(sim.rbf_gram(x, threshold=0.5).numpy(), reference, rtol=1e-10)


def test_feature_and_gram_forms_agree_on_wide_and_tall_data():
    g = torch.Generator().manual_seed(0)
    for n, p1, p2 in ((50, 3, 7), (12, 300, 40)):
        x = torch.randn(n, p1, generator=g, dtype=torch.float64)
        y = torch.randn(n, p2, generator=g, dtype=torch.float64) + x[:, :1]
        assert sim.linear_cka(x, y) == pytest.approx(sim.linear_cka_gram(x, y), abs=1e-10)


def random_orthogonal(p, g):
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    return q


def test_invariances_of_cka_and_cca(published):
    x, y = published
    g = torch.Generator().manual_seed(1)
    base = sim.linear_cka(x, y)
    q = random_orthogonal(10, g)
    assert sim.linear_cka(x @ q, y) == pytest.approx(base, abs=1e-10)  # rotation
    assert sim.linear_cka(7.5 * x, y) == pytest.approx(base, abs=1e-10)  # isotropic scale
    stretch = torch.diag(torch.logspace(-2, 2, 10, dtype=torch.float64)) @ q  # invertible
    assert abs(sim.linear_cka(x @ stretch, y) - base) > 0.05  # CKA notices
    assert sim.mean_squared_cca(x @ stretch, y) == pytest.approx(sim.mean_squared_cca(x, y),
                                                                abs=1e-8)  # CCA does not
    # Why that matters: any invertible map of X is "identical" to X for CCA.
    assert sim.mean_squared_cca(x, x @ stretch) == pytest.approx(1.0, abs=1e-8)
    assert sim.linear_cka(x, x @ stretch) < 0.5


def test_one_outlier_unit_can_move_cka():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(200, 20, generator=g, dtype=torch.float64)
    y = x + 0.5 * torch.randn(200, 20, generator=g, dtype=torch.float64)
    before = sim.linear_cka(x, y)
    loud = x.clone()
    loud[:, 0] *= 30  # one unit with a huge scale dominates the Gram matrix
    assert before > 0.7 and sim.linear_cka(loud, y) < before - 0.3


def test_svcca_and_pwcca_are_1_for_linearly_related_representations_and_lower_for_noise():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(80, 6, generator=g, dtype=torch.float64)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    assert sim.svcca(x, x @ m) == pytest.approx(1.0, abs=1e-6)
    assert sim.pwcca(x, x @ m) == pytest.approx(1.0, abs=1e-6)
    noise = torch.randn(80, 6, generator=g, dtype=torch.float64)
    assert sim.svcca(x, noise) < 0.6 and sim.pwcca(x, noise) < 0.6


def test_svcca_keeps_a_share_of_the_variance_or_a_number_of_directions(published):
    # google/svcca's cca_core keeps the top singular directions of each representation: a
    # share of the variance (99% in the paper) or a fixed count. Two separate options, so
    # that variance=1.0 (all of it) cannot be read as one direction.
    x, y = published
    plain_mean_cca = float(sim.canonical_correlations(x, y).mean())
    assert sim.svcca(x, y, variance=1.0) == pytest.approx(plain_mean_cca, abs=1e-12)
    xc, yc = sim.centre_columns(x), sim.centre_columns(y)
    top = lambda m: torch.linalg.svd(m, full_matrices=False)[0][:, 0]  # noqa: E731
    first = abs(float(top(xc) @ top(yc)))  # one direction each: their correlation
    assert sim.svcca(x, y, n_components=1) == pytest.approx(first, abs=1e-10)
    assert sim.svcca(x, y, n_components=10) == pytest.approx(plain_mean_cca, abs=1e-12)
    assert sim.svcca(x, y) == sim.svcca(x, y, variance=0.99)  # the default
    assert sim.svcca(x, y, variance=0.5) != sim.svcca(x, y, variance=1.0)
    layers = {"x": x, "y": y}
    grid = sim.layer_similarity(layers, layers, index="svcca", variance=1.0)
    assert grid[0, 1] == pytest.approx(plain_mean_cca, abs=1e-12)
    assert sim.layer_similarity(layers, layers, index="svcca", n_components=1)[0, 1] == \
        pytest.approx(first, abs=1e-10)
    with pytest.raises(ValueError, match="not both"):
        sim.svcca(x, y, variance=0.9, n_components=3)
    with pytest.raises(TypeError, match="variance="):
        sim.svcca(x, y, n_components=0.5)
    with pytest.raises(ValueError, match="n_components="):
        sim.svcca(x, y, variance=3)
    with pytest.raises(ValueError, match="index='svcca'"):
        sim.layer_similarity(layers, layers, n_components=3)


def test_matching_recovers_a_permutation_and_beats_the_control():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(30, 6, 4, 4, generator=g)
    perm = torch.tensor([3, 5, 0, 1, 4, 2])
    b = a[:, perm] + 0.1 * torch.randn(30, 6, 4, 4, generator=g)
    control = torch.randn(30, 6, 4, 4, generator=g)
    m = sim.match_units(a, b, control)
    assert torch.equal(m.one_to_one_partner[perm], torch.arange(6))
    assert (m.semi > 0.9).all() and (m.control_semi < 0.5).all()


def test_gather_and_unit_correlations_on_networks():
    net = tiny_net()
    images = torch.rand(10, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    acts = hooks.activations(net, images, ["relu1", "relu2"], batch_size=4)
    corr = sim.unit_correlations(acts["relu2"], acts["relu2"])
    alive = acts["relu2"].transpose(0, 1).flatten(1).std(dim=1) > 0
    assert torch.allclose(corr.diagonal()[alive], torch.ones(int(alive.sum())), atol=1e-5)
    with pytest.raises(ValueError, match="same images and grid"):
        sim.unit_correlations(acts["relu1"], acts["relu2"])


def test_an_identity_stitch_between_a_network_and_itself_changes_nothing():
    net = tiny_net(0)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    identity = torch.nn.Conv2d(6, 6, 1)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(6).view(6, 6, 1, 1))
        identity.bias.zero_()
    with torch.no_grad():
        assert torch.allclose(sim.stitched_logits(net, "relu1", net, "relu1", identity, x), net(x),
                              atol=1e-6)


def test_training_a_stitch_lowers_its_loss_and_changes_neither_model():
    from interp_lib.organism import data
    net_a, net_b = tiny_net(0), tiny_net(1)
    before = [p.clone() for p in list(net_a.parameters()) + list(net_b.parameters())]
    held = data.make_batch(64, seed=99)

    def batch(n, seed):
        b = data.make_batch(n, seed)
        return b.images, b.labels

    s = sim.train_stitch(net_a, "relu1", net_b, "relu1", batch, steps=40, batch_size=32,
                         eval_images=held.images, eval_labels=held.labels)
    assert sum(s.losses[-10:]) < sum(s.losses[:10])
    after = list(net_a.parameters()) + list(net_b.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert all(p.grad is None for p in after)
    assert 0 <= s.accuracy_stitched <= 1 and s.penalty == s.accuracy_b - s.accuracy_stitched
