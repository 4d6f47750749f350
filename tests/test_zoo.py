import shutil
import subprocess
import sys

import pytest
import torch

from interp_lib import circuits, hooks, zoo
from interp_lib.organism import train
from interp_lib.organism.models import ConvNet
from interp_lib.tuning import curve_tuning, largest_gap


def test_names_list_organisms_and_imagenet_models():
    names = zoo.names()
    assert len(zoo.organism_names()) >= 4
    assert {"googlenet", "alexnet", "vgg19", "resnet50"} <= set(names)
    archs = {zoo.ORGANISMS[n][0] for n in zoo.organism_names()}
    assert len(archs) >= 2
    for arch in archs:  # at least two seeds of each architecture
        assert sum(zoo.ORGANISMS[n][0] == arch for n in zoo.organism_names()) >= 2


@pytest.mark.parametrize("name", zoo.organism_names())
def test_shipped_organism_loads_verified_and_is_accurate(name):
    model = zoo.load(name)
    assert isinstance(model, ConvNet) and not model.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    manifest = zoo.read_manifest()[name]
    assert manifest["sha256"] == zoo.sha256(zoo.WEIGHTS_DIR / manifest["file"])
    assert train.accuracy(model, n=1000) >= 0.95


@pytest.mark.parametrize("name", zoo.organism_names())
def test_shipped_organism_has_curve_detectors_covering_the_circle(name):
    model = zoo.load(name)
    tunings = [curve_tuning(model, layer) for layer in zoo.middle_layers(model)]

    def covers(t, channels, max_gap):
        return len(channels) >= 6 and largest_gap(t.preferred[channels].tolist()) <= max_gap

    # The course's measure: channels with peak/mean >= 3, spread round the circle...
    assert any(covers(t, t.tuned(), 90) for t in tunings), name
    # ... and the stricter one, channels that also answer curves more than any line.
    # The shipped zoo leaves gaps of 50 to 120 degrees in that family (see
    # benchmarks/organism_science.py); 120 guards against a retrain losing it.
    assert any(covers(t, t.curve_detectors(), 120) for t in tunings), name


@pytest.mark.parametrize("name", zoo.organism_names())
def test_expanded_weights_agree_both_ways_on_every_shipped_classifier(name):
    # From the first ReLU to the last conv layer: every pooling and ReLU in between.
    model = zoo.load(name)
    convs = [n for n in hooks.layer_names(model) if n.startswith("conv")]
    by_composition = circuits.expanded_weights(model, "relu1", convs[-1])
    by_gradient = circuits.expanded_weights_by_gradient(model, "relu1", convs[-1])
    assert by_composition.shape == by_gradient.shape
    assert (by_composition - by_gradient).abs().max() < 1e-5


def test_tampered_weights_are_refused(tmp_path):
    name = zoo.organism_names()[0]
    shutil.copytree(zoo.WEIGHTS_DIR, tmp_path / "w")
    path = tmp_path / "w" / f"{name}.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01  # one flipped bit in a weight
    path.write_bytes(bytes(raw))
    with pytest.raises(zoo.ChecksumError, match="corrupted or was modified"):
        zoo.load(name, weights_dir=tmp_path / "w")
    # The untouched file still loads from the same folder layout.
    zoo.load(zoo.organism_names()[1], weights_dir=tmp_path / "w")


def test_missing_weights_say_how_to_remake_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m interp_lib.zoo train conv5-s0"):
        zoo.load("conv5-s0", weights_dir=tmp_path)


def test_unknown_model_name_suggests_close_ones():
    with pytest.raises(zoo.UnknownModelError, match="'conv5-s0'") as err:
        zoo.load("conv5_s0")
    assert "googlenet" in str(err.value)


def test_wrong_input_shape_says_the_expected_one():
    model = zoo.load("conv5-s0")
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.rand(2, 1, 64, 64))
    with pytest.raises(TypeError, match="Tensor"):
        model([[0.0]])


def test_a_few_training_steps_reduce_the_loss_and_are_reproducible():
    arch = zoo.ARCHITECTURES["conv5"]
    recipe = train.Recipe(seed=5, steps=12, batch_size=16, max_lr=2e-3)
    m1, log1 = train.train(arch, recipe, progress=False)
    m2, _ = train.train(arch, recipe, progress=False)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    untrained = ConvNet(arch)
    assert not torch.equal(untrained.conv1.weight, m1.conv1.weight)
    assert log1["steps"] == 12 and log1["loss"] > 0


def test_training_seeds_never_reach_the_held_out_seed():
    from interp_lib.organism import data
    top = max(train.batch_seed(s, train.Recipe(seed=s).steps - 1) for s in range(1024))
    assert top < 2**30 < data.HELD_OUT_SEED


@pytest.mark.parametrize("name,layer,channels", [
    ("googlenet", "inception4a", 512), ("alexnet", "features.3", 192),
    ("vgg19", "features.34", 512), ("resnet50", "layer2.1.conv2", 128),
])
def test_imagenet_models_with_random_weights(name, layer, channels):
    model = zoo.load(name, pretrained=False)
    assert layer in hooks.layer_names(model)
    with hooks.capture(model, layer) as acts:
        out = model(torch.rand(1, 3, 112, 112))
    assert out.shape == (1, 1000)
    assert acts[layer].shape[1] == channels


def test_missing_pretrained_weights_explain_how_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(zoo.WeightsNotFoundError, match="IMAGENET1K_V1"):
        zoo.load("googlenet")


def test_cached_pretrained_weights_are_used(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    import torchvision
    net = torchvision.models.alexnet(weights=None)
    path = zoo.cached_weights_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    model = zoo.load("alexnet")
    assert torch.equal(model.net.features[0].weight, net.features[0].weight)


def test_cli_lists_models():
    out = subprocess.run([sys.executable, "-m", "interp_lib.zoo", "list"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == zoo.names()


def test_the_learned_prior_loads_verified_and_draws_the_strokes():
    from interp_lib.organism import data
    from interp_lib.organism import generative
    vae = zoo.load("vae")
    assert isinstance(vae, generative.VAE) and not vae.training
    assert zoo.read_manifest()["vae"]["sha256"] == zoo.sha256(zoo.WEIGHTS_DIR / "vae.safetensors")
    batch = data.make_batch(64, data.HELD_OUT_SEED)
    with torch.no_grad():
        mu, _ = vae.encode(batch.images)
        recon = vae.decode(mu)
    assert recon.shape == batch.images.shape and 0 <= recon.min() and recon.max() <= 1
    # On the stroke pixels, the reconstruction must beat painting the background colour:
    # a VAE that learned only the background would not.
    bg = batch.params["bg"][:, :, None, None].expand_as(batch.images)
    stroke = ((batch.images - bg).abs().amax(1, keepdim=True) > 0.2).expand_as(batch.images)
    err_vae = (recon - batch.images).abs()[stroke].mean()
    err_bg = (bg - batch.images).abs()[stroke].mean()
    assert err_vae < 0.7 * err_bg
    with pytest.raises(ValueError, match=r"latent codes shaped \(N, 32\)"):
        vae.decode(torch.zeros(2, 5))


def test_a_few_vae_training_steps_run():
    from interp_lib.organism import generative
    model, log = generative.train_vae(generative.VAERecipe(steps=3, batch_size=8), progress=False)
    assert log["steps"] == 3 and isinstance(model, generative.VAE)
