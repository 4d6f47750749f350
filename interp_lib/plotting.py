"""Figures for the course: image grids, feature maps, tuning curves.

Small helpers so that chapters show pictures, not tensors, without long
plotting code in the notebooks. Each returns the matplotlib Figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor


def to_numpy_image(img: Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) for imshow."""
    return img.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()


def show_images(images: Tensor, titles: Sequence[str] | None = None, ncols: int = 8,
                size: float = 1.6, suptitle: str | None = None) -> plt.Figure:
    """A grid of images (N, 3, H, W) in [0, 1], with optional titles."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * bool(titles)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_numpy_image(images[i]), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_feature_maps(acts: Tensor, channels: Sequence[int] | None = None, ncols: int = 8,
                      size: float = 1.4, title: str | None = None) -> plt.Figure:
    """Feature maps of one image: acts (C, H, W), one panel per channel, shared colour scale."""
    channels = list(range(acts.shape[0])) if channels is None else list(channels)
    ncols = min(ncols, len(channels))
    nrows = (len(channels) + ncols - 1) // ncols
    vmax = float(acts[channels].max()) or 1.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, c in zip(axes.flat, channels):
        ax.imshow(acts[c].detach().cpu().numpy(), cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"channel {c}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def polar_tuning(orientations_deg: Tensor, responses: Tensor, labels: Sequence[str],
                 ncols: int = 6, size: float = 2.0, title: str | None = None) -> plt.Figure:
    """One polar plot per unit: response (radius) against orientation (angle).

    responses: (U, O). The angle is drawn clockwise from the right, as on screen.
    """
    n = len(responses)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4),
                             subplot_kw={"projection": "polar"}, squeeze=False)
    theta = torch.deg2rad(torch.cat([orientations_deg, orientations_deg[:1]])).numpy()
    for ax in axes.flat:
        ax.axis("off")
    for ax, r, label in zip(axes.flat, responses, labels):
        ax.axis("on")
        ax.set_theta_direction(-1)  # clockwise, like image coordinates (y down)
        ax.plot(theta, torch.cat([r, r[:1]]).numpy(), color="tab:blue")
        ax.fill(theta, torch.cat([r, r[:1]]).numpy(), color="tab:blue", alpha=0.2)
        ax.set_yticklabels([])
        ax.set_xticks(np.deg2rad([0, 90, 180, 270]))
        ax.set_xticklabels(["0", "90", "180", "270"], fontsize=7)
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def attribution_heatmap(attr: Tensor) -> Tensor:
    """(C, H, W) or (1, H, W) attribution -> (H, W) magnitude in [0, 1] (99th percentile = 1)."""
    m = attr.detach().abs().sum(dim=0).cpu()
    scale = torch.quantile(m.flatten(), 0.99).clamp_min(1e-12)
    return (m / scale).clamp(0, 1)


def show_attributions(images: Tensor, maps: dict[str, Tensor], size: float = 1.7) -> plt.Figure:
    """Rows: images (N, 3, H, W); columns: the image, then each method's map.

    A map is shown as the magnitude of the attribution summed over channels, on
    the image in grey, scaled per image so its 99th percentile is fully bright.
    """
    n = len(images)
    ncols = 1 + len(maps)
    fig, axes = plt.subplots(n, ncols, figsize=(size * ncols, size * n + 0.3), squeeze=False)
    for row in range(n):
        img = to_numpy_image(images[row])
        axes[row, 0].imshow(img)
        grey = img.mean(axis=2)
        for col, (name, attr) in enumerate(maps.items(), start=1):
            heat = attribution_heatmap(attr[row]).numpy()
            if heat.shape != grey.shape:  # a layer map: stretch to the image
                heat = torch.nn.functional.interpolate(
                    torch.as_tensor(heat)[None, None], size=grey.shape, mode="nearest")[0, 0].numpy()
            axes[row, col].imshow(grey, cmap="gray", alpha=0.35)
            axes[row, col].imshow(heat, cmap="inferno", alpha=0.8, vmin=0, vmax=1)
            if row == 0:
                axes[row, col].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    if n:
        axes[0, 0].set_title("image", fontsize=8)
    fig.tight_layout()
    return fig
