import pytest
import torch

from interp_lib import objectives as O
from interp_lib import param as P
from interp_lib import render as R
from interp_lib.image_stats import high_frequency_fraction
from interp_lib.models import Architecture, ConvNet, init_weights


def test_gaussian_blur_preserves_mean_and_removes_high_frequencies():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 24, generator=g)
    y = P.gaussian_blur(x, 1.0)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(), x.mean(), atol=0.01)
    assert high_frequency_fraction(y).max() < 0.2 < 0.7 < high_frequency_fraction(x).min()
    assert torch.equal(P.gaussian_blur(x, 0.0), x)


@pytest.mark.parametrize("fourier", [False, True])
def test_blurring_a_parameterization_smooths_its_image(fourier):
    p = P.image(24, batch=2, fourier=fourier, decorrelate=False, sd=0.5)
    before = high_frequency_fraction(p.raw().detach())
    p.blur_(1.5)
    after = high_frequency_fraction(p.raw().detach())
    assert (after < 0.5 * before).all()


def test_shared_image_shares_one_component_across_the_batch():
    p = P.image(16, batch=3, shared=True, decorrelate=False, sd=0.1)
    assert isinstance(p, P.SharedImage) and p().shape == (3, 3, 16, 16)
    raw = p.raw()
    own = p.own.raw()
    assert torch.allclose(raw[1] - raw[0], own[1] - own[0], atol=1e-6)
    p().sum().backward()
    assert p.shared.spectrum.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one image shaped like the others"):
        P.SharedImage(P.image(16, batch=3), P.image(16, batch=2))


def test_blur_every_blurs_on_schedule():
    calls = []

    class Probe:
        def blur_(self, sigma):
            calls.append(sigma)

    cb = R.blur_every(4, 0.7)
    for step in range(12):
        cb(step, Probe())
    assert calls == [0.7, 0.7, 0.7]
    with pytest.raises(ValueError, match="at least 1 step"):
        R.blur_every(0, 1.0)


def test_compare_renders_each_setting_and_measures_it():
    net = ConvNet(Architecture((8, 16), 3, (1,)))
    init_weights(net, 0)
    pixels = lambda: P.image(24, fourier=False, decorrelate=False, seed=1)
    cmp = R.compare(net, O.channel("relu2", 3), {
        "none": {"param": pixels(), "transforms": None},
        "total variation": {"param": pixels(), "transforms": None,
                            "penalty": 2.0 * O.total_variation()},
    }, steps=60, seed=0)
    assert set(cmp.results) == {"none", "total variation"}
    assert cmp.objective["none"] > 0
    assert cmp.high_frequency["total variation"] < cmp.high_frequency["none"]
    assert "high-freq energy" in cmp.table() and "total variation" in cmp.table()


def test_rendering_in_the_latent_space_of_the_vae():
    from interp_lib import zoo
    vae = zoo.load("vae")
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    net = zoo.load("conv5-s0")
    p = P.LatentImage(vae, batch=2)
    r = R.render(net, R.channels_objective("relu3", [1, 2]), param=p, steps=20, progress=False)
    assert r.images.shape == (2, 3, 64, 64)
    assert r.history[-1] > r.history[0]
    assert all(torch.equal(v, vae.state_dict()[k]) for k, v in before.items())  # frozen
    with torch.no_grad():
        assert torch.allclose(r.images, vae.decode(p.z))  # every image is one the VAE draws
