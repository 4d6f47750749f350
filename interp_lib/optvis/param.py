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

    p = param.image(64, batch_size=4)        # Fourier + decorrelated colour
    opt = torch.optim.Adam(p.parameters(), lr=0.05)
    images = p()
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from interp_lib.hooks import eval_mode

# The square root of ImageNet's colour correlation, as used by Lucid.
IMAGENET_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                     [0.27, 0.00, -0.05],
                                     [0.27, -0.09, 0.03]])


def normalise_columns(m: Tensor) -> Tensor:
    """Divide a colour matrix by its largest column norm, as Lucid does.

    >>> round(float(normalise_columns(IMAGENET_COLOUR_SQRT).norm(dim=0).max()), 6)
    1.0
    """
    return m / m.norm(dim=0).max()


def colour_sqrt_for(model: nn.Module) -> Tensor:
    """The colour square root (3, 3) to decorrelate a render for `model`.

    Duck-typed: a model that knows the colour statistics of its training data
    says so with a `colour_sqrt` attribute (the zoo's organisms and ImageNet
    models do); any other model gets ImageNet's, as in Lucid.

    >>> from interp_lib.organism.data import colour_sqrt
    >>> from interp_lib.organism.models import tiny_net
    >>> torch.equal(colour_sqrt_for(tiny_net()), colour_sqrt())  # an organism: its own data's colours
    True
    >>> torch.equal(colour_sqrt_for(nn.Linear(1, 1)), normalise_columns(IMAGENET_COLOUR_SQRT))  # ImageNet's
    True
    """
    own = getattr(model, "colour_sqrt", None)
    if own is None:
        return normalise_columns(IMAGENET_COLOUR_SQRT)
    own = torch.as_tensor(own, dtype=torch.float32)
    if own.shape != (3, 3):
        raise ValueError(f"{type(model).__name__}.colour_sqrt should be a (3, 3) colour matrix, "
                         f"got shape {tuple(own.shape)}")
    return own


def to_valid_rgb(t: Tensor, colour_sqrt: Tensor | None) -> Tensor:
    """Unconstrained (N, 3, H, W) -> colours in [0, 1]: mix the channels through the
    colour square root (if given), then squash with a sigmoid.

    >>> rgb = to_valid_rgb(torch.tensor([-50.0, 0.0, 50.0]).view(1, 3, 1, 1), None)
    >>> [round(v, 3) for v in rgb.flatten().tolist()]  # any number becomes a valid colour
    [0.0, 0.5, 1.0]
    """
    if colour_sqrt is not None:
        t = torch.einsum("nchw,dc->ndhw", t, colour_sqrt.to(t))
    return torch.sigmoid(t)


class ImageParam(nn.Module):
    """Base class: subclasses define raw(), the unconstrained image (N, 3, H, W)."""

    def __init__(self, batch_size: int, height: int, width: int, colour_sqrt: Tensor | None):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 image, got {batch_size}")
        if height < 2 or width < 2:
            raise ValueError(f"the image must be at least 2x2 pixels, got {height}x{width}")
        self.shape = (batch_size, 3, height, width)
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
    """One learnable number per pixel and channel.

    >>> p = PixelImage(1, 8, 8)
    >>> p()[0, 0, 3, 3].backward()  # the gradient of one pixel of the image
    >>> int((p.pixels.grad != 0).sum())  # reaches one number: nothing ties neighbours together
    1
    """

    def __init__(self, batch_size: int, height: int, width: int,
                 colour_sqrt: Tensor | None = None, *, sd: float = 0.01,
                 generator: torch.Generator | None = None):
        super().__init__(batch_size, height, width, colour_sqrt)
        self.pixels = nn.Parameter(torch.randn(self.shape, generator=generator) * sd)

    def raw(self) -> Tensor:
        return self.pixels

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        self.pixels.copy_(gaussian_blur(self.pixels, sigma))


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> Tensor:
    """(H, W // 2 + 1): 1 / max(f, 1 / max(H, W)) ** decay_power, f in cycles per pixel.

    >>> spectrum_scale(8, 8)[0, :3]
    tensor([8., 8., 4.])
    """
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freqs = torch.sqrt(fx**2 + fy**2)
    return 1.0 / freqs.clamp_min(1.0 / max(height, width)) ** decay_power


