import math

import pytest
import torch

from interp_lib.optvis.image_stats import high_frequency_fraction


def test_noise_is_mostly_high_frequency_and_smooth_images_are_not():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2, 3, 32, 32, generator=g)
    # White noise spreads energy evenly over the band: the share above 0.25 cycles
    # per pixel is the share of the frequency square outside the circle of radius 0.25.
    expected = 1 - math.pi * 0.25**2
    assert torch.allclose(high_frequency_fraction(noise), torch.tensor(expected), atol=0.05)
    # A soft blob (zero at the borders, so the FFT sees no wrap-around edge).
    c = torch.arange(32.0) - 15.5
    blob = torch.exp(-(c[None, :] ** 2 + c[:, None] ** 2) / 40).expand(1, 3, 32, 32)
    assert high_frequency_fraction(blob) < 0.01


def test_pure_tones_fall_on_the_right_side_of_the_cutoff():
    x = torch.arange(32.0)
    low = torch.cos(2 * math.pi * 0.125 * x).expand(1, 3, 32, 32)  # 0.125 cycles/pixel
    high = torch.cos(2 * math.pi * 0.375 * x).expand(1, 3, 32, 32)  # 0.375 cycles/pixel
    assert high_frequency_fraction(low) < 1e-6
    assert high_frequency_fraction(high) > 1 - 1e-6
    assert high_frequency_fraction(torch.full((1, 3, 8, 8), 0.3)) == 0


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="N, C, H, W"):
        high_frequency_fraction(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="between 0 and 0.5"):
        high_frequency_fraction(torch.rand(1, 3, 8, 8), cutoff=0.7)
