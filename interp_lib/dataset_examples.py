"""Dataset examples: the real images that most activate a unit.

Beside a feature visualization, the images from the data that excite the
same unit most are the check that the visualization is right: if they
disagree, one of the two is misleading. For a single neuron (one position),
the part of the image it can see is its receptive field, and cropping to it
shows what the neuron actually looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.hooks import run_with_cache


@dataclass
class Examples:
    """The top-k images for a unit: indices (k,), scores (k,), images (k, 3, H, W),
    and crops (k, 3, h, w) around each image's most active position."""

    indices: Tensor
    scores: Tensor
    images: Tensor
    crops: Tensor
    positions: Tensor  # (k, 2): (row, column) of the most active position, in the layer


@torch.no_grad()
def channel_scores(model: nn.Module, images: Tensor, layer: str, batch_size: int = 500) -> Tensor:
    """Every channel's activation (mean over positions) on every image: (N, C).

    images: (N, 3, H, W), run through the model in batches of `batch_size`.
    """
    return torch.cat([run_with_cache(model, images[i:i + batch_size], layer)[1][layer]
                      .mean(dim=(2, 3)) for i in range(0, len(images), batch_size)])


def unit_scores(model: nn.Module, images: Tensor, layer: str, channel: int,
                position: tuple[int, int] | None = None, batch_size: int = 500) -> Tensor:
    """Each image's activation of a channel (mean over positions) or of one neuron.

    images: (N, 3, H, W). Returns (N,).
    """
    scores = []
    for i in range(0, len(images), batch_size):
        _, acts = run_with_cache(model, images[i:i + batch_size], layer)
        a = acts[layer]
        _check_unit(a, layer, channel, position)
        a = a[:, channel]
        scores.append(a.mean(dim=(1, 2)) if position is None else a[:, position[0], position[1]])
    return torch.cat(scores)


def _check_unit(a: Tensor, layer: str, channel: int, position) -> None:
    if not 0 <= channel < a.shape[1]:
        raise ValueError(f"channel {channel} is out of range: {layer!r} has channels "
                         f"0 to {a.shape[1] - 1}")
    if position is not None:
        y, x = position
        if not (0 <= y < a.shape[2] and 0 <= x < a.shape[3]):
            raise ValueError(f"position {position} is outside {layer!r}'s {a.shape[2]}x"
                             f"{a.shape[3]} grid: rows and columns run from 0 to "
                             f"{a.shape[2] - 1} and {a.shape[3] - 1}")


def receptive_field_size(model: nn.Module, layer: str, size: int = 64) -> tuple[int, int, int]:
    """(rf, stride, map size) of a layer, measured with gradients on a blank image.

    rf: the side of the square of pixels that can change the centre neuron;
    stride: pixels between neighbouring positions of the layer.
    """
    # Random images, so that ReLUs and max-pools pass gradient somewhere; the union
    # over several images and all channels covers every pixel that can matter.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, size, size, generator=g).requires_grad_(True)
    _, acts = run_with_cache(model, x, layer, detach=False)
    a = acts[layer]
    h = a.shape[2]
    a[:, :, h // 2, a.shape[3] // 2].sum().backward()
    rows = (x.grad.abs().sum(dim=(0, 1, 3)) > 0).nonzero()
    rf = int(rows.max() - rows.min() + 1) if len(rows) else size
    return rf, max(1, round(size / h)), h


def top_examples(model: nn.Module, images: Tensor, layer: str, channel: int, k: int = 9
                 ) -> Examples:
    """The k images (of `images`) that most activate a channel, with receptive-field crops."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(images))
    scores = unit_scores(model, images, layer, channel)
    top = torch.topk(scores, k)
    chosen = images[top.indices]
    _, acts = run_with_cache(model, chosen, layer)
    a = acts[layer][:, channel]
    flat = a.flatten(1).argmax(dim=1)
    pos = torch.stack([flat // a.shape[2], flat % a.shape[2]], dim=1)  # a: (k, H, W)
    rf, stride, _ = receptive_field_size(model, layer, images.shape[-1])
    crops = torch.stack([_crop(img, int(r), int(c), rf, stride) for img, (r, c) in zip(chosen, pos)])
    return Examples(top.indices, top.values, chosen, crops, pos)


def _crop(image: Tensor, row: int, col: int, rf: int, stride: int) -> Tensor:
    """The rf x rf window of pixels seen by the neuron at (row, col), padded at the border."""
    c = (torch.tensor([row, col]) * stride + stride // 2).tolist()
    half = rf // 2
    padded = nn.functional.pad(image, (half, half, half, half), value=0.5)
    return padded[:, c[0]:c[0] + rf, c[1]:c[1] + rf]
