"""The model zoo: small trained organisms shipped with the package, and real ImageNet models.

    from interp_lib import zoo
    zoo.names()                      # ['conv5-s0', 'conv5-s1', 'conv3-s0', 'conv3-s1', ...]
    model = zoo.load("conv5-s0")     # verified against its SHA-256, in eval mode

The organisms are plain conv + ReLU classifiers of `data.CLASSES`, trained
by `train.train` with the recipes below. Three architectures (5x5 kernels and
four layers; 3x3 kernels and six layers; a strided first layer as in AlexNet),
two seeds each, so that universality has something to compare. Remake any
checkpoint with

    python -m interp_lib.zoo train conv5-s0
    python benchmarks/zoo_report.py          # accuracy and curve detectors, per model

The zoo also ships the learned prior of chapter 2, "vae" (see
`interp_lib.generative`), checksummed and remade the same way.

Torchvision's ImageNet models (googlenet = InceptionV1, alexnet, vgg19,
resnet50) load with their pretrained weights when these are already in the
local torch cache; `pretrained=False` gives random weights (for tests and for
looking at the structure). They take images in [0, 1] like the organisms: the
ImageNet normalisation is done inside.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from interp_lib.organism import generative
from interp_lib.organism import train
from interp_lib.hooks import layer_names
from interp_lib.optvis import param, strokes
from interp_lib.organism.models import Architecture, ConvNet, check_images

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = "manifest.json"

ARCHITECTURES: dict[str, Architecture] = {
    # 5x5 kernels, 4 convs: receptive fields 5, 14, 32, 68 px; the widest layer is the
    # third, where the curve detectors grow.
    "conv5": Architecture(channels=(16, 24, 96, 48), kernel=5, pool_after=(1, 2, 3)),
    # 3x3 kernels, 6 convs: receptive fields 3, 8, 12, 22, 30, 50 px.
    "conv3": Architecture(channels=(16, 32, 32, 64, 64, 64), kernel=3, pool_after=(1, 3, 5)),
    # AlexNet's shape in small: a strided 7x7 first conv, then 5x5 kernels;
    # receptive fields 7, 15, 31, 63 px.
    "strided": Architecture(channels=(32, 24, 64, 64), kernel=(7, 5, 5, 5), pool_after=(2, 3),
                            stride=(2, 1, 1, 1)),
}

ORGANISMS: dict[str, tuple[str, train.Recipe]] = {
    f"{arch}-s{seed}": (arch, train.Recipe(seed=seed))
    for arch in ARCHITECTURES for seed in (0, 1)
}

# The learned prior of chapter 2: a VAE of the organism's drawings.
GENERATORS: dict[str, generative.VAERecipe] = {
    "vae": generative.VAERecipe(seed=0, steps=4000),
}

# name -> (torchvision builder, weights enum)
IMAGENET: dict[str, tuple[str, str]] = {
    "googlenet": ("googlenet", "GoogLeNet_Weights"),
    "alexnet": ("alexnet", "AlexNet_Weights"),
    "vgg19": ("vgg19", "VGG19_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
}

# Lucid's names for InceptionV1's layers -> torchvision's.
GOOGLENET_ALIASES: dict[str, str] = {
    "conv2d0": "conv1", "conv2d1": "conv2", "conv2d2": "conv3",
    "maxpool0": "maxpool1", "maxpool1": "maxpool2", "maxpool4": "maxpool3",
    "maxpool10": "maxpool4",
    **{f"mixed{b}": f"inception{b}" for b in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")},
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UnknownModelError(ValueError):
    """A model name the zoo does not have."""


class ChecksumError(RuntimeError):
    """A weights file whose SHA-256 does not match the manifest."""


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights that are not on this machine."""


def names() -> list[str]:
    """Every model `load` accepts: the organisms, the generator, the ImageNet models.

    >>> "googlenet" in names() and "vae" in names()
    True
    """
    return list(ORGANISMS) + list(GENERATORS) + list(IMAGENET)


def organism_names() -> list[str]:
    """The shipped classifiers, architecture by architecture, seed by seed.

    >>> organism_names()[:2]
    ['conv5-s0', 'conv5-s1']
    """
    return list(ORGANISMS)


