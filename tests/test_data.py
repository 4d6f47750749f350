
import pytest
import torch

from interp_lib.organism import data


def test_batch_shapes_and_range():
    b = data.make_batch(64, seed=3)
    assert b.images.shape == (64, 3, 64, 64)
    assert b.images.dtype == torch.float32
    assert 0.0 <= b.images.min() and b.images.max() <= 1.0
    assert b.labels.shape == (64,) and b.labels.max() < len(data.CLASSES)
    for name, value in b.params.items():
        assert value.shape[0] == 64, name


def test_same_seed_same_batch_other_seed_other_batch():
    a, b, c = data.make_batch(16, 7), data.make_batch(16, 7), data.make_batch(16, 8)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_every_class_appears_and_draws_ink():
    b = data.make_batch(400, seed=0)
    assert set(b.labels.tolist()) == set(range(len(data.CLASSES)))
    # Each image has stroke pixels: pixels far from the background colour.
    diff = (b.images - b.params["bg"][:, :, None, None]).abs().amax(dim=1)
    stroke_pixels = (diff > 0.25).flatten(1).sum(1)
    assert (stroke_pixels > 15).all()


def test_params_known_only_where_they_apply():
    b = data.make_batch(200, seed=1)
    is_arc = b.labels == data.CLASSES.index("arc")
    assert torch.isnan(b.params["extent"][~is_arc]).all()
    ext = b.params["extent"][is_arc]
    assert (ext >= 60).all() and (ext <= 240).all()  # degrees


def test_circle_drawn_where_its_parameters_say():
    b = data.make_batch(300, seed=2)
    i = (b.labels == data.CLASSES.index("circle")).nonzero()[0, 0]
    p = {k: v[i] for k, v in b.params.items()}
    ink = (b.images[i] - p["bg"][:, None, None]).abs().amax(0) > 0.25
    ys, xs = ink.nonzero(as_tuple=True)
    dist = torch.hypot(xs + 0.5 - p["cx"], ys + 0.5 - p["cy"])
    assert (dist - p["radius"]).abs().max() < p["width"] / 2 + 1.5


def test_stroke_contrast_is_enough():
    b = data.make_batch(500, seed=4)
    lum = torch.tensor([0.299, 0.587, 0.114])
    contrast = (b.params["fg"] @ lum - b.params["bg"] @ lum).abs()
    assert (contrast >= 0.3 - 1e-6).all()


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="positive"):
        data.make_batch(0, seed=0)
    with pytest.raises(ValueError, match="at least 32"):
        data.make_batch(4, seed=0, size=16)


def test_colour_covariance_is_symmetric_positive_definite():
    cov = data.colour_covariance(n=64)
    assert cov.shape == (3, 3)
    assert torch.allclose(cov, cov.T)
    assert (torch.linalg.eigvalsh(cov) > 0).all()
