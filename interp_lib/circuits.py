"""Circuits: reading the weights between features (Zoom In, claim 2).

In the organism, `convK` reads the channels of the layer before it (`reluK-1`,
or `poolK-1` after a max-pool) through a kernel of weights: a k x k slice of
that kernel *is* the connection between one earlier unit and one later unit.
A positive weight at a position means "if the earlier unit fires there, excite
me"; a negative one, "inhibit me".

    w = weights(model, "conv3", to_channel=5, from_channel=7)     # (5, 5)
    pos, neg = split_sign(w)                                       # shown apart

Layers are named as everywhere in the course; the weights into `reluK` are
those of `convK`, so either name works.

Between layers that are not adjacent, *expanded weights* say how much a unit
of the earlier layer excites a later one through everything in between,
pretending the network is linear (ReLU as the identity, max-pool as an
average): `expanded_weights` composes the kernels, `expanded_weights_by_gradient`
differentiates a linearised copy, and the two agree.

Editing the circuit, with everything restored when the `with` block ends
(also on error): `ablate` silences channels, `patch_channel` replaces a
channel's activation, `replace_weights` swaps a unit's incoming weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.hooks import (Layer, edit, get_layer, layer_activations, layer_names, layer_root,
                              model_device, resolve)


def conv_of(model: nn.Module, layer: Layer) -> tuple[str, nn.Conv2d]:
    """The convolution whose weights feed `layer`: the layer itself if it is a
    convolution, else (for an organism's `reluK`) `convK`.

    >>> from interp_lib.organism.models import tiny_net
    >>> conv_of(tiny_net(), "relu2")[0]
    'conv2'
    """
    name = resolve(model, layer)
    module = get_layer(model, name)
    if isinstance(module, nn.Conv2d):
        return name, module
    if name.startswith("relu") and f"conv{name[4:]}" in layer_names(model):
        return f"conv{name[4:]}", get_layer(model, f"conv{name[4:]}")
    convs = [n for n in layer_names(model) if isinstance(get_layer(model, n), nn.Conv2d)]
    raise ValueError(f"{name!r} is not a convolution, so it has no kernel to read; "
                     f"convolutions: {', '.join(convs)}")


def input_layer(model: nn.Module, layer: Layer) -> str:
    """The layer a convolution reads: the module just before it (for the organisms,
    whose layers run in order: `relu2` or `pool2` before `conv3`).

    >>> from interp_lib.organism.models import tiny_net
    >>> input_layer(tiny_net(), "conv2")
    'pool1'
    """
    name, _ = conv_of(model, layer)
    names = [n for n in layer_names(model) if "." not in n]
    i = names.index(name)
    if i == 0:
        raise ValueError(f"{name!r} reads the input image, not another layer")
    return names[i - 1]


def weights(model: nn.Module, layer: Layer, to_channel: int, from_channel: int | None = None
            ) -> Tensor:
    """The kernel connecting units of the previous layer to channel `to_channel` of `layer`.

    Returns (C_in, k, k), or (k, k) for one `from_channel`: entry [y, x] is the
    weight from the earlier unit at that offset in the kernel's window. A copy:
    changing it does not change the model.

    >>> from interp_lib.organism.models import tiny_net
    >>> weights(tiny_net(), "conv2", 3).shape, weights(tiny_net(), "relu2", 3, 5).shape
    (torch.Size([6, 3, 3]), torch.Size([3, 3]))
    """
    name, conv = conv_of(model, layer)
    out_c, in_c = conv.weight.shape[:2]
    if not 0 <= to_channel < out_c:
        raise ValueError(f"to_channel {to_channel} is out of range: {name!r} has {out_c} "
                         f"channels (0 to {out_c - 1})")
    w = conv.weight.detach()[to_channel]
    if from_channel is None:
        return w.clone()
    if not 0 <= from_channel < in_c:
        raise ValueError(f"from_channel {from_channel} is out of range: {name!r} reads "
                         f"{in_c} channels (0 to {in_c - 1})")
    return w[from_channel].clone()


def split_sign(w: Tensor) -> tuple[Tensor, Tensor]:
    """(positive part, negative part) of weights, both >= 0: w = pos - neg.

    Excitation and inhibition cancel in a plain sum or average, so the
    Circuits thread shows them apart.

    >>> split_sign(torch.tensor([1.0, -2.0, 0.5]))
    (tensor([1.0000, 0.0000, 0.5000]), tensor([0., 2., 0.]))
    """
    return w.clamp_min(0), (-w).clamp_min(0)


def tangent_angles(orientation: float, radius: float, offsets: Tensor) -> Tensor:
    """The direction (degrees, modulo 180) of a curve's tangent at each offset.

    The curve bulges towards `orientation` (degrees, clockwise from "right",
    as in `stimuli.curves`), its midpoint at the origin and its centre of
    curvature `radius` pixels behind it. offsets: (..., 2) as (x, y) pixels.
    At a point p the tangent is perpendicular to p - centre.

    >>> tangent_angles(0.0, 10.0, torch.tensor([[0.0, 0.0]]))  # a curve facing right: vertical
    tensor([90.])
    """
    phi = torch.deg2rad(torch.tensor(float(orientation)))
    cx, cy = -radius * torch.cos(phi), -radius * torch.sin(phi)
    radial = torch.atan2(offsets[..., 1] - cy, offsets[..., 0] - cx)
    return (torch.rad2deg(radial) + 90.0) % 180.0


def tangent_rule(input_orientations: Tensor, orientation: float, radius: float, offsets: Tensor,
                 *, width: float | None = None) -> Tensor:
    """The Circuits thread's rule for a curve detector's weights from oriented inputs:
    cos(2 (input angle - tangent angle)) at each offset, +1 for an input along the
    curve's tangent there, -1 across it; times exp(-d^2 / (2 width^2)), d the offset's
    distance to the curve's circle, when a width is given (only positions near the
    curve count).

    input_orientations: (C_in,) degrees; offsets: (..., 2) as (x, y) pixels. Returns
    (C_in, ...).

    >>> w = tangent_rule(torch.tensor([90.0, 0.0]), 0.0, 10.0, torch.zeros(1, 2))
    >>> w[:, 0]  # at the midpoint of a curve facing right, the tangent is vertical
    tensor([ 1., -1.])
    """
    tau = torch.deg2rad(tangent_angles(orientation, radius, offsets))
    theta = torch.deg2rad(torch.as_tensor(input_orientations).float())
    rule = torch.cos(2 * (theta.view(-1, *([1] * tau.ndim)) - tau))
    if width is not None:
        phi = torch.deg2rad(torch.tensor(float(orientation)))
        cx, cy = -radius * torch.cos(phi), -radius * torch.sin(phi)
        d = torch.hypot(offsets[..., 0] - cx, offsets[..., 1] - cy) - radius
        rule = rule * torch.exp(-(d**2) / (2 * width**2))
    return rule


@dataclass
class TangentAlignment:
    """How much of each curve detector's excitation comes from oriented inputs lying
    along its curve's tangent.

    score: (D,) per detector, the positive-weight-weighted mean of
    cos(2 (input orientation - tangent)): 1 if every excitatory input is
    parallel to the tangent where it sits, -1 if perpendicular, about 0 by
    chance. null: (S, D) the same with input orientations shuffled.
    p_value: the share of shuffles whose mean score over detectors reaches the
    real one.
    """

    score: Tensor
    null: Tensor
    p_value: float

    @property
    def aligned(self) -> Tensor:
        """(D,) bool: the detector's score beats the median of its shuffles."""
        return self.score > self.null.median(dim=0).values


