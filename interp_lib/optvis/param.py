"""Image parameterizations: how the optimized image is represented.

Feature visualization optimizes an image, but *which numbers* it optimizes
changes the result a great deal, even though every parameterization can
express every image. A step of gradient ascent on raw pixels favours high
frequencies (noise); a step on Fourier coefficients scaled by 1/frequency
treats all frequencies alike, which acts as a *preconditioner*: same
optimum, better-conditioned path. Decorrelating colour does the same for the
colour channels.

Each parameterization is an `nn.Module` whose parameters are the learnable
numbers and whose forward() returns images (N, 3, H, W) in [0, 1]:

    p = param.image(64, batch=4)             # Fourier + decorrelated colour
    opt = torch.optim.Adam(p.parameters(), lr=0.05)
    images = p()
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor, nn

# The square root of ImageNet's colour correlation, as used by Lucid.
IMAGENET_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                     [0.27, 0.00, -0.05],
                                     [0.27, -0.09, 0.03]])


def normalise_columns(m: Tensor) -> Tensor:
    """Divide a colour matrix by its largest column norm, as Lucid does."""
    return m / m.norm(dim=0).max()


def colour_sqrt_from_covariance(cov: Tensor) -> Tensor:
    """A square root M of a (3, 3) colour covariance (M M^T = cov), columns along
    its principal colours, then normalised to a largest column norm of 1."""
    eigvals, eigvecs = torch.linalg.eigh(cov.double())
    m = eigvecs * eigvals.clamp_min(0).sqrt()
    return normalise_columns(m).float()


@lru_cache(maxsize=1)
def organism_colour_sqrt() -> Tensor:
    """The colour square root estimated from the organism's own data (1024 images)."""
    from interp_lib.organism.data import colour_covariance

    return colour_sqrt_from_covariance(colour_covariance(n=1024, seed=12_345))


def colour_sqrt_for(model: nn.Module) -> Tensor:
    """ImageNet's colour statistics for ImageNet models, the organism's otherwise."""
    from interp_lib.zoo import ImageNetModel

    if isinstance(model, ImageNetModel):
        return normalise_columns(IMAGENET_COLOUR_SQRT)
    return organism_colour_sqrt()


def to_valid_rgb(t: Tensor, colour_sqrt: Tensor | None) -> Tensor:
    """Unconstrained (N, 3, H, W) -> colours in [0, 1]: mix the channels through the
    colour square root (if given), then squash with a sigmoid."""
    if colour_sqrt is not None:
        t = torch.einsum("nchw,dc->ndhw", t, colour_sqrt.to(t))
    return torch.sigmoid(t)


class ImageParam(nn.Module):
    """Base class: subclasses define raw(), the unconstrained image (N, 3, H, W)."""

    def __init__(self, batch: int, height: int, width: int, colour_sqrt: Tensor | None):
        super().__init__()
        if batch < 1:
            raise ValueError(f"batch must be at least 1 image, got {batch}")
        if height < 2 or width < 2:
            raise ValueError(f"the image must be at least 2x2 pixels, got {height}x{width}")
        self.shape = (batch, 3, height, width)
        self.register_buffer("colour_sqrt", None if colour_sqrt is None else colour_sqrt.clone())

    def raw(self) -> Tensor:
        raise NotImplementedError

    def forward(self) -> Tensor:
        return to_valid_rgb(self.raw(), self.colour_sqrt)

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Blur the image in place with a Gaussian of `sigma` pixels (frequency penalization
        by blurring, applied every few steps during a render)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be blurred")


