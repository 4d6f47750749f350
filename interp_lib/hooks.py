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

One road from a model to its activations: `capture` records them during a
pass you make; `run_with_cache` makes one pass; `activations` runs a whole data
set in batches on the model's device (with a per-batch reduction and a
progress bar) and `layer_activations` is its one-layer form. A pass that only
needs inner activations stops at the deepest layer it reads (`stop=True`):
the rest of the network is never computed.

Editing is `edit`, which replaces layers' outputs with a function of them for
the duration of a `with` block; `ablate` and `patch_channel` are built on it.
`receptive_field` says which pixels a layer's centre neuron sees.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

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


# Modules that compute differently in training and eval mode: attribution warns about them,
# and the grader hands a model without them to a learner in training mode.
MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


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


class StopForward(Exception):
    """Raised by a capture hook to end a forward pass once every layer it records has run."""


class Activations(dict):
    """Layer name -> activation tensor, filled in by a forward pass inside `capture`.

    calls: how many times each layer has run in the block. stop: when True, the
    pass ends (StopForward) as soon as every recorded layer is present; clear()
    the dict before each pass, as `activations` and `render` do.
    """

    def __init__(self, expected: Sequence[str] = ()):
        super().__init__()
        self.expected = frozenset(expected)
        self.calls = dict.fromkeys(expected, 0)
        self.stop = False

    def __missing__(self, key: str) -> Tensor:
        if key not in self.expected:
            raise KeyError(f"{key!r} was not captured; captured layers: {sorted(self.expected)}")
        raise KeyError(f"layer {key!r} has not run yet: call the model inside the `with` block")

    def only(self) -> Tensor:
        """The activations of the one layer captured (for a capture of a single layer)."""
        if len(self.expected) != 1:
            raise ValueError(f"only() is for a capture of one layer; this one records "
                             f"{sorted(self.expected)}: index it by name")
        return self[next(iter(self.expected))]

    def complete(self) -> bool:
        """Every recorded layer has an activation."""
        return len(self) == len(self.expected)

    def each_ran_once(self) -> bool:
        """Every recorded layer ran exactly once in the block: then a pass can safely
        stop at the deepest of them (a layer that runs twice must be seen to the end)."""
        return all(n == 1 for n in self.calls.values())


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
    >>> torch.equal(acts["fc"], logits)  # the last layer's output is the logits
    True
    """
    modules = {_key(model, layer): get_layer(model, layer)
               for layer in _as_list(layers)}  # validates every name before hooking anything
    acts = Activations(modules)
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            acts.calls[name] += 1
            acts[name] = output.detach() if detach else output
            if acts.stop and acts.complete():
                raise StopForward
        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield acts
    finally:
        for h in handles:
            h.remove()


def forward(model: nn.Module, x: Tensor, acts: Activations) -> Tensor | None:
    """model(x) inside a `capture` block; None when the pass stopped early (acts.stop).

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> with capture(net, "relu1") as acts:
    ...     acts.stop = True
    ...     out = forward(net, torch.rand(1, 3, 16, 16), acts)
    >>> out is None, tuple(acts["relu1"].shape)  # conv2 and the rest never ran
    (True, (1, 6, 16, 16))
    """
    try:
        return model(x)
    except StopForward:
        return None


def run_with_cache(model: nn.Module, x: Tensor, layers: Layer | Sequence[Layer], *,
                   detach: bool = True, stop: bool = False) -> tuple[Tensor | None, Activations]:
    """Run model(x) once and return (output, activations of the named layers).

    x is moved to the model's device; so are the results. stop=True ends the
    pass as soon as every named layer has run, skipping the rest of the network
    (the output is then None): use it when the layers run once per pass, as in
    every plain feed-forward network.

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(1, 3, 16, 16)
    >>> logits, acts = run_with_cache(net, x, "relu2")
    >>> _, early = run_with_cache(net, x, "relu2", stop=True)
    >>> torch.equal(acts["relu2"], early["relu2"])  # the same activations, without the classifier
    True
    """
    with capture(model, layers, detach=detach) as acts:
        acts.stop = stop
        out = forward(model, x.to(model_device(model)), acts)
    return out, acts


@torch.no_grad()
def activations(model: nn.Module, images: Tensor, layers: Layer | Sequence[Layer], *,
                batch_size: int = 256, reduce: Callable[[Tensor], Tensor] | None = None,
                progress: bool = False) -> dict[str, Tensor]:
    """The activations of `layers` over a data set: layer name -> (N, ...) on the CPU.

    images: (N, 3, H, W), run through the model in batches of `batch_size` on
    the model's device, in eval mode (the model's own mode is restored).
    reduce: applied to each batch's activations (B, ...) before they leave the
    device, to keep less: `lambda a: a.mean(dim=(2, 3))` keeps each channel's
    mean, (N, C). Once the first batch shows that every layer runs once per
    pass, later passes stop at the deepest of them.

    >>> from interp_lib.organism.models import tiny_net
    >>> acts = activations(tiny_net(), torch.rand(5, 3, 16, 16), ["relu1", "relu2"], batch_size=2,
    ...                    reduce=lambda a: a.amax(dim=(2, 3)))
    >>> tuple(acts["relu1"].shape), tuple(acts["relu2"].shape)  # each channel's peak, per image
    ((5, 6), (5, 8))
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a tensor (N, 3, H, W), got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError("images is empty: there is nothing to run the model on")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    device = model_device(model)
    chunks: dict[str, list[Tensor]] = {}
    with eval_mode(model), capture(model, layers) as acts:
        for start in tqdm(range(0, len(images), batch_size), disable=not progress,
                          desc="activations", unit="batch", leave=False):
            acts.clear()
            forward(model, images[start:start + batch_size].to(device), acts)
            for name, a in acts.items():
                chunks.setdefault(name, []).append((a if reduce is None else reduce(a)).cpu())
            acts.stop = acts.each_ran_once()  # from the second batch on, stop early if safe
            for name in acts.calls:
                acts.calls[name] = 0
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def layer_activations(model: nn.Module, images: Tensor, layer: Layer, **kwargs) -> Tensor:
    """`activations` for one layer: its activations over the images, (N, ...) on the CPU.

    kwargs are `activations`' (batch_size, reduce, progress).

    >>> from interp_lib.organism.models import tiny_net
    >>> means = layer_activations(tiny_net(), torch.rand(4, 3, 16, 16), "relu2",
    ...                           reduce=lambda a: a.mean(dim=(2, 3)))
    >>> tuple(means.shape)  # one mean per image and channel
    (4, 8)
    """
    return next(iter(activations(model, images, layer, **kwargs).values()))


