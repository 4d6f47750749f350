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

from interp_lib.hooks import Layer, ReceptiveField, layer_activations, receptive_field


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


@torch.no_grad()
def channel_scores(model: nn.Module, images: Tensor, layer: Layer, *, batch_size: int = 500
                   ) -> Tensor:
    """Every channel's activation (mean over positions) on every image: (N, C), on the CPU.

    images: (N, 3, H, W), run through the model in batches of `batch_size`.

    >>> from interp_lib.organism.models import tiny_net
    >>> x = torch.rand(5, 3, 16, 16)
    >>> scores = channel_scores(tiny_net(), x, "relu2")
    >>> int(scores[:, 3].argmax()) == int(unit_scores(tiny_net(), x, "relu2", 3).argmax())
    True
    """
    return layer_activations(model, images, layer, batch_size=batch_size,
                             reduce=lambda a: _conv_maps(a, layer).mean(dim=(2, 3)))


def _conv_maps(a: Tensor, layer: Layer) -> Tensor:
    if a.ndim != 4:
        raise ValueError(f"{layer!r} gives activations shaped {tuple(a.shape)}; dataset "
                         "examples need a convolutional layer (N, C, H, W)")
    return a


@torch.no_grad()
def unit_scores(model: nn.Module, images: Tensor, layer: Layer, channel: int, *,
                x: int | None = None, y: int | None = None, batch_size: int = 500) -> Tensor:
    """Each image's activation of a channel (mean over positions), or of one neuron
    when x or y is given (the other defaults to the centre).

    images: (N, 3, H, W). Returns (N,) on the CPU.

    >>> from interp_lib.organism.models import tiny_net
    >>> images = torch.zeros(3, 3, 16, 16); images[1, :, 4:6, :] = 1.0  # only image 1 has a stroke
    >>> scores = unit_scores(tiny_net(), images, "relu1", 0, x=8, y=5)
    >>> bool(scores[1] != scores[0]) and bool(scores[0] == scores[2])
    True
    """
    def reduce(a: Tensor) -> Tensor:
        a = _conv_maps(a, layer)
        _check_channel(a, layer, channel)
        if x is None and y is None:
            return a[:, channel].mean(dim=(1, 2))
        row, col = _position(a, layer, x, y)
        return a[:, channel, row, col]

    return layer_activations(model, images, layer, batch_size=batch_size, reduce=reduce)


def _check_channel(a: Tensor, layer: Layer, channel: int) -> None:
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


def top_examples(model: nn.Module, images: Tensor, layer: Layer, channel: int, *, k: int = 9
                 ) -> Examples:
    """The k images (of `images`) that most activate a channel, with receptive-field crops.

    images: (N, 3, H, W). The result lives on the CPU (see Examples).

    >>> from interp_lib.organism.models import tiny_net
    >>> images = torch.full((10, 3, 16, 16), 0.5); images[7, :, 2:5, 11:14] = 1.0  # a white square
    >>> ex = top_examples(tiny_net(), images, "relu2", 4, k=3)  # a channel that likes it
    >>> int(ex.indices[0]), float(ex.crops[0].max())  # found, and the crop shows the square
    (7, 1.0)
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(images))
    scores = unit_scores(model, images, layer, channel)
    top = torch.topk(scores, k)
    chosen = images[top.indices.to(images.device)].cpu()
    a = layer_activations(model, chosen, layer, reduce=lambda maps: maps[:, channel])  # (k, H, W)
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
    >>> net, x = tiny_net(), torch.rand(20, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> exs = family_examples(net, x, "relu2", [1, 3], k=2)
    >>> alone = [top_examples(net, x, "relu2", c, k=2) for c in (1, 3)]  # one channel at a time
    >>> all(torch.equal(e.indices, a.indices) and torch.equal(e.crops, a.crops) for e, a in zip(exs, alone))
    True
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    def keep(a: Tensor) -> Tensor:
        a = _conv_maps(a, layer)
        for c in channels:
            _check_channel(a, layer, c)
        return a[:, list(channels)]

    maps = layer_activations(model, images, layer, batch_size=batch_size,
                             reduce=keep)  # (N, len(channels), H, W)
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