class FourierImage(ImageParam):
    """Learnable Fourier coefficients, scaled by 1/frequency before the inverse FFT.

    The scaling gives every frequency the same effective learning rate, where
    pixel gradients are dominated by high frequencies.

    Random (white) parameters, what equal steps on every coefficient give, make
    1/f noise: mostly low frequencies, as in photographs, where white noise in
    pixels is mostly high frequencies.

    >>> from interp_lib.optvis.image_stats import high_frequency_fraction
    >>> g = torch.Generator().manual_seed(0)
    >>> with torch.no_grad():
    ...     images = FourierImage(1, 32, 32, generator=g)(), PixelImage(1, 32, 32, generator=g)()
    >>> [round(float(high_frequency_fraction(x)), 2) for x in images]  # energy above 0.25 cycles/px
    [0.3, 0.82]
    """

    def __init__(self, batch_size: int, height: int, width: int,
                 colour_sqrt: Tensor | None = None, *, sd: float = 0.01,
                 decay_power: float = 1.0, generator: torch.Generator | None = None):
        super().__init__(batch_size, height, width, colour_sqrt)
        shape = (batch_size, 3, height, width // 2 + 1, 2)
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


class LowResImage(ImageParam):
    """Pixels learned at a lower resolution and upsampled (bilinearly) to the image size.

    Lucid's `lowres_tensor`: a cheap, strong smoothness prior. With factor=4 a
    64 x 64 image has only 16 x 16 x 3 free numbers, so it cannot hold detail
    finer than about 4 pixels.

    >>> sum(t.numel() for t in LowResImage(1, 64, 64, factor=4).parameters())  # 16 x 16 x 3
    768
    """

    def __init__(self, batch_size: int, height: int, width: int,
                 colour_sqrt: Tensor | None = None, *, factor: int = 4, sd: float = 0.01,
                 generator: torch.Generator | None = None):
        super().__init__(batch_size, height, width, colour_sqrt)
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        low = (batch_size, 3, max(1, math.ceil(height / factor)), max(1, math.ceil(width / factor)))
        self.pixels = nn.Parameter(torch.randn(low, generator=generator) * sd)

    def raw(self) -> Tensor:
        return nn.functional.interpolate(self.pixels, size=self.shape[2:], mode="bilinear",
                                         align_corners=False)


class CPPNImage(ImageParam):
    """A compositional pattern-producing network (CPPN): image = a small net of (x, y).

    Each pixel's colour is computed from its own coordinates by a stack of 1x1
    convolutions with a smooth, bounded non-linearity (atan and its square,
    as in Lucid's `cppn`). The network's weights are what is optimized, so
    the image can only hold patterns such a function can draw: smooth,
    often strikingly regular, at any resolution. Use a small learning rate
    (about 0.005).

    The same network drawn on a 4 times finer grid gives the same picture:

    >>> small = CPPNImage(1, 17, 17, generator=torch.Generator().manual_seed(0))
    >>> large = CPPNImage(1, 65, 65, generator=torch.Generator().manual_seed(0))
    >>> for p in (small, large):  # the output layer starts at zero (grey): give it some weights
    ...     _ = nn.init.constant_(p.to_rgb.weight, 0.1)
    >>> torch.allclose(large()[..., ::4, ::4], small(), atol=1e-5)
    True
    """

    def __init__(self, batch_size: int, height: int, width: int, *, hidden: int = 24,
                 layers: int = 8, generator: torch.Generator | None = None):
        super().__init__(batch_size, height, width, None)
        r = 3.0**0.5  # coordinates with unit standard deviation
        ys, xs = torch.meshgrid(torch.linspace(-r, r, height), torch.linspace(-r, r, width),
                                indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None].expand(batch_size, -1, -1, -1)
                             .clone())
        convs, c_in = [], 2
        for _ in range(layers):
            conv = nn.Conv2d(c_in, hidden, 1)
            with torch.no_grad():  # variance-preserving weights, small random biases
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) / c_in**0.5)
                conv.bias.copy_(torch.randn(hidden, generator=generator) * 0.1)
            convs.append(conv)
            c_in = 2 * hidden  # the activation doubles the channels
        self.hidden = nn.ModuleList(convs)
        self.to_rgb = nn.Conv2d(c_in, 3, 1)
        with torch.no_grad():  # start grey: sigmoid(0) = 0.5
            self.to_rgb.weight.zero_()
            self.to_rgb.bias.zero_()

    def raw(self) -> Tensor:
        x = self.coords
        for conv in self.hidden:
            a = torch.atan(conv(x))
            # atan and its square, rescaled to roughly unit variance (Lucid's constants).
            x = torch.cat([a / 0.67, a * a / 0.6], dim=1)
        return self.to_rgb(x)


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
    """Images drawn by a generative model from learnable latent codes: a learned prior.

    prior: a model with `latent_dim` and `decode(z) -> images (N, 3, H, W)` in
    [0, 1] (the zoo's "vae"). Its weights stay frozen (they are not
    parameters of this module, and render never changes them); only the
    codes z (batch_size, latent_dim) are optimized, so every image is one the
    prior can draw.
    """

    def __init__(self, prior: nn.Module, *, batch_size: int = 1, size: int = 64, sd: float = 1.0,
                 seed: int = 0):
        super().__init__(batch_size, size, size, None)
        for attr in ("latent_dim", "decode"):
            if not hasattr(prior, attr):
                raise TypeError(f"the prior must have `latent_dim` and `decode(z)` (like the zoo's "
                                f"'vae'); {type(prior).__name__} has no {attr!r}")
        self._prior = [prior]  # a list hides it from .parameters(), .to() and the state dict
        g = torch.Generator().manual_seed(seed)
        device = next(prior.parameters()).device
        self.z = nn.Parameter((torch.randn(batch_size, prior.latent_dim, generator=g) * sd)
                              .to(device))

    @property
    def prior(self) -> nn.Module:
        return self._prior[0]

    def forward(self) -> Tensor:
        with eval_mode(self.prior):  # restores the prior's own mode afterwards
            return self.prior.decode(self.z)


