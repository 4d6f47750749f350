"""Reading a network's activations by layer name.

    with capture(model, ["relu2", "relu3"]) as acts:
        logits = model(images)
    acts["relu2"]          # (N, C, H, W): what relu2 output during that pass

Layer names are the model's module names (`model.named_modules()`), so the
zoo's organisms have `conv1, relu1, pool1, ...` and torchvision models keep
torchvision's names (`inception3b`, `layer2.1.conv2`). A model may declare
aliases, as the zoo's GoogLeNet does for Lucid's names (`mixed3b`).

Every hook is removed when the `with` block ends, also when the forward pass
raises: a forgotten hook slows every later forward pass and keeps tensors alive.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn


class UnknownLayerError(ValueError):
    """A layer name the model does not have."""


def layer_root(model: nn.Module) -> nn.Module:
    """The module whose submodule names are the layer names.

    A wrapper (such as the zoo's input-normalising ImageNet wrapper) sets
    `layer_root` so that names stay those of the wrapped network.
    """
    return getattr(model, "layer_root", model)


def layer_names(model: nn.Module) -> list[str]:
    """All layer names of a model, in the order the modules were defined."""
    return [name for name, _ in layer_root(model).named_modules() if name]


def layer_aliases(model: nn.Module) -> dict[str, str]:
    """Extra names the model accepts: alias -> layer name."""
    return dict(getattr(model, "layer_aliases", {}))


def resolve(model: nn.Module, name: str) -> str:
    """The canonical layer name for `name` (an alias or a layer name); errors in plain words."""
    if not isinstance(name, str):
        raise TypeError(f"a layer is named by a string, such as 'relu2'; got {name!r}")
    names = layer_names(model)
    aliases = layer_aliases(model)
    if name in aliases:
        return aliases[name]
    if name in names:
        return name
    valid = names + sorted(aliases)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownLayerError(
        f"{type(layer_root(model)).__name__} has no layer named {name!r}.{hint}\n"
        f"Valid layer names: {', '.join(names)}"
        + (f"\nAliases: {', '.join(f'{a} -> {t}' for a, t in sorted(aliases.items()))}"
           if aliases else "")
    )


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module called `name` (an alias is accepted)."""
    return layer_root(model).get_submodule(resolve(model, name))


class Activations(dict):
    """Layer name -> activation tensor, filled in by a forward pass inside `capture`."""

    def __missing__(self, key: str) -> Tensor:
        expected = getattr(self, "_expected", set())
        if key not in expected:
            raise KeyError(f"{key!r} was not captured; captured layers: {sorted(expected)}")
        raise KeyError(f"layer {key!r} has not run yet: call the model inside the `with` block")


@contextmanager
def capture(model: nn.Module, layers: str | Sequence[str], detach: bool = True
            ) -> Iterator[Activations]:
    """Record the outputs of the named layers during forward passes in the block.

    layers: a name or a list of names (aliases are accepted and stored under
    the name you gave). detach=False keeps the autograd graph, so that an
    objective computed on the activations can be differentiated (rendering
    does this). If a layer runs several times in one pass, its last output is kept.
    """
    if isinstance(layers, str):
        layers = [layers]
    modules = {name: get_layer(model, name) for name in layers}  # validates before hooking
    acts = Activations()
    acts._expected = set(modules)
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            acts[name] = output.detach() if detach else output
        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield acts
    finally:
        for h in handles:
            h.remove()


def run_with_cache(model: nn.Module, x: Tensor, layers: str | Sequence[str],
                   detach: bool = True) -> tuple[Tensor, Activations]:
    """Run model(x) once and return (output, activations of the named layers)."""
    with capture(model, layers, detach=detach) as acts:
        out = model(x)
    return out, acts
