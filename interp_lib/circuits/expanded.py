"""Expanded weights: how a unit excites a later one through the layers in between.

Between layers that are not adjacent, *expanded weights* say how much a unit
of the earlier layer excites a later one through everything in between,
pretending the network is linear (ReLU as the identity, max-pool as an
average), as the Circuits thread does:

    expanded_weights(model, "relu1", "conv3")               # (C_conv3, C_relu1, K, K)
    expanded_weights_by_gradient(model, "relu1", "conv3")   # the same, the other way

`expanded_weights` composes the kernels, `expanded_weights_by_gradient`
differentiates a `linearised` copy of the network, and the two agree.
`image_expanded_weights` goes back to the pixels; `path_contributions` splits
an expanded weight into the paths through each unit of a layer in between,
which can cancel; `effective_weights` says what the real network, with its
ReLUs, does instead, image by image.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.circuits.kernels import conv_of
from interp_lib.hooks import Layer, get_layer, layer_names, layer_root, model_device, resolve


def _path(model: nn.Module, from_layer: Layer, to_layer: Layer) -> list[tuple[str, nn.Module]]:
    """The modules after `from_layer` up to and including the convolution feeding `to_layer`."""
    src = resolve(model, from_layer)
    tgt, _ = conv_of(model, to_layer)
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


def _pool_size(m: nn.Module) -> tuple[int, int]:
    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
    s = m.stride if isinstance(m.stride, int) else m.stride[0]
    return k, s or k


def _check_plain_conv(m: nn.Conv2d) -> None:
    if m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1:
        raise ValueError("expanded weights by composition handle stride-1, undilated, "
                         "ungrouped convolutions (the organisms'); use "
                         "expanded_weights_by_gradient for others")


def _geometry(path: list[tuple[str, nn.Module]]) -> tuple[int, int]:
    """(total stride, left offset): the centre-output unit's window in the from-layer's
    grid starts at o * stride - offset."""
    stride, offset = 1, 0
    for _, m in path:
        if isinstance(m, nn.Conv2d):
            offset += m.padding[0] * stride
            stride *= m.stride[0]
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            _, s = _pool_size(m)
            stride *= s
    return stride, offset


def _window_size(path: list[tuple[str, nn.Module]]) -> int:
    """The side K of the window the composed kernels cover, in the from-layer's grid."""
    k = path[-1][1].weight.shape[-1]
    for _, m in reversed(path[:-1]):
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            pk, s = _pool_size(m)
            k = (k - 1) * s + pk
        elif isinstance(m, nn.Conv2d):
            k = k + m.weight.shape[-1] - 1
    return k


def expanded_weights(model: nn.Module, from_layer: Layer, to_layer: Layer) -> Tensor:
    """Expanded weights from every channel of `from_layer` to every channel of `to_layer`,
    by composing the kernels in between: (C_to, C_from, K, K).

    The network between the two is treated as linear, as the Circuits thread
    does: ReLU as the identity, max-pool as a 2x2 average. Entry [c, s, y, x] is
    how much channel s of `from_layer`, at offset (x, y) in the K x K window that
    `to_layer`'s centre unit sees, adds to that unit's pre-activation. Going back
    through a convolution is a transposed convolution of the kernels; through
    an average-pool, a transposed pooling that spreads each weight over the
    2x2 block it averaged.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> torch.allclose(expanded_weights(net, "pool1", "conv2"), net.conv2.weight)  # adjacent: the kernel
    True
    >>> w = expanded_weights(net, "relu1", "conv2")  # through pool1: 3 positions become 6
    >>> w.shape
    torch.Size([8, 6, 6, 6])
    >>> torch.allclose(w[..., :2, :2].sum((-2, -1)), net.conv2.weight[..., 0, 0])  # a 2x2 block each
    True
    """
    path = _path(model, from_layer, to_layer)
    w = path[-1][1].weight.detach().double()  # (C_to, C_prev, k, k)
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