def tangent_alignment(model: nn.Module, layer: Layer, detectors: Sequence[int],
                      orientations: Sequence[float], radii: Sequence[float],
                      input_orientations: Tensor, input_mask: Tensor, *, stride: int,
                      n_shuffles: int = 1000, seed: int = 0) -> TangentAlignment:
    """Do curve detectors' excitatory inputs lie along the curve's tangent?

    detectors: channels of `layer`, with their preferred orientations and radii
    (degrees, pixels). input_orientations: (C_in,) each input channel's
    preferred line angle (degrees, modulo 180); input_mask: (C_in,) bool, the
    inputs that are oriented at all (others are left out). stride: pixels
    between neighbouring positions of the input layer (kernel offsets are
    converted to image offsets with it).

    >>> net = nn.Module(); net.conv = nn.Conv2d(2, 1, 3, padding=1)
    >>> ta = tangent_alignment(net, "conv", [0], [0.0], [10.0], torch.tensor([0.0, 90.0]),
    ...                        torch.tensor([True, True]), stride=4, n_shuffles=20)
    >>> ta.score.shape, ta.null.shape
    (torch.Size([1]), torch.Size([20, 1]))
    """
    _, conv = conv_of(model, layer)
    k = conv.weight.shape[-1]
    grid = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    offsets = torch.stack([xs, ys], dim=-1)  # (k, k, 2) as (x, y)
    theta = torch.as_tensor(input_orientations, dtype=torch.float32)[input_mask]
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(len(theta), generator=g) for _ in range(n_shuffles)])
    scores, nulls = [], []
    for c, phi, r in zip(detectors, orientations, radii):
        w = conv.weight.detach()[c][input_mask].clamp_min(0).cpu()  # (I, k, k)
        tau = tangent_angles(float(phi), float(r), offsets)  # (k, k)
        scores.append(_weighted_alignment(theta, tau, w))
        nulls.append(_weighted_alignment(theta[perms], tau, w))
    score, null = torch.stack(scores), torch.stack(nulls, dim=1)  # (D,), (S, D)
    p = float(((null.mean(dim=1) >= score.mean()).sum() + 1) / (n_shuffles + 1))
    return TangentAlignment(score, null, p)