# --- the geometry of a layer ---------------------------------------------------------------

@dataclass(frozen=True)
class ReceptiveField:
    """The geometry of a layer's neurons in the input image, in pixels.

    size: the side of the square of pixels that can change one neuron; stride:
    pixels between neighbouring positions; map_size: (H, W) of the layer's grid;
    centre: the (x, y) image coordinates, in pixels from the image's top-left
    corner, of the centre of the *centre neuron's* field (the neuron at
    x = W // 2, y = H // 2, the one objectives and tuning curves read).
    """

    size: int
    stride: int
    map_size: tuple[int, int]
    centre: tuple[float, float]


def receptive_field(model: nn.Module, layer: Layer, *, size: int = 64) -> ReceptiveField:
    """The receptive field of a layer's centre neuron in a `size`-pixel image, measured
    with gradients.

    The pixels whose change can move the centre neuron are found by
    back-propagating from it through several random images (so that ReLUs and
    max-pools pass gradient somewhere; the union covers every pixel that can
    matter). Their bounding box gives the size and the centre.

    >>> from interp_lib.organism.models import tiny_net
    >>> receptive_field(tiny_net(), "relu2", size=16)  # two 3x3 convs and a pool: 8 px
    ReceptiveField(size=8, stride=2, map_size=(8, 8), centre=(9.0, 9.0))
    """
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, size, size, generator=g).to(model_device(model)).requires_grad_(True)
    with eval_mode(model), torch.enable_grad():  # also when called under torch.no_grad()
        a = run_with_cache(model, x, layer, detach=False, stop=True)[1].only()
        if a.ndim != 4:
            raise ValueError(f"{layer!r} gives activations shaped {tuple(a.shape)}; a receptive "
                             "field needs a convolutional layer (N, C, H, W)")
        h, w = a.shape[2:]
        (grad,) = torch.autograd.grad(a[:, :, h // 2, w // 2].sum(), x)
    seen = grad.abs().sum(dim=(0, 1)) > 0  # (size, size)
    rows, cols = seen.any(dim=1).nonzero()[:, 0], seen.any(dim=0).nonzero()[:, 0]
    if len(rows) == 0:
        return ReceptiveField(size, max(1, round(size / h)), (h, w), (size / 2, size / 2))
    top, bottom = int(rows.min()), int(rows.max()) + 1
    left, right = int(cols.min()), int(cols.max()) + 1
    return ReceptiveField(max(bottom - top, right - left), max(1, round(size / h)), (h, w),
                          ((left + right) / 2, (top + bottom) / 2))


# --- editing --------------------------------------------------------------------------------

@contextmanager
def edit(model: nn.Module, layers: Layer | Sequence[Layer], fn: Callable[[Tensor], Tensor]
         ) -> Iterator[None]:
    """Within the block, each named layer's output is replaced by fn(output).

    layers: a name or a list of names. fn must return a tensor shaped like its
    input; it must not change its input in place (the original output may be
    needed by autograd). The hooks are removed when the block ends, also on error.

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(1, 3, 16, 16)
    >>> with edit(net, "relu2", lambda a: torch.zeros_like(a)):
    ...     silenced = net(x)
    >>> torch.allclose(silenced, net.fc.bias[None])  # nothing reaches the classifier but its bias
    True
    """
    modules = {resolve(model, layer): get_layer(model, layer) for layer in _as_list(layers)}

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            new = fn(output)
            if not isinstance(new, Tensor) or new.shape != output.shape:
                got = tuple(new.shape) if isinstance(new, Tensor) else type(new).__name__
                raise ValueError(f"the edit of {name!r} must return a tensor shaped like the "
                                 f"layer's output {tuple(output.shape)}; it returned {got}")
            return new
        return hook

    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def ablate(model: nn.Module, layers: Layer | Sequence[Layer], channels: Sequence[int], *,
           value: float | Tensor = 0.0) -> Iterator[None]:
    """Within the block, the given channels of each named layer output `value` (0:
    silenced; or, for a mean-ablation, each channel's mean activation (len(channels),)).

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(2, 3, 16, 16)
    >>> with ablate(net, "relu2", [0, 3]):
    ...     _, acts = run_with_cache(net, x, "relu2")
    >>> float(acts["relu2"][:, [0, 3]].abs().max())
    0.0
    """
    idx = list(channels)
    val = torch.as_tensor(value, dtype=torch.float32)
    if val.ndim == 1 and len(val) != len(idx):
        raise ValueError(f"value gives {len(val)} values for {len(idx)} channels: give one "
                         "number, or one value per channel")

    def fn(a: Tensor) -> Tensor:
        out = a.clone()
        v = val.to(a.device, a.dtype)
        out[:, idx] = v.view(-1, *([1] * (a.ndim - 2))) if v.ndim == 1 else v
        return out

    with edit(model, layers, fn):
        yield


@contextmanager
def patch_channel(model: nn.Module, layer: Layer, channel: int,
                  fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Within the block, channel `channel` of `layer` is replaced by fn(layer's output):
    fn gets the whole (N, C, H, W) activation and returns the new (N, H, W) channel.

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(1, 3, 16, 16)
    >>> with patch_channel(net, "relu2", 1, lambda a: a[:, 2]):  # channel 1 copies channel 2
    ...     _, acts = run_with_cache(net, x, "relu2")
    >>> torch.equal(acts["relu2"][:, 1], acts["relu2"][:, 2])
    True
    """
    def replace(a: Tensor) -> Tensor:
        out = a.clone()
        out[:, channel] = fn(a)
        return out

    with edit(model, layer, replace):
        yield