def sha256(path: Path) -> str:
    """The SHA-256 of a file, as a hex string (read in chunks).

    >>> entry = read_manifest()["conv5-s0"]
    >>> sha256(WEIGHTS_DIR / entry["file"]) == entry["sha256"]  # the shipped file is the one recorded
    True
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(weights_dir: Path = WEIGHTS_DIR) -> dict:
    """The weights folder's manifest: model name -> file, SHA-256 and how it was made.

    >>> "sha256" in read_manifest()["vae"]
    True
    """
    path = Path(weights_dir) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def build(name: str) -> ConvNet:
    """An untrained organism of the named model's architecture.

    >>> net, shipped = build("conv3-s0"), load("conv3-s0")
    >>> [p.shape for p in net.parameters()] == [p.shape for p in shipped.parameters()]
    True
    >>> torch.equal(net.conv1.weight, shipped.conv1.weight)  # the architecture, not the training
    False
    """
    net = ConvNet(ARCHITECTURES[ORGANISMS[name][0]])
    # Renders of an organism are drawn as pen strokes, like its data (see optvis.strokes).
    net.render_recipe = strokes.DRAWING
    return net


def load(name: str, *, device: str | torch.device = "cpu", pretrained: bool = True,
         seed: int = 0, weights_dir: str | Path | None = None) -> nn.Module:
    """Load a model of the zoo in eval mode, on `device`.

    Organisms: the shipped weights, after checking their SHA-256 against the
    manifest (`weights_dir` points elsewhere, for example at retrained weights).
    ImageNet models: pretrained weights from the local torch cache, or, with
    pretrained=False, random weights drawn from `seed` (the same seed gives the
    same weights).

    >>> a = load("googlenet", pretrained=False, seed=1)
    >>> b = load("googlenet", pretrained=False, seed=1)
    >>> torch.equal(a.net.conv1.conv.weight, b.net.conv1.conv.weight)
    True
    """
    if name in ORGANISMS or name in GENERATORS:
        model = _load_shipped(name, Path(weights_dir) if weights_dir else WEIGHTS_DIR)
    elif name in IMAGENET:
        model = _load_imagenet(name, pretrained, seed)
    else:
        close = difflib.get_close_matches(str(name), names(), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownModelError(f"the zoo has no model {name!r}.{hint} "
                                f"Models: {', '.join(names())}")
    return model.to(device).eval()


def _load_shipped(name: str, weights_dir: Path) -> nn.Module:
    from safetensors.torch import load_file

    entry = read_manifest(weights_dir).get(name)
    path = weights_dir / f"{name}.safetensors"
    if entry is None or not path.exists():
        raise FileNotFoundError(
            f"no weights for {name!r} in {weights_dir}. Remake them with "
            f"`python -m interp_lib.zoo train {name}` (2 to 10 minutes on 2 CPU cores)."
        )
    actual = sha256(path)
    if actual != entry["sha256"]:
        raise ChecksumError(
            f"the weights file {path} is corrupted or was modified: its SHA-256 is {actual}, "
            f"the manifest expects {entry['sha256']}. Restore it (for example with "
            f"`git checkout -- {path.name}` in {weights_dir}) or remake it with "
            f"`python -m interp_lib.zoo train {name}`."
        )
    model = build(name) if name in ORGANISMS else generative.VAE()
    model.load_state_dict(load_file(path))
    return model


class ImageNetModel(nn.Module):
    """A torchvision classifier that takes images in [0, 1] and normalises them itself.

    Layer names are the wrapped network's (`layer_root`), plus `layer_aliases`.
    """

    def __init__(self, net: nn.Module, aliases: dict[str, str] | None = None):
        super().__init__()
        self.net = net
        self.layer_aliases = dict(aliases or {})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        # ImageNet's colour statistics, for feature visualization's decorrelated colours.
        self.colour_sqrt = param.normalise_columns(param.IMAGENET_COLOUR_SQRT)

    @property
    def layer_root(self) -> nn.Module:
        return self.net

    def forward(self, x: Tensor) -> Tensor:
        check_images(x)
        return self.net((x - self.mean) / self.std)


def cached_weights_path(name: str) -> Path:
    """Where torchvision keeps the pretrained weights of an ImageNet model.

    >>> cached_weights_path("googlenet").name.startswith("googlenet")
    True
    """
    import torchvision.models as tvm

    weights = getattr(tvm, IMAGENET[name][1]).IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _load_imagenet(name: str, pretrained: bool, seed: int = 0) -> ImageNetModel:
    import torchvision.models as tvm

    builder = getattr(tvm, IMAGENET[name][0])
    aliases = GOOGLENET_ALIASES if name == "googlenet" else {}
    if not pretrained:
        kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
        # torchvision initialises from the global generator: seed it, and leave the
        # caller's random state as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return ImageNetModel(builder(weights=None, **kwargs), aliases)
    path = cached_weights_path(name)
    if not path.exists():
        raise WeightsNotFoundError(
            f"the pretrained weights of {name!r} are not on this machine (looked for {path}).\n"
            f"On a machine with internet, run\n"
            f"    python -c \"import torchvision; torchvision.models.{IMAGENET[name][0]}"
            f"(weights='IMAGENET1K_V1')\"\n"
            f"then copy the file {path.name} into {path.parent} here.\n"
            f"To explore the architecture without them: zoo.load({name!r}, pretrained=False)."
        )
    if name == "googlenet":
        # As torchvision does: the checkpoint includes the auxiliary heads, and
        # expects the input transform of the original Inception pre-processing.
        net = builder(weights=None, aux_logits=True, transform_input=True, init_weights=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        net.aux_logits, net.aux1, net.aux2 = False, None, None
    else:
        net = builder(weights=None)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return ImageNetModel(net, aliases)


# --- training and reporting -------------------------------------------------------------

def train_and_save(name: str, weights_dir: str | Path | None = None, progress: bool = True,
                   device: str | torch.device = "cpu") -> dict:
    """Train a shipped model from scratch with its recipe, save it, record it in the manifest.

    >>> entry = train_and_save("conv5-s0", "my_weights")  # doctest: +SKIP
    """
    if name in GENERATORS:
        recipe = GENERATORS[name]
        model, log = generative.train_vae(recipe, progress=progress, device=device)
        model = model.cpu()
        return _save(name, model, weights_dir, architecture="vae", seed=recipe.seed,
                     steps=recipe.steps, train_seconds=round(log["seconds"], 1),
                     reconstruction_error=round(generative.reconstruction_error(model), 4))
    if name not in ORGANISMS:
        raise UnknownModelError(f"only shipped models can be trained: "
                                f"{', '.join(list(ORGANISMS) + list(GENERATORS))}")
    arch_name, recipe = ORGANISMS[name]
    model, log = train.train(ARCHITECTURES[arch_name], recipe, progress=progress, device=device)
    return save_checkpoint(name, model.cpu(), log["seconds"], weights_dir)


def save_checkpoint(name: str, model: ConvNet, train_seconds: float,
                    weights_dir: str | Path | None = None) -> dict:
    """Save an organism with its recipe and held-out accuracy in the manifest.

    >>> save_checkpoint("conv5-s0", model, 600.0, "my_weights")  # doctest: +SKIP
    """
    arch_name, recipe = ORGANISMS[name]
    return _save(name, model, weights_dir, architecture=arch_name, seed=recipe.seed,
                 steps=recipe.steps, held_out_accuracy=train.accuracy(model),
                 train_seconds=round(train_seconds, 1))


def _save(name: str, model: nn.Module, weights_dir: str | Path | None, **info) -> dict:
    """Write weights as safetensors and record their SHA-256 (and `info`) in the manifest."""
    from safetensors.torch import save_file

    weights_dir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
    weights_dir.mkdir(parents=True, exist_ok=True)
    path = weights_dir / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    entry = {"file": path.name, "sha256": sha256(path), **info}
    manifest = read_manifest(weights_dir)
    manifest[name] = entry
    (weights_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry


def middle_layers(model: ConvNet) -> list[str]:
    """The ReLU layers between the first and the last: where curve detectors should live.

    >>> middle_layers(build("conv5-s0"))
    ['relu2', 'relu3']
    """
    relus = [n for n in layer_names(model) if n.startswith("relu")]
    return relus[1:-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp_lib.zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train a shipped model from scratch and save it")
    p_train.add_argument("names", nargs="+", choices=organism_names() + list(GENERATORS))
    p_train.add_argument("--out", default=None, help="weights folder (default: the package's)")
    sub.add_parser("list", help="list the models")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(names()))
    else:
        for name in args.names:
            entry = train_and_save(name, args.out)
            quality = (f"{entry['held_out_accuracy']:.1%} held-out accuracy"
                       if "held_out_accuracy" in entry else
                       f"reconstruction error {entry['reconstruction_error']:.3f}")
            print(f"{name}: {quality}, {entry['train_seconds']:.0f} s, "
                  f"sha256 {entry['sha256'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
