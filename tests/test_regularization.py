import pytest
import torch

from interp_lib.optvis import objectives as obj
from interp_lib.optvis import param
from interp_lib.optvis import render
from interp_lib.optvis.image_stats import high_frequency_fraction
from interp_lib.organism.models import Architecture, ConvNet, init_weights


def test_gaussian_blur_preserves_mean_and_removes_high_frequencies():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 24, generator=g)
    y = param.gaussian_blur(x, 1.0)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(), x.mean(), atol=0.01)
    assert high_frequency_fraction(y).max() < 0.2 < 0.7 < high_frequency_fraction(x).min()
    assert torch.equal(param.gaussian_blur(x, 0.0), x)


@pytest.mark.parametrize("fourier", [False, True])
def test_blurring_a_parameterization_smooths_its_image(fourier):
    p = param.image(24, batch_size=2, fourier=fourier, decorrelate=False, sd=0.5)
    before = high_frequency_fraction(p.raw().detach())
    p.blur_(1.5)
    after = high_frequency_fraction(p.raw().detach())
    assert (after < 0.5 * before).all()


def test_shared_image_shares_one_component_across_the_batch():
    p = param.image(16, batch_size=3, shared=True, decorrelate=False, sd=0.1)
    assert isinstance(p, param.SharedImage) and p().shape == (3, 3, 16, 16)
    raw = p.raw()
    own = p.own.raw()
    assert torch.allclose(raw[1] - raw[0], own[1] - own[0], atol=1e-6)
    p().sum().backward()
    assert p.shared.spectrum.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one image shaped like the others"):
        param.SharedImage(param.image(16, batch_size=3), param.image(16, batch_size=2))


def test_blur_every_blurs_on_schedule():
    calls = []

    class Probe:
        def blur_(self, sigma):
            calls.append(sigma)

    cb = render.blur_every(4, 0.7)
    for step in range(12):
        cb(step, Probe())
    assert calls == [0.7, 0.7, 0.7]
    with pytest.raises(ValueError, match="at least 1 step"):
        render.blur_every(0, 1.0)


def test_compare_renders_each_setting_and_measures_it():
    net = ConvNet(Architecture((8, 16), 3, (1,)))
    init_weights(net, 0)
    pixels = lambda: param.image(24, fourier=False, decorrelate=False, seed=1)
    cmp = render.compare(net, obj.channel("relu2", 3), {
        "none": {"param": pixels(), "transforms": None},
        "total variation": {"param": pixels(), "transforms": None,
                            "penalty": 2.0 * obj.total_variation()},
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
    p = param.LatentImage(vae, batch_size=2)
    r = render.render(net, render.channels_objective("relu3", [1, 2]), param=p, steps=20, progress=False)
    assert r.images.shape == (2, 3, 64, 64)
    assert r.history[-1] > r.history[0]
    assert all(torch.equal(v, vae.state_dict()[k]) for k, v in before.items())  # frozen
    with torch.no_grad():
        assert torch.allclose(r.images, vae.decode(p.z))  # every image is one the VAE draws
