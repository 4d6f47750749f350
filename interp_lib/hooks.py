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
A layer can be given by name or, as in Captum, as the module object itself.

Reading is `capture`; editing is `edit`, which replaces a layer's output with a
function of it for the duration of a `with` block (ablations and patches in
`interp_lib.circuits` are built on it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

Layer = str | nn.Module


class UnknownLayerError(ValueError):
    """A layer name the model does not have."""


def layer_root(model: nn.Module) -> nn.Module:
    """The module whose submodule names are the layer names.

    A wrapper (such as the zoo's input-normalising ImageNet wrapper) sets
    `layer_root` so that names stay those of the wrapped network.

    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> layer_root(net) is net
    True
    """
    return getattr(model, "layer_root", model)


def layer_names(model: nn.Module) -> list[str]:
    """All layer names of a model, in the order the modules were defined.

    >>> from interp_lib.organism.models import tiny_net
    >>> layer_names(tiny_net())
    ['conv1', 'relu1', 'pool1', 'conv2', 'relu2', 'gap', 'fc']
    """
    return [name for name, _ in layer_root(model).named_modules() if name]


def layer_aliases(model: nn.Module) -> dict[str, str]:
    """Extra names the model accepts: alias -> layer name.

    >>> from interp_lib.organism.models import tiny_net
    >>> layer_aliases(tiny_net())
    {}
    """
    return dict(getattr(model, "layer_aliases", {}))


def resolve(model: nn.Module, name: Layer) -> str:
    """The canonical layer name for `name`: a layer name, an alias, or the module itself.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> resolve(net, "relu1"), resolve(net, net.conv2)
    ('relu1', 'conv2')
    """
    if isinstance(name, nn.Module):
        for layer, module in layer_root(model).named_modules():
            if module is name and layer:
                return layer
        raise UnknownLayerError(
            f"the module {type(name).__name__} you passed as a layer is not part of this "
            f"{type(layer_root(model)).__name__}. Valid layer names: {', '.join(layer_names(model))}")
    if not isinstance(name, str):
        raise TypeError(f"a layer is named by a string, such as 'relu2', or given as the module "
                        f"itself; got {name!r}")
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


def get_layer(model: nn.Module, name: Layer) -> nn.Module:
    """The module called `name` (an alias, or the module itself, is accepted).

    >>> from interp_lib.organism.models import tiny_net
    >>> get_layer(tiny_net(), "conv2")
    Conv2d(6, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """
    return layer_root(model).get_submodule(resolve(model, name))


def model_device(model: nn.Module) -> torch.device:
    """The device a model computes on: that of its first parameter (or buffer); CPU if it has none.

    Every function of the library that takes a model computes there, and moves the
    inputs it is given to it; nothing moves the model.

    >>> model_device(nn.Linear(2, 2))
    device(type='cpu')
    """
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with the model in eval mode, then restore every module's own mode.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net().train()
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


class Activations(dict):
    """Layer name -> activation tensor, filled in by a forward pass inside `capture`."""

    def __missing__(self, key: str) -> Tensor:
        expected = getattr(self, "_expected", set())
        if key not in expected:
            raise KeyError(f"{key!r} was not captured; captured layers: {sorted(expected)}")
        raise KeyError(f"layer {key!r} has not run yet: call the model inside the `with` block")


def _as_list(layers: Layer | Sequence[Layer]) -> list[Layer]:
    return [layers] if isinstance(layers, (str, nn.Module)) else list(layers)


def _key(model: nn.Module, layer: Layer) -> str:
    """The name a layer's activations are stored under: the name given, or the module's name."""
    return layer if isinstance(layer, str) else resolve(model, layer)


@contextmanager
def capture(model: nn.Module, layers: Layer | Sequence[Layer], *, detach: bool = True
            ) -> Iterator[Activations]:
    """Record the outputs of the named layers during forward passes in the block.

    layers: a name or a list of names (aliases are accepted and stored under
    the name you gave; a module is stored under its layer name). detach=False
    keeps the autograd graph, so that an objective computed on the activations
    can be differentiated (rendering does this). If a layer runs several times
    in one pass, its last output is kept. Activations are (N, C, H, W) for
    convolutional layers, (N, F) for linear ones.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> with capture(net, ["relu1", "fc"]) as acts:
    ...     logits = net(torch.rand(2, 3, 16, 16))
    >>> tuple(acts["relu1"].shape), tuple(acts["fc"].shape)
    ((2, 6, 16, 16), (2, 10))
    """
    modules = {_key(model, layer): get_layer(model, layer)
               for layer in _as_list(layers)}  # validates every name before hooking anything
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


def run_with_cache(model: nn.Module, x: Tensor, layers: Layer | Sequence[Layer], *,
                   detach: bool = True) -> tuple[Tensor, Activations]:
    """Run model(x) once and return (output, activations of the named layers).

    x is moved to the model's device; so are the results.

    >>> from interp_lib.organism.models import tiny_net
    >>> logits, acts = run_with_cache(tiny_net(), torch.rand(1, 3, 16, 16), "relu2")
    >>> tuple(acts["relu2"].shape)
    (1, 8, 8, 8)
    """
    with capture(model, layers, detach=detach) as acts:
        out = model(x.to(model_device(model)))
    return out, acts


@contextmanager
def edit(model: nn.Module, layer: Layer, fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Within the block, the layer's output is replaced by fn(output).

    fn must return a tensor shaped like its input; it must not change its input
    in place (the original output may be needed by autograd). The hook is
    removed when the block ends, also on error.

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(1, 3, 16, 16)
    >>> with edit(net, "relu2", lambda a: torch.zeros_like(a)):
    ...     silenced = net(x)
    >>> torch.allclose(silenced, net.fc.bias[None])  # nothing reaches the classifier but its bias
    True
    """
    module = get_layer(model, layer)
    name = resolve(model, layer)

    def hook(_module, _inputs, output):
        new = fn(output)
        if not isinstance(new, Tensor) or new.shape != output.shape:
            got = tuple(new.shape) if isinstance(new, Tensor) else type(new).__name__
            raise ValueError(f"the edit of {name!r} must return a tensor shaped like the layer's "
                             f"output {tuple(output.shape)}; it returned {got}")
        return new

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