def _weighted_alignment(theta: Tensor, tau: Tensor, w: Tensor) -> Tensor:
    """Mean of cos(2 (theta - tau)) weighted by w: theta (..., I) input orientations,
    tau (k, k) tangent directions, w (I, k, k) non-negative weights -> (...)."""
    cos = torch.cos(2 * torch.deg2rad(theta[..., :, None, None] - tau))
    return (cos * w).sum(dim=(-3, -2, -1)) / w.sum().clamp_min(1e-12)


def family_weights(model: nn.Module, layer: Layer, to_channels: Sequence[int],
                   from_channels: Sequence[int]) -> Tensor:
    """(T, F): each weight kernel from a `from_channels` unit to a `to_channels` unit,
    summed over its positions: the net excitation (+) or inhibition (-) one
    detector sends another.

    >>> from interp_lib.organism.models import tiny_net
    >>> family_weights(tiny_net(), "conv2", [0, 1], [2, 3, 4]).shape
    torch.Size([2, 3])
    """
    _, conv = conv_of(model, layer)
    w = conv.weight.detach().cpu()
    return w[list(to_channels)][:, list(from_channels)].sum(dim=(-2, -1))


# --- expanded weights ------------------------------------------------------------------------

def _path(model: nn.Module, source: Layer, target: Layer) -> list[tuple[str, nn.Module]]:
    """The modules after `source` up to and including the convolution feeding `target`."""
    src = resolve(model, source)
    tgt, _ = conv_of(model, target)
    names = [n for n in layer_names(model) if "." not in n]
    if src not in names or tgt not in names:
        raise ValueError("expanded weights follow the organism's layers in order; "
                         f"{src!r} or {tgt!r} is not one of {', '.join(names)}")
    i, j = names.index(src), names.index(tgt)
    if i >= j:
        raise ValueError(f"{src!r} must come before {tgt!r}: the layers run "
                         f"{', '.join(names)}")
    path = [(n, get_layer(model, n)) for n in names[i + 1:j + 1]]
    for n, m in path:
        if not isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Identity)):
            raise ValueError(f"expanded weights pass through convolutions, ReLUs and pools; "
                             f"{n!r} is a {type(m).__name__}")
    return path


