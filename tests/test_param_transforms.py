import pytest
import torch

from interp_lib.optvis import param
from interp_lib.optvis import transforms


@pytest.mark.parametrize("fourier", [False, True])
@pytest.mark.parametrize("decorrelate", [False, True])
def test_parameterizations_give_valid_images_of_any_batch(fourier, decorrelate):
    p = param.image((12, 10), batch_size=5, fourier=fourier, decorrelate=decorrelate)
    x = p()
    assert x.shape == (5, 3, 12, 10)
    assert 0 <= x.min() and x.max() <= 1
    x.sum().backward()
    assert all(q.grad is not None for q in p.parameters())


def test_seeds_make_parameterizations_reproducible():
    assert torch.equal(param.image(16, seed=3)(), param.image(16, seed=3)())
    assert not torch.equal(param.image(16, seed=3)(), param.image(16, seed=4)())


@pytest.mark.parametrize("fourier", [False, True])
@pytest.mark.parametrize("decorrelate", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_each_parameterization_can_fit_an_image(fourier, decorrelate, shared):
    # Lucid's own check: reach a mean absolute error below 0.01 within 1000 steps.
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 16, 16, generator=g) * 0.8 + 0.1
    p = param.image(16, batch_size=2, fourier=fourier, decorrelate=decorrelate, shared=shared)
    opt = torch.optim.Adam(p.parameters(), lr=0.05)
    for _ in range(1000):
        loss = (p() - target).abs().mean()
        if loss < 0.01:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss < 0.01, f"MAE {loss:.4f} after 1000 steps"


def test_fourier_scale_follows_one_over_frequency():
    s = param.spectrum_scale(8, 8)
    assert s.shape == (8, 5)
    assert s[0, 0] == 8  # the DC term is clamped at 1 / (1/8)
    assert torch.isclose(s[0, 4], torch.tensor(2.0))  # f = 0.5 cycles/pixel -> 1/f = 2
    assert torch.isclose(s[2, 0], torch.tensor(4.0))  # f = 0.25 -> 4


def test_colour_sqrt_reproduces_the_covariance_up_to_scale():
    from interp_lib.organism import data
    cov = torch.tensor([[0.10, 0.05, 0.02], [0.05, 0.08, 0.01], [0.02, 0.01, 0.06]])
    m = data.colour_sqrt_from_covariance(cov)
    recon = m @ m.T
    assert torch.allclose(recon / recon[0, 0], cov / cov[0, 0], atol=1e-5)
    assert torch.isclose(m.norm(dim=0).max(), torch.tensor(1.0))
    org = data.colour_sqrt()
    assert org.shape == (3, 3) and torch.isclose(org.norm(dim=0).max(), torch.tensor(1.0))


def test_a_model_chooses_its_colour_statistics_by_an_attribute():
    from interp_lib.organism import data
    from interp_lib.organism.models import tiny_net
    assert torch.equal(param.colour_sqrt_for(tiny_net()), data.colour_sqrt())
    imagenet = param.normalise_columns(param.IMAGENET_COLOUR_SQRT)
    assert torch.equal(param.colour_sqrt_for(torch.nn.Conv2d(3, 4, 3)), imagenet)  # no attribute
    own = torch.nn.Conv2d(3, 4, 3)
    own.colour_sqrt = torch.eye(3)
    assert torch.equal(param.colour_sqrt_for(own), torch.eye(3))
    own.colour_sqrt = torch.eye(2)
    with pytest.raises(ValueError, match="3, 3"):
        param.colour_sqrt_for(own)


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match="at least 1 image"):
        param.image(8, batch_size=0)


def test_transforms_are_seeded_and_differentiable():
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    t = transforms.standard(64)
    a = t(x, torch.Generator().manual_seed(1))
    b = t(x, torch.Generator().manual_seed(1))
    c = t(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and a.shape[0] == 2 and a.shape[1] == 3
    assert not (a.shape == c.shape and torch.equal(a, c))
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_jitter_moves_both_ways_and_pad_adds_grey():
    x = torch.zeros(1, 1, 10, 10)
    x[0, 0, 5, 5] = 1
    offsets = set()
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        y = transforms.jitter(2)(x, g)
        assert y.shape == (1, 1, 8, 8)
        offsets.add(tuple(int(v) for v in (y[0, 0] == 1).nonzero()[0]))
    rows = {r for r, _ in offsets}
    cols = {c for _, c in offsets}
    assert rows == {3, 4, 5} and cols == {3, 4, 5}
    padded = transforms.pad(3)(x, g)
    assert padded.shape == (1, 1, 16, 16) and padded[0, 0, 0, 0] == 0.5
    with pytest.raises(ValueError, match="too large"):
        transforms.jitter(20)(x, g)


def test_rotation_by_zero_and_scale_by_one_change_nothing():
    x = torch.rand(1, 3, 9, 9)
    g = torch.Generator()
    assert torch.allclose(transforms.random_rotate([0])(x, g), x, atol=1e-5)
    assert torch.allclose(transforms.random_scale([1.0])(x, g), x, atol=1e-6)
    rot = transforms.random_rotate([90])(x, g)
    assert torch.allclose(rot[0, :, 4, 4], x[0, :, 4, 4], atol=1e-5)  # the centre stays