def image(size: int | tuple[int, int], *, batch_size: int = 1, fourier: bool = True,
          decorrelate: bool = True, colour_sqrt: Tensor | None = None, sd: float = 0.01,
          seed: int = 0, shared: bool = False, device: str | torch.device = "cpu") -> ImageParam:
    """The standard parameterization: Fourier (or pixel) with decorrelated colour.

    colour_sqrt: the (3, 3) colour square root used when decorrelate is True
    (default: ImageNet's, as in Lucid; `render` passes `colour_sqrt_for(model)`).
    shared=True adds one component common to the whole batch (see SharedImage).
    Returns a module whose forward() gives images (batch_size, 3, H, W) in [0, 1].

    >>> p = image(32, batch_size=4)
    >>> type(p).__name__, torch.equal(p(), image(32, batch_size=4)())  # seed 0: the same start again
    ('FourierImage', True)
    >>> bool((p() - 0.5).abs().max() < 0.05)  # near grey, so the model decides what appears
    True
    """
    h, w = (size, size) if isinstance(size, int) else size
    g = torch.Generator().manual_seed(seed)
    if colour_sqrt is None:
        colour_sqrt = normalise_columns(IMAGENET_COLOUR_SQRT)
    colour = colour_sqrt if decorrelate else None
    cls = FourierImage if fourier else PixelImage
    own = cls(batch_size, h, w, colour, sd=sd, generator=g)
    if shared:
        own = SharedImage(own, cls(1, h, w, colour, sd=sd, generator=g))
    return own.to(device)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Blur images (N, C, H, W) with a Gaussian of `sigma` pixels (reflecting at the border).

    >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1.0
    >>> y = gaussian_blur(x, 1.0)
    >>> round(float(y.sum()), 4), bool(y[..., 4, 4] < 0.2)
    (1.0, True)
    """
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