def expanded_weights(model: nn.Module, source: Layer, target: Layer) -> Tensor:
    """Expanded weights from every channel of `source` to every channel of `target`,
    by composing the kernels in between: (C_target, C_source, K, K).

    The network between the two is treated as linear, as the Circuits thread
    does: ReLU as the identity, max-pool as a 2x2 average. Entry [c, s, y, x] is
    how much channel s of `source`, at offset (x, y) in the K x K window that
    `target`'s centre unit sees, adds to that unit's pre-activation. Going back
    through a convolution is a transposed convolution of the kernels; through
    an average-pool, a transposed pooling that spreads each weight over the
    2x2 block it averaged.

    >>> from interp_lib.organism.models import tiny_net
    >>> expanded_weights(tiny_net(), "relu1", "conv2").shape  # conv2's kernel, through pool1
    torch.Size([8, 6, 6, 6])
    """
    path = _path(model, source, target)
    w = path[-1][1].weight.detach().double()  # (C_t, C_prev, k, k)
    for _, m in reversed(path[:-1]):
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pool_size(m)
            c = w.shape[1]
            spread = torch.full((c, 1, k, k), 1.0 / (k * k), dtype=w.dtype, device=w.device)
            w = F.conv_transpose2d(w, spread, stride=s, groups=c)
        elif isinstance(m, nn.Conv2d):
            _check_plain_conv(m)
            w = F.conv_transpose2d(w, m.weight.detach().double())
    return w.float()


def _pool_size(m: nn.Module) -> tuple[int, int]:
    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
    s = m.stride if isinstance(m.stride, int) else m.stride[0]
    return k, s or k


def _check_plain_conv(m: nn.Conv2d) -> None:
    if m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1:
        raise ValueError("expanded weights by composition handle stride-1, undilated, "
                         "ungrouped convolutions (the organisms'); use "
                         "expanded_weights_by_gradient for others")


def linearised(model: nn.Module) -> nn.Module:
    """A copy of the model with every ReLU replaced by the identity and every max-pool
    by an average-pool of the same size: the linear network that expanded weights
    describe. The original is untouched.

    >>> from interp_lib.organism.models import tiny_net
    >>> lin = linearised(tiny_net())
    >>> type(lin.relu1).__name__, type(lin.pool1).__name__
    ('Identity', 'AvgPool2d')
    """
    copy_ = copy.deepcopy(model)
    root = layer_root(copy_)
    for name, m in list(root.named_modules()):
        if isinstance(m, nn.ReLU):
            replacement = nn.Identity()
        elif isinstance(m, nn.MaxPool2d):
            replacement = nn.AvgPool2d(m.kernel_size, m.stride, m.padding)
        else:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(root.get_submodule(parent_name) if parent_name else root, child, replacement)
    return copy_.eval()


def _geometry(path: list[tuple[str, nn.Module]]) -> tuple[int, int]:
    """(total stride, left offset): the centre-output unit's window in the source grid
    starts at o * stride - offset."""
    stride, offset = 1, 0
    for _, m in path:
        if isinstance(m, nn.Conv2d):
            offset += m.padding[0] * stride
            stride *= m.stride[0]
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pool_size(m)
            stride *= s
    return stride, offset


