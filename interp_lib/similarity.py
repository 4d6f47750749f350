"""Comparing representations: do different networks learn the same features? (claim 3)

Two families of tools, both on activations gathered over the same images:

- Representational similarity of whole layers: CKA (Kornblith et al. 2019).
- Unit matching (convergent learning, Li et al. 2015): correlate every unit
  of one network with every unit of another over images and positions.

Shapes: activations of a layer are flattened to X (n examples, p features).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from interp_lib.hooks import Layer, eval_mode, model_device, run_with_cache


@torch.no_grad()
def gather(model: nn.Module, images: Tensor, layers: Layer | Sequence[Layer], *,
           batch_size: int = 250, progress: bool = False) -> dict[str, Tensor]:
    """Activations of `layers` over a data set, computed in chunks on the model's device.

    images: (N, 3, H, W). Returns layer name -> (N, ...) on the CPU.

    >>> from interp_lib.organism.models import tiny_net
    >>> acts = gather(tiny_net(), torch.rand(5, 3, 16, 16), ["relu1", "relu2"], batch_size=2)
    >>> tuple(acts["relu2"].shape)
    (5, 8, 8, 8)
    """
    layers = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
    chunks: dict[str, list[Tensor]] = {}
    device = model_device(model)
    with eval_mode(model):
        for i in tqdm(range(0, len(images), batch_size), disable=not progress,
                      desc="activations", unit="batch"):
            _, acts = run_with_cache(model, images[i:i + batch_size].to(device), layers)
            for name, a in acts.items():
                chunks.setdefault(name, []).append(a.cpu())
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def centre_columns(x: Tensor) -> Tensor:
    """Subtract each feature's mean over examples: X (n, p) -> centred X.

    >>> centre_columns(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    tensor([[-1., -2.],
            [ 1.,  2.]])
    """
    return x - x.mean(dim=0, keepdim=True)


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA between representations X (n, p1) and Y (n, p2) of the same n examples:
    ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) after centring each feature.

    Computed through the n x n Gram matrices, so it is cheap when features outnumber
    examples (flattened conv maps). 1 for representations equal up to rotation and
    scale; near 0 for unrelated ones.

    >>> x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    >>> round(linear_cka(x, 3 * x), 6)
    1.0
    """
    x, y = _as_matrix(x, y)
    kx = centre_columns(x) @ centre_columns(x).T
    ky = centre_columns(y) @ centre_columns(y).T
    hsic = (kx * ky).sum()
    den = kx.norm() * ky.norm()
    return float(hsic / den) if den > 0 else 0.0


def _as_matrix(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten each example's features and check both have the same examples; float64."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"the two representations must describe the same examples: "
                         f"x has {x.shape[0]}, y has {y.shape[0]}")
    return x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()


def unit_correlations(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of every unit of A with every unit of B: (C_a, C_b).

    a: (N, C_a, H, W) and b: (N, C_b, H, W) over the same images, with the same
    grid (resample one first if not); each unit's values over images *and*
    positions are one sample. (N, C) without a grid also works. A unit that
    never varies correlates 0 with everything.

    >>> a = torch.randn(10, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> unit_correlations(a, a).diagonal()
    tensor([1., 1., 1.])
    """
    if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"unit correlations need the same images and grid: got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    fa = a.transpose(0, 1).reshape(a.shape[1], -1).double()
    fb = b.transpose(0, 1).reshape(b.shape[1], -1).double()
    fa = fa - fa.mean(dim=1, keepdim=True)
    fb = fb - fb.mean(dim=1, keepdim=True)
    na, nb = fa.norm(dim=1, keepdim=True), fb.norm(dim=1, keepdim=True)
    corr = (fa @ fb.T) / (na @ nb.T).clamp_min(1e-12)
    return corr.where((na > 0) & (nb.T > 0), torch.zeros_like(corr)).float()


def resample(a: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps (N, C, H, W) resampled to (N, C, *size), positions kept at the same place in
    the image (bilinear for upsampling, area averaging for downsampling).

    >>> resample(torch.rand(2, 3, 8, 8), (4, 4)).shape
    torch.Size([2, 3, 4, 4])
    """
    if tuple(a.shape[2:]) == tuple(size):
        return a
    if a.shape[2] >= size[0] and a.shape[3] >= size[1]:
        return nn.functional.adaptive_avg_pool2d(a, size)
    return nn.functional.interpolate(a, size=size, mode="bilinear", align_corners=False)
