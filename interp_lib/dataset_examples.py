"""Dataset examples: the real images that most activate a unit.

Beside a feature visualization, the images from the data that excite the
same unit most are the check that the visualization is right: if they
disagree, one of the two is misleading. For a single neuron (one position),
the part of the image it can see is its receptive field, and cropping to it
shows what the neuron actually looked at.

Positions are (x, y) everywhere: x the column, y the row. Every function
computes on the model's device, in batches; the scores come back on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.hooks import Layer, eval_mode, model_device, run_with_cache


@dataclass
class Examples:
    """The top-k images for a unit.

    indices (k,) into the images searched; scores (k,); images (k, 3, H, W);
    crops (k, 3, rf, rf), the receptive field of each image's most active
    neuron of the channel; positions (k, 2), that neuron's (x, y) in the layer.
    """

    indices: Tensor
    scores: Tensor
    images: Tensor
    crops: Tensor
    positions: Tensor


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


def _batches(images: Tensor, batch_size: int):
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size]


@torch.no_grad()
def channel_scores(model: nn.Module, images: Tensor, layer: Layer, *, batch_size: int = 500
                   ) -> Tensor:
    """Every channel's activation (mean over positions) on every image: (N, C), on the CPU.

    images: (N, 3, H, W), run through the model in batches of `batch_size`.

    >>> from interp_lib.organism.models import tiny_net
    >>> channel_scores(tiny_net(), torch.rand(5, 3, 16, 16), "relu2").shape
    torch.Size([5, 8])
    """
    with eval_mode(model):
        return torch.cat([_only(run_with_cache(model, chunk, layer)[1]).mean(dim=(2, 3)).cpu()
                          for chunk in _batches(images, batch_size)])


def _only(acts: dict[str, Tensor]) -> Tensor:
    """The activations of the one layer captured."""
    return next(iter(acts.values()))


@torch.no_grad()
def unit_scores(model: nn.Module, images: Tensor, layer: Layer, channel: int, *,
                x: int | None = None, y: int | None = None, batch_size: int = 500) -> Tensor:
    """Each image's activation of a channel (mean over positions), or of one neuron
    when x or y is given (the other defaults to the centre).

    images: (N, 3, H, W). Returns (N,) on the CPU.

    >>> from interp_lib.organism.models import tiny_net
    >>> unit_scores(tiny_net(), torch.rand(4, 3, 16, 16), "relu2", 3, x=2, y=5).shape
    torch.Size([4])
    """
    scores = []
    with eval_mode(model):
        for chunk in _batches(images, batch_size):
            _, acts = run_with_cache(model, chunk, layer)
            a = _only(acts)
            _check_unit(a, layer, channel)
            a = a[:, channel]
            if x is None and y is None:
                scores.append(a.mean(dim=(1, 2)).cpu())
            else:
                row, col = _position(a, layer, x, y)
                scores.append(a[:, row, col].cpu())
    return torch.cat(scores)


def _check_unit(a: Tensor, layer: Layer, channel: int) -> None:
    if a.ndim != 4:
        raise ValueError(f"{layer!r} gives activations shaped {tuple(a.shape)}; dataset "
                         "examples need a convolutional layer (N, C, H, W)")
    if not 0 <= channel < a.shape[1]:
        raise ValueError(f"channel {channel} is out of range: {layer!r} has channels "
                         f"0 to {a.shape[1] - 1}")


def _position(a: Tensor, layer: Layer, x: int | None, y: int | None) -> tuple[int, int]:
    """(row, col) for the position (x, y) of maps a (..., H, W); None means the centre."""
    h, w = a.shape[-2:]
    row = h // 2 if y is None else y
    col = w // 2 if x is None else x
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"position (x={col}, y={row}) is outside {layer!r}'s {w}x{h} grid: "
                         f"x runs from 0 to {w - 1}, y from 0 to {h - 1}")
    return row, col


def receptive_field(model: nn.Module, layer: Layer, *, size: int = 64) -> ReceptiveField:
    """The receptive field of a layer's centre neuron, measured with gradients.

    The pixels whose change can move the centre neuron are found by
    back-propagating from it through several random images (so that ReLUs and
    max-pools pass gradient somewhere; the union covers every pixel that can
    matter). Their bounding box gives the size and the centre.

    >>> from interp_lib.organism.models import tiny_net
    >>> receptive_field(tiny_net(), "relu2", size=16)
    ReceptiveField(size=8, stride=2, map_size=(8, 8), centre=(9.0, 9.0))
    """
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, size, size, generator=g).to(model_device(model)).requires_grad_(True)
    with eval_mode(model), torch.enable_grad():  # also when called under torch.no_grad()
        _, acts = run_with_cache(model, x, layer, detach=False)
        a = _only(acts)
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


def receptive_field_size(model: nn.Module, layer: Layer, *, size: int = 64
                         ) -> tuple[int, int, int]:
    """(rf, stride, map height) of a layer: a short form of `receptive_field`.

    >>> from interp_lib.organism.models import tiny_net
    >>> receptive_field_size(tiny_net(), "relu2", size=16)
    (8, 2, 8)
    """
    rf = receptive_field(model, layer, size=size)
    return rf.size, rf.stride, rf.map_size[0]


def top_examples(model: nn.Module, images: Tensor, layer: Layer, channel: int, *, k: int = 9
                 ) -> Examples:
    """The k images (of `images`) that most activate a channel, with receptive-field crops.

    images: (N, 3, H, W). The result lives on the CPU (see Examples).

    >>> from interp_lib.organism.models import tiny_net
    >>> ex = top_examples(tiny_net(), torch.rand(20, 3, 16, 16), "relu2", 3, k=4)
    >>> ex.indices.shape, ex.crops.shape
    (torch.Size([4]), torch.Size([4, 3, 8, 8]))
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(images))
    scores = unit_scores(model, images, layer, channel)
    top = torch.topk(scores, k)
    chosen = images[top.indices.to(images.device)].cpu()
    with torch.no_grad(), eval_mode(model):
        _, acts = run_with_cache(model, chosen, layer)
    a = _only(acts)[:, channel].cpu()  # (k, H, W)
    flat = a.flatten(1).argmax(dim=1)
    xy = torch.stack([flat % a.shape[2], flat // a.shape[2]], dim=1)  # (x, y)
    rf = receptive_field(model, layer, size=images.shape[-1])
    crops = torch.stack([_crop(img, int(px), int(py), rf) for img, (px, py) in zip(chosen, xy)])
    return Examples(top.indices, top.values, chosen, crops, xy)


def _crop(image: Tensor, x: int, y: int, rf: ReceptiveField) -> Tensor:
    """The rf x rf window of pixels seen by the neuron at (x, y), padded with grey at the border."""
    h, w = rf.map_size
    # The field of neuron (x, y) is the centre neuron's, shifted by whole strides.
    cx = rf.centre[0] + (x - w // 2) * rf.stride
    cy = rf.centre[1] + (y - h // 2) * rf.stride
    half = rf.size // 2
    pad = rf.size
    padded = nn.functional.pad(image, (pad, pad, pad, pad), value=0.5)
    top, left = round(cy - half) + pad, round(cx - half) + pad
    return padded[:, top:top + rf.size, left:left + rf.size]


@torch.no_grad()
def family_examples(model: nn.Module, images: Tensor, layer: Layer, channels: Sequence[int], *,
                    k: int = 4, batch_size: int = 500) -> list[Examples]:
    """`top_examples` for several channels at once: the images go through the model once.

    images: (N, 3, H, W). Returns one Examples per channel, in the order given.

    >>> from interp_lib.organism.models import tiny_net
    >>> exs = family_examples(tiny_net(), torch.rand(20, 3, 16, 16), "relu2", [1, 3], k=2)
    >>> [tuple(e.crops.shape) for e in exs]
    [(2, 3, 8, 8), (2, 3, 8, 8)]
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    maps = []
    with eval_mode(model):
        for chunk in _batches(images, batch_size):
            a = _only(run_with_cache(model, chunk, layer)[1])
            for c in channels:
                _check_unit(a, layer, c)
            maps.append(a[:, list(channels)].cpu())
    maps = torch.cat(maps)  # (N, len(channels), H, W)
    rf = receptive_field(model, layer, size=images.shape[-1])
    out = []
    for j in range(len(channels)):
        scores = maps[:, j].mean(dim=(1, 2))
        top = torch.topk(scores, min(k, len(images)))
        chosen = images[top.indices.to(images.device)].cpu()
        flat = maps[top.indices, j].flatten(1).argmax(dim=1)
        w = maps.shape[3]
        xy = torch.stack([flat % w, flat // w], dim=1)
        crops = torch.stack([_crop(img, int(px), int(py), rf) for img, (px, py) in zip(chosen, xy)])
        out.append(Examples(top.indices, top.values, chosen, crops, xy))
    return out