def expanded_weights_by_gradient(model: nn.Module, source: Layer, target: Layer) -> Tensor:
    """The same expanded weights as `expanded_weights`, computed the other way: the
    gradient of each target channel's centre pre-activation with respect to the
    source layer's activations, in the linearised network (ReLU as identity,
    max-pool as average), cropped to the K x K window: (C_target, C_source, K, K).

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> torch.allclose(expanded_weights_by_gradient(net, "relu1", "conv2"),
    ...                expanded_weights(net, "relu1", "conv2"), atol=1e-6)
    True
    """
    lin = linearised(model)
    path = [(n, get_layer(lin, n)) for n, _ in _path(model, source, target)]
    stride, offset = _geometry(path)
    k = expanded_weights_size(path)
    c_src = next(m for _, m in path if isinstance(m, nn.Conv2d)).in_channels
    size = stride * (2 * (k // stride + 2))  # a grid big enough that no window touches its edge
    x = torch.zeros(1, c_src, size, size, dtype=torch.float64,
                    device=model_device(model)).requires_grad_(True)
    out = x
    for _, m in path:
        out = m.double()(out)
    o = out.shape[-1] // 2
    start = o * stride - offset
    rows = []
    for c in range(out.shape[1]):
        (g,) = torch.autograd.grad(out[0, c, o, o], x, retain_graph=True)
        rows.append(g[0, :, start:start + k, start:start + k])
    return torch.stack(rows).float().cpu()


def effective_weights(model: nn.Module, inputs: Tensor, source: Layer, target: Layer, *,
                      to_channel: int, from_channel: int) -> Tensor:
    """What an expanded weight becomes in the real network, image by image: the gradient
    of `target`'s centre pre-activation (channel `to_channel`) with respect to channel
    `from_channel` of `source`, over the same K x K window as
    `expanded_weights(model, source, target)[to_channel, from_channel]`: (N, K, K) for
    inputs (N, 3, H, W).

    Without ReLUs and max-pools in between it equals the expanded weight for every
    image; with them it changes from image to image, as the units in between switch on
    and off. Where paths of opposite sign cancel in the expanded weight, this shows
    which of them the real network lets through.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> lin = effective_weights(linearised(net), x, "relu1", "conv2", to_channel=0, from_channel=1)
    >>> torch.allclose(lin[0], expanded_weights(net, "relu1", "conv2")[0, 1], atol=1e-6)
    True
    >>> effective_weights(net, x, "relu1", "conv2", to_channel=0, from_channel=1).shape
    torch.Size([2, 6, 6])
    """
    from interp_lib.hooks import run_with_cache

    path = _path(model, source, target)
    stride, offset = _geometry(path)
    k = expanded_weights_size(path)
    src, tgt = resolve(model, source), path[-1][0]
    x = inputs.to(model_device(model))
    _, acts = run_with_cache(model, x, [src, tgt], detach=False)
    out = acts[tgt]
    o = out.shape[-1] // 2
    (grad,) = torch.autograd.grad(out[:, to_channel, o, o].sum(), acts[src])
    start = o * stride - offset
    # The window can reach past the layer's edge (into the padding): pad with zeros there.
    g = F.pad(grad[:, from_channel], (k, k, k, k))
    return g[:, start + k:start + 2 * k, start + k:start + 2 * k].detach().cpu()


def expanded_weights_size(path: list[tuple[str, nn.Module]]) -> int:
    """The side K of the window the composed kernels cover, in the source grid.

    >>> from interp_lib.organism.models import tiny_net
    >>> expanded_weights_size(_path(tiny_net(), "relu1", "conv2"))
    6
    """
    k = path[-1][1].weight.shape[-1]
    for _, m in reversed(path[:-1]):
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            pk, s = _pool_size(m)
            k = (k - 1) * s + pk
        elif isinstance(m, nn.Conv2d):
            k = k + m.weight.shape[-1] - 1
    return k


def image_expanded_weights(model: nn.Module, target: Layer, channel: int) -> Tensor:
    """Expanded weights from the input image to one channel of `target`: (3, K, K),
    the RGB pattern the unit's linearised weights prefer. Show the positive and
    negative parts apart (`split_sign`).

    >>> from interp_lib.organism.models import tiny_net
    >>> image_expanded_weights(tiny_net(), "conv2", 0).shape
    torch.Size([3, 8, 8])
    """
    first = next(n for n in layer_names(model) if isinstance(get_layer(model, n), nn.Conv2d))
    _, conv = conv_of(model, target)
    if resolve(model, first) == conv_of(model, target)[0]:
        return conv.weight.detach()[channel].clone().cpu()
    names = [n for n in layer_names(model) if "." not in n]
    after_first = names[names.index(first)]
    w = expanded_weights(model, after_first, target)[channel]  # (C_1, K, K) on conv1's outputs
    w1 = get_layer(model, first).weight.detach().double()  # (C_1, 3, k, k)
    return F.conv_transpose2d(w.double()[None], w1)[0].float().cpu()


# --- editing the circuit ---------------------------------------------------------------------

@contextmanager
def ablate(model: nn.Module, layer: Layer, channels: Sequence[int], *,
           value: float | Tensor = 0.0) -> Iterator[None]:
    """Within the block, the given channels of `layer` output `value` (0: silenced;
    or, for a mean-ablation, each channel's mean activation (len(channels),)).

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(2, 3, 16, 16)
    >>> from interp_lib.hooks import run_with_cache
    >>> with ablate(net, "relu2", [0, 3]):
    ...     _, acts = run_with_cache(net, x, "relu2")
    >>> float(acts["relu2"][:, [0, 3]].abs().max())
    0.0
    """
    idx = list(channels)
    val = torch.as_tensor(value, dtype=torch.float32)

    def fn(a: Tensor) -> Tensor:
        out = a.clone()
        v = val.to(a.device, a.dtype)
        out[:, idx] = v.view(-1, *([1] * (a.ndim - 2))) if v.ndim == 1 else v
        return out

    with edit(model, layer, fn):
        yield


@contextmanager
def patch_channel(model: nn.Module, layer: Layer, channel: int,
                  fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Within the block, channel `channel` of `layer` is replaced by fn(layer's output):
    fn gets the whole (N, C, H, W) activation and returns the new (N, H, W) channel.

    >>> from interp_lib.hooks import run_with_cache
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


@contextmanager
def replace_weights(model: nn.Module, layer: Layer, to_channel: int, weight: Tensor,
                    bias: float | None = None) -> Iterator[None]:
    """Within the block, channel `to_channel` of `layer`'s convolution uses `weight`
    (C_in, k, k) (and `bias`) instead of its own; the originals come back exactly
    when the block ends, also on error.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> before = net.conv2.weight.clone()
    >>> with replace_weights(net, "conv2", 0, torch.zeros(6, 3, 3)):
    ...     float(net.conv2.weight[0].detach().abs().sum())
    0.0
    >>> torch.equal(net.conv2.weight, before)
    True
    """
    name, conv = conv_of(model, layer)
    if tuple(weight.shape) != tuple(conv.weight.shape[1:]):
        raise ValueError(f"the new weights of a unit of {name!r} must be shaped "
                         f"{tuple(conv.weight.shape[1:])} (inputs, k, k); got {tuple(weight.shape)}")
    saved_w = conv.weight.detach()[to_channel].clone()
    saved_b = None if conv.bias is None else conv.bias.detach()[to_channel].clone()
    try:
        with torch.no_grad():
            conv.weight[to_channel] = weight.to(conv.weight)
            if bias is not None and conv.bias is not None:
                conv.bias[to_channel] = bias
        yield
    finally:
        with torch.no_grad():
            conv.weight[to_channel] = saved_w
            if saved_b is not None:
                conv.bias[to_channel] = saved_b


# --- reading families of weights -----------------------------------------------------------------

def orientation_weight_correlation(weights_summed: Tensor, to_orientations: Tensor,
                                   from_orientations: Tensor) -> tuple[float, float]:
    """Spearman correlation (and its p-value) between the summed weight from each earlier
    detector to each later one, (T, F), and the cosine of their orientation
    difference (degrees). Positive: same-orientation detectors excite each other
    and opposite ones inhibit, as in InceptionV1's curve circuits.

    >>> w = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    >>> rho, p = orientation_weight_correlation(w, torch.tensor([0.0, 180.0]), torch.tensor([0.0, 180.0]))
    >>> round(rho, 3)
    1.0
    """
    from scipy import stats

    cos = torch.cos(torch.deg2rad(to_orientations[:, None] - from_orientations[None, :]))
    rho, p = stats.spearmanr(weights_summed.flatten().numpy(), cos.flatten().numpy())
    return float(rho), float(p)


# --- paths, bands and symmetries --------------------------------------------------------------

def path_contributions(model: nn.Module, source: Layer, middle: Layer, target: Layer,
                       to_channel: int, from_channel: int) -> Tensor:
    """How each channel of the `middle` layer carries `from_channel` of `source` to
    `to_channel` of `target`, in the linearised network: (C_middle, K, K), whose sum over
    the first axis is the expanded weight
    `expanded_weights(model, source, target)[to_channel, from_channel]`.

    A small expanded weight can hide large paths of opposite sign that cancel; in the
    real network a ReLU may switch one of them off, and the cancellation is gone.

    >>> from interp_lib.organism.models import Architecture, ConvNet, init_weights
    >>> net = ConvNet(Architecture((4, 6, 8), 3, (1,))); init_weights(net, 0)
    >>> paths = path_contributions(net, "relu1", "relu2", "conv3", 0, 1)
    >>> paths.shape, torch.allclose(paths.sum(0), expanded_weights(net, "relu1", "conv3")[0, 1],
    ...                             atol=1e-5)
    (torch.Size([6, 10, 10]), True)
    """
    outer = expanded_weights(model, middle, target)[to_channel]  # (C_m, K1, K1) on middle's grid
    inner = expanded_weights(model, source, middle)[:, from_channel]  # (C_m, K2, K2) on source's
    # Each middle channel's own path: its outer kernel composed with its inner kernel, the
    # outer one spread out by the stride between the middle layer's grid and the source's.
    stride, _ = _geometry(_path(model, source, middle))
    paths = F.conv_transpose2d(outer[None].double(), inner[:, None].double(), stride=stride,
                               groups=outer.shape[0])
    return paths[0].float()


def banding(weights: Tensor) -> tuple[float, float]:
    """How banded a layer's kernels are: the mean share of each kernel's variance
    explained by its row means (horizontal bands: constant along each row) and by its
    column means (vertical bands). Random kernels give about 1/k for both.

    weights: (C_out, C_in, k, k). Returns (horizontal, vertical).

    >>> w = torch.arange(5.0).view(1, 1, 5, 1).expand(1, 1, 5, 5)  # rows differ, columns don't
    >>> banding(w)
    (1.0, 0.0)
    """
    w = weights.detach().float()
    w = w - w.mean(dim=(-2, -1), keepdim=True)
    total = w.square().sum(dim=(-2, -1)).clamp_min(1e-12)
    rows = w.mean(dim=-1, keepdim=True).expand_as(w).square().sum(dim=(-2, -1))
    cols = w.mean(dim=-2, keepdim=True).expand_as(w).square().sum(dim=(-2, -1))
    keep = total > 1e-10
    return float((rows / total)[keep].mean()), float((cols / total)[keep].mean())


def rotate(image: Tensor, degrees: float) -> Tensor:
    """Rotate maps (..., H, W) by `degrees` about their centre, clockwise on screen (the
    course's orientation convention: y points down), bilinear, zeros outside.

    >>> x = torch.zeros(1, 5, 5); x[0, 2, 4] = 1.0  # a dot to the right of the centre
    >>> int(rotate(x, 90).argmax())  # ... ends below it: row 4, column 2
    22
    """
    x = image.reshape(-1, 1, *image.shape[-2:]).float()
    a = torch.deg2rad(torch.tensor(float(degrees)))
    # grid_sample maps output coordinates to input ones: rotate the grid the other way.
    theta = torch.tensor([[torch.cos(a), torch.sin(a), 0.0],
                          [-torch.sin(a), torch.cos(a), 0.0]], dtype=x.dtype)[None]
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False).reshape(image.shape)


def rotation_match(a: Tensor, b: Tensor, degrees: float) -> float:
    """Correlation between map b and map a rotated by `degrees` (each (..., H, W)):
    how well one detector's weights, rotated, predict another's (equivariance).

    >>> x = torch.zeros(1, 9, 9); x[0, 4, 6:9] = 1.0
    >>> round(rotation_match(x, rotate(x, 90), 90), 3)
    1.0
    """
    ra = rotate(a, degrees).flatten()
    fb = b.detach().float().flatten()
    ra, fb = ra - ra.mean(), fb - fb.mean()
    den = (ra.norm() * fb.norm()).clamp_min(1e-12)
    return float((ra * fb).sum() / den)


# --- rebuilding and reading circuits ----------------------------------------------------------

@dataclass
class HandBuilt:
    """Hand-written weights (C_in, k, k) and bias for each detector, by channel."""

    weights: dict[int, Tensor]
    biases: dict[int, float]
    fit: dict[int, float]  # the correlation of each hand-made unit with the real one


def hand_built_family(model: nn.Module, layer: Layer, detectors: Sequence[int], tuning,
                      lines, oriented: Tensor, *, stride: int, images: Tensor | None = None
                      ) -> HandBuilt:
    """Curve detectors written by hand from the tangent rule (`tangent_rule`, as in
    chapter 4's `tangent_weights`): each detector's weights from the oriented units of the
    layer before excite inputs along its curve's tangent and inhibit those across it,
    near the curve only (within about one input position, `stride` pixels), for the
    detector's preferred orientation and radius (from `tuning`, a CurveTuning); the input
    angles from `lines` (a LineTuning of the layer before), only the `oriented` inputs
    used, the others given weight 0.

    One scale and one bias per detector are fitted (least squares) so that the
    hand-made unit's pre-activation matches the real one's on `images` (default: 256
    of the organism's drawings), at every position.

    >>> hand = hand_built_family(model, "relu3", family, tuning, lines, oriented,
    ...                          stride=4)  # doctest: +SKIP
    """
    from interp_lib.hooks import run_with_cache
    from interp_lib.organism import data

    name, conv = conv_of(model, layer)
    source = input_layer(model, layer)
    k = conv.weight.shape[-1]
    if images is None:
        images = data.make_batch(256, seed=2**31 - 5).images
    with torch.no_grad():
        _, acts = run_with_cache(model, images, [source, name])
    src, real = acts[source].cpu(), acts[name].cpu()
    offsets = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(offsets, offsets, indexing="ij")
    grid = torch.stack([xs, ys], dim=-1)
    weights, biases, fit = {}, {}, {}
    for c in detectors:
        rule = tangent_rule(lines.preferred, float(tuning.preferred[c]),
                            float(tuning.preferred_radius[c]), grid, width=float(stride))
        rule = rule * oriented.float()[:, None, None]
        built = F.conv2d(src, rule[None], padding=k // 2)[:, 0].flatten()
        target = real[:, c].flatten()
        design = torch.stack([built, torch.ones_like(built)], dim=1).double()
        solution = torch.linalg.lstsq(design, target.double()[:, None]).solution[:, 0]
        scale, bias = float(solution[0]), float(solution[1])
        weights[c] = (scale * rule).float()
        biases[c] = bias
        fit[c] = float(torch.corrcoef(torch.stack([built, target]))[0, 1])
    return HandBuilt(weights, biases, fit)


@dataclass
class CompositeReading:
    """A late unit read by position: at each kernel position, the family member that
    excites it most (its index into the family, or -1) and that weight."""

    channel: int
    best: Tensor
    weight: Tensor
    figure: object


def composite_reading(model: nn.Module, layer: Layer, family: Sequence[int],
                      orientations: Tensor, *, class_index: int, images) -> CompositeReading:
    """Find the unit of `layer` most selective for one class (on `images`, a ShapeBatch),
    and read which member of `family` (channels of the layer before, with their preferred
    `orientations`) excites it most at each position of its kernel. The figure draws,
    in each cell, the preferred arc of that member, faded by the weight.

    >>> reading = composite_reading(model, "relu4", family, tuning.preferred[family],
    ...                             class_index=0, images=batch)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from interp_lib.organism import stimuli
    from interp_lib.plotting import to_numpy_image
    name, conv = conv_of(model, layer)
    a = layer_activations(model, images.images, layer, reduce=lambda m: m.mean(dim=(2, 3)))  # (N, C)
    on = images.labels == class_index
    score = a[on].mean(0) - a[~on].mean(0)
    unit = int(score.argmax())
    w = conv.weight.detach().cpu()[unit][list(family)]  # (F, k, k)
    value, best = w.max(dim=0)
    best = torch.where(value > 0, best, torch.full_like(best, -1))
    k = w.shape[-1]
    fig, axes = plt.subplots(k, k, figsize=(3.4, 3.4))
    vmax = float(value.clamp(min=0).max()) or 1.0
    for y in range(k):
        for x in range(k):
            ax = axes[y, x]
            ax.axis("off")
            if best[y, x] >= 0:
                glyph = stimuli.curves(float(orientations[int(best[y, x])]), radius=7.0, size=24,
                                       width=3.0)[0]
                alpha = float(value[y, x].clamp(min=0)) / vmax
                ax.imshow(to_numpy_image(1 - alpha * glyph))  # a dark arc, faded by the weight
    fig.suptitle(f"unit {unit} of {name}: the strongest curve input at each position",
                 fontsize=10)
    fig.tight_layout()
    return CompositeReading(unit, best, value, fig)
