"""Statistics that judge a visualization beyond "did the unit fire".

The main one is how much of an image's energy sits at high spatial
frequencies: adversarial noise puts much of it there, natural-looking
images (and the organism's line drawings) little.
"""

from __future__ import annotations

import torch
from torch import Tensor


def high_frequency_fraction(images: Tensor, cutoff: float = 0.25) -> Tensor:
    """Share of each image's spectral energy above `cutoff` cycles per pixel.

    images: (N, C, H, W). The mean of each channel is removed first, so a flat
    image has no energy at all (and gets 0). Frequencies run up to 0.5 cycles
    per pixel (the Nyquist limit), so cutoff=0.25 splits the band in half.
    Returns (N,) in [0, 1].
    """
    if images.ndim != 4:
        raise ValueError(f"expected images shaped (N, C, H, W), got {tuple(images.shape)}")
    if not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff is in cycles per pixel, between 0 and 0.5; got {cutoff}")
    x = images - images.mean(dim=(2, 3), keepdim=True)
    power = torch.fft.rfft2(x).abs() ** 2  # (N, C, H, W // 2 + 1)
    h, w = images.shape[-2:]
    fy = torch.fft.fftfreq(h, device=images.device)[:, None]
    fx = torch.fft.rfftfreq(w, device=images.device)[None, :]
    high = torch.sqrt(fx**2 + fy**2) > cutoff
    # The rfft stores each column 1..W/2-1 once for two conjugate frequencies: count twice.
    weight = torch.full((w // 2 + 1,), 2.0, device=images.device)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    total = (power * weight).sum(dim=(1, 2, 3))
    above = (power * weight * high).sum(dim=(1, 2, 3))
    return torch.where(total > 0, above / total.clamp_min(1e-20), torch.zeros_like(total))