def linearised(model: nn.Module) -> nn.Module:
    """A copy of the model with every ReLU replaced by the identity and every max-pool
    by an average-pool of the same size: the linear network that expanded weights
    describe. The original is untouched.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> lin = linearised(net)
    >>> type(lin.relu1).__name__, type(lin.pool1).__name__, type(net.relu1).__name__
    ('Identity', 'AvgPool2d', 'ReLU')
    >>> x, zero = torch.rand(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    >>> torch.allclose(lin(2 * x) - lin(zero), 2 * (lin(x) - lin(zero)), atol=1e-5)  # linear
    True
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


def expanded_weights_by_gradient(model: nn.Module, from_layer: Layer, to_layer: Layer) -> Tensor:
    """The same expanded weights as `expanded_weights`, computed the other way: the
    gradient of each `to_layer` channel's centre pre-activation with respect to
    `from_layer`'s activations, in the linearised network (ReLU as identity,
    max-pool as average), cropped to the K x K window: (C_to, C_from, K, K).

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> torch.allclose(expanded_weights_by_gradient(net, "relu1", "conv2"),
    ...                expanded_weights(net, "relu1", "conv2"), atol=1e-6)
    True
    """
    lin = linearised(model)
    path = [(n, get_layer(lin, n)) for n, _ in _path(model, from_layer, to_layer)]
    stride, offset = _geometry(path)
    k = _window_size(path)
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


def effective_weights(model: nn.Module, inputs: Tensor, from_layer: Layer, to_layer: Layer, *,
                      to_channel: int, from_channel: int) -> Tensor:
    """What an expanded weight becomes in the real network, image by image: the gradient
    of `to_layer`'s centre pre-activation (channel `to_channel`) with respect to channel
    `from_channel` of `from_layer`, over the same K x K window as
    `expanded_weights(model, from_layer, to_layer)[to_channel, from_channel]`: (N, K, K)
    for inputs (N, 3, H, W).

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
    >>> real = effective_weights(net, x, "relu1", "conv2", to_channel=0, from_channel=1)
    >>> real.shape  # each max-pool block passes its largest unit's share, each ReLU some units
    torch.Size([2, 6, 6])
    >>> torch.allclose(real[0], lin[0], atol=1e-6), torch.allclose(real[0], real[1], atol=1e-6)
    (False, False)
    """
    from interp_lib.hooks import run_with_cache

    path = _path(model, from_layer, to_layer)
    stride, offset = _geometry(path)
    k = _window_size(path)
    src, tgt = resolve(model, from_layer), path[-1][0]
    x = inputs.to(model_device(model))
    _, acts = run_with_cache(model, x, [src, tgt], detach=False)
    out = acts[tgt]
    o = out.shape[-1] // 2
    (grad,) = torch.autograd.grad(out[:, to_channel, o, o].sum(), acts[src])
    start = o * stride - offset
    # The window can reach past the layer's edge (into the padding): pad with zeros there.
    g = F.pad(grad[:, from_channel], (k, k, k, k))
    return g[:, start + k:start + 2 * k, start + k:start + 2 * k].detach().cpu()


def image_expanded_weights(model: nn.Module, to_layer: Layer, to_channel: int) -> Tensor:
    """Expanded weights from the input image to channel `to_channel` of `to_layer`:
    (3, K, K), the RGB pattern the unit's linearised weights prefer. Show the positive
    and negative parts apart (`split_sign`).

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> torch.equal(image_expanded_weights(net, "conv1", 2), net.conv1.weight[2])  # its own kernel
    True
    >>> image_expanded_weights(net, "conv2", 0).shape  # conv2's units see 8 x 8 pixels
    torch.Size([3, 8, 8])
    """
    first = next(n for n in layer_names(model) if isinstance(get_layer(model, n), nn.Conv2d))
    name, conv = conv_of(model, to_layer)
    if resolve(model, first) == name:
        return conv.weight.detach()[to_channel].clone().cpu()
    w = expanded_weights(model, first, to_layer)[to_channel]  # (C_1, K, K) on conv1's outputs
    w1 = get_layer(model, first).weight.detach().double()  # (C_1, 3, k, k)
    return F.conv_transpose2d(w.double()[None], w1)[0].float().cpu()


def path_contributions(model: nn.Module, from_layer: Layer, via_layer: Layer, to_layer: Layer, *,
                       to_channel: int, from_channel: int) -> Tensor:
    """How each channel of `via_layer` carries `from_channel` of `from_layer` to
    `to_channel` of `to_layer`, in the linearised network: (C_via, K, K), whose sum over
    the first axis is the expanded weight
    `expanded_weights(model, from_layer, to_layer)[to_channel, from_channel]`.

    A small expanded weight can hide large paths of opposite sign that cancel; in the
    real network a ReLU may switch one of them off, and the cancellation is gone.

    >>> from interp_lib.organism.models import Architecture, ConvNet, init_weights
    >>> net = ConvNet(Architecture((4, 6, 8), 3, (1,))); init_weights(net, 0)
    >>> paths = path_contributions(net, "relu1", "relu2", "conv3", to_channel=0, from_channel=1)
    >>> paths.shape  # one path through each of relu2's 6 channels
    torch.Size([6, 10, 10])
    >>> torch.allclose(paths.sum(0), expanded_weights(net, "relu1", "conv3")[0, 1], atol=1e-5)
    True
    >>> bool(paths.abs().sum(0).max() > paths.sum(0).abs().max())  # some paths cancel
    True
    """
    outer = expanded_weights(model, via_layer, to_layer)[to_channel]  # (C_via, K1, K1)
    inner = expanded_weights(model, from_layer, via_layer)[:, from_channel]  # (C_via, K2, K2)
    # Each via channel's own path: its outer kernel composed with its inner kernel, the
    # outer one spread out by the stride between the via layer's grid and the from-layer's.
    stride, _ = _geometry(_path(model, from_layer, via_layer))
    paths = F.conv_transpose2d(outer[None].double(), inner[:, None].double(), stride=stride,
                               groups=outer.shape[0])
    return paths[0].float()