class PixelImage(ImageParam):
    """One learnable number per pixel and channel."""

    def __init__(self, batch: int, height: int, width: int, colour_sqrt: Tensor | None = None,
                 sd: float = 0.01, generator: torch.Generator | None = None):
        super().__init__(batch, height, width, colour_sqrt)
        self.pixels = nn.Parameter(torch.randn(self.shape, generator=generator) * sd)

    def raw(self) -> Tensor:
        return self.pixels

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        self.pixels.copy_(gaussian_blur(self.pixels, sigma))


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> Tensor:
    """(H, W // 2 + 1): 1 / max(f, 1 / max(H, W)) ** decay_power, f in cycles per pixel."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freqs = torch.sqrt(fx**2 + fy**2)
    return 1.0 / freqs.clamp_min(1.0 / max(height, width)) ** decay_power


class FourierImage(ImageParam):
    """Learnable Fourier coefficients, scaled by 1/frequency before the inverse FFT.

    The scaling gives every frequency the same effective learning rate, where
    pixel gradients are dominated by high frequencies.
    """

    def __init__(self, batch: int, height: int, width: int, colour_sqrt: Tensor | None = None,
                 sd: float = 0.01, decay_power: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__(batch, height, width, colour_sqrt)
        shape = (batch, 3, height, width // 2 + 1, 2)
        self.spectrum = nn.Parameter(torch.randn(shape, generator=generator) * sd)
        self.register_buffer("scale", spectrum_scale(height, width, decay_power))

    def raw(self) -> Tensor:
        coeffs = torch.view_as_complex(self.spectrum) * self.scale
        h, w = self.shape[2:]
        # "ortho" includes Lucid's sqrt(h * w) factor; /4 keeps the start near grey.
        return torch.fft.irfft2(coeffs, s=(h, w), norm="ortho") / 4

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        # A Gaussian blur multiplies each frequency f by exp(-2 pi^2 sigma^2 f^2).
        h, w = self.shape[2:]
        f2 = torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None, :] ** 2
        self.spectrum.mul_(torch.exp(-2 * math.pi**2 * sigma**2 * f2).to(self.spectrum)[..., None])


class SharedImage(ImageParam):
    """A batch whose images share one component: image i = own_i + shared.

    For interpolation: when each image of a batch optimizes a different mix of
    two objectives, the shared part keeps the frames aligned, so that the
    pictures change smoothly from one end of the batch to the other.
    """

    def __init__(self, own: ImageParam, shared: ImageParam):
        if shared.shape[0] != 1 or shared.shape[1:] != own.shape[1:]:
            raise ValueError(f"the shared part must be one image shaped like the others: "
                             f"got {shared.shape} for images {own.shape}")
        super().__init__(own.shape[0], own.shape[2], own.shape[3], own.colour_sqrt)
        self.own, self.shared = own, shared

    def raw(self) -> Tensor:
        return self.own.raw() + self.shared.raw()

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        self.own.blur_(sigma)
        self.shared.blur_(sigma)


class LatentImage(ImageParam):
    """Images drawn by a generator from learnable latent codes: a learned prior.

    generator: a model with `latent_dim` and `decode(z) -> images (N, 3, H, W)`
    in [0, 1] (the zoo's "vae"). Its weights stay frozen; only the codes
    z (batch, latent_dim) are optimized, so every image is one it can draw.
    """

    def __init__(self, generator: nn.Module, batch: int = 1, size: int = 64, sd: float = 1.0,
                 generator_seed: int = 0):
        super().__init__(batch, size, size, None)
        self.generator = generator.eval().requires_grad_(False)
        g = torch.Generator().manual_seed(generator_seed)
        self.z = nn.Parameter(torch.randn(batch, generator.latent_dim, generator=g) * sd)

    def forward(self) -> Tensor:
        return self.generator.decode(self.z)


def image(size: int | tuple[int, int], batch: int = 1, fourier: bool = True,
          decorrelate: bool = True, colour_sqrt: Tensor | None = None, sd: float = 0.01,
          seed: int = 0, shared: bool = False, device: str | torch.device = "cpu") -> ImageParam:
    """The standard parameterization: Fourier (or pixel) with decorrelated colour.

    colour_sqrt: the (3, 3) colour square root used when decorrelate is True
    (default: estimated from the organism's data; use `colour_sqrt_for(model)`).
    shared=True adds one component common to the whole batch (see SharedImage).
    """
    h, w = (size, size) if isinstance(size, int) else size
    g = torch.Generator().manual_seed(seed)
    colour = (colour_sqrt if colour_sqrt is not None else organism_colour_sqrt()) if decorrelate else None
    cls = FourierImage if fourier else PixelImage
    own = cls(batch, h, w, colour, sd=sd, generator=g)
    if shared:
        own = SharedImage(own, cls(1, h, w, colour, sd=sd, generator=g))
    return own.to(device)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Blur images (N, C, H, W) with a Gaussian of `sigma` pixels (reflecting at the border)."""
    if sigma <= 0:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    pad = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    out = torch.nn.functional.conv2d(pad, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
