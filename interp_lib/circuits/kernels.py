"""Kernels: the weights between units of adjacent layers, read, swapped and compared.

In the organism, `convK` reads the channels of the layer before it (`reluK-1`,
or `poolK-1` after a max-pool) through a kernel of weights: a k x k slice of
that kernel *is* the connection between one earlier unit and one later unit.
A positive weight at a position means "if the earlier unit fires there, excite
me"; a negative one, "inhibit me".

    w = weights(model, "conv3", to_channel=5, from_channel=7)     # (5, 5)
    pos, neg = split_sign(w)                                       # shown apart

Layers are named as everywhere in the course; the weights into `reluK` are
those of `convK`, so either name works. `replace_weights` swaps a unit's
incoming weights for the duration of a `with` block. Whole layers of kernels
are compared too: how banded they are (`banding`), and whether one detector's
weights, rotated, are another's (`rotate`, `rotation_match`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.hooks import Layer, get_layer, layer_names, resolve


def conv_of(model: nn.Module, layer: Layer) -> tuple[str, nn.Conv2d]:
    """The convolution whose weights feed `layer`: the layer itself if it is a
    convolution, else (for an organism's `reluK`) `convK`.

    >>> from interp_lib.organism.models import tiny_net
    >>> conv_of(tiny_net(), "relu2")[0]  # relu2's units are conv2's, after the ReLU
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
    >>> input_layer(tiny_net(), "conv2")  # tiny_net max-pools after relu1
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
    >>> net = tiny_net()
    >>> w = weights(net, "relu2", 3, 5)  # from channel 5 of pool1 to channel 3 of conv2
    >>> w.shape
    torch.Size([3, 3])
    >>> x = torch.zeros(1, 6, 3, 3); x[0, 5, 0, 2] = 1.0  # channel 5 fires at the top right
    >>> centre = net.conv2(x)[0, 3, 1, 1] - net.conv2.bias[3]  # what reaches the centre unit
    >>> bool(torch.isclose(centre, w[0, 2]))  # is the weight at that offset
    True
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

    >>> w = torch.tensor([1.0, -2.0, 0.5])
    >>> pos, neg = split_sign(w)
    >>> torch.equal(pos - neg, w), float(pos.sum()), float(neg.sum())
    (True, 1.5, 2.0)
    >>> float(w.sum())  # the plain sum shows neither
    -0.5
    """
    return w.clamp_min(0), (-w).clamp_min(0)


def family_weights(model: nn.Module, layer: Layer, to_channels: Sequence[int],
                   from_channels: Sequence[int]) -> Tensor:
    """(T, F): each weight kernel from a `from_channels` unit to a `to_channels` unit,
    summed over its positions: the net excitation (+) or inhibition (-) one
    detector sends another.

    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> with torch.no_grad():
    ...     net.conv2.weight[0, 2] = 0.1  # unit 2 excites unit 0 at all 9 positions
    ...     net.conv2.weight[1, 4] = -0.2  # unit 4 inhibits unit 1 at all of them
    >>> fw = family_weights(net, "conv2", [0, 1], [2, 3, 4])
    >>> fw.shape, round(float(fw[0, 0]), 2), round(float(fw[1, 2]), 2)
    (torch.Size([2, 3]), 0.9, -1.8)
    """
    _, conv = conv_of(model, layer)
    w = conv.weight.detach().cpu()
    return w[list(to_channels)][:, list(from_channels)].sum(dim=(-2, -1))


@contextmanager
def replace_weights(model: nn.Module, layer: Layer, to_channel: int, weight: Tensor, *,
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


# --- bands and symmetries ---------------------------------------------------------------------

def banding(weight: Tensor) -> tuple[float, float]:
    """How banded a layer's kernels are: the mean share of each kernel's variance
    explained by its row means (horizontal bands: constant along each row) and by its
    column means (vertical bands). Random kernels give about 1/k for both.

    weight: (C_out, C_in, k, k), a convolution's weight. Returns (horizontal, vertical).

    >>> w = torch.arange(5.0).view(1, 1, 5, 1).expand(1, 1, 5, 5)  # rows differ, columns don't
    >>> banding(w)
    (1.0, 0.0)
    """
    w = weight.detach().float()
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

    >>> x = torch.zeros(1, 9, 9); x[0, 4, 6:9] = 1.0  # a bar pointing right
    >>> round(rotation_match(x, rotate(x, 90), 90), 3)  # the same bar, turned: a perfect match
    1.0
    >>> rotation_match(x, rotate(x, 90), 0) < 0.1  # unturned, they do not line up
    True
    """
    ra = rotate(a, degrees).flatten()
    fb = b.detach().float().flatten()
    ra, fb = ra - ra.mean(), fb - fb.mean()
    den = (ra.norm() * fb.norm()).clamp_min(1e-12)
    return float((ra * fb).sum() / den)
