"""A learned prior: a small variational autoencoder (VAE) of the organism's drawings.

A *learned prior* is a model of what the data looks like. Feature
visualization can use one by optimizing not the pixels but the **latent code**
z of a generator, so that every image it can produce looks like data:

    vae = zoo.load("vae")
    p = param.LatentImage(vae, batch=4)   # images = vae.decode(z); z is optimized

The price: the image can only show what the generator can draw, which is
what the *data* looks like, not necessarily what the *unit* wants.

The VAE maps an image (3, 64, 64) to a Gaussian over a 32-number latent code
and decodes codes back to images. Moving along a straight line between two
codes ("interpolating in the latent space") morphs one drawing into another
through images that still look like drawings, where blending pixels would
just cross-fade.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from interp_lib.organism import data


class VAE(nn.Module):
    """Images (N, 3, 64, 64) in [0, 1] <-> latent codes (N, latent_dim).

    It works at 32 x 32 inside (the drawings' strokes survive halving, and a
    CPU trains it four times faster) and upsamples its output back to 64 x 64.
    """

    def __init__(self, latent_dim: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.AvgPool2d(2),  # 64 -> 32
            nn.Conv2d(3, 32, 4, 2, 1), nn.ReLU(),  # 16 x 16
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),  # 8 x 8
            nn.Flatten(), nn.Linear(64 * 8 * 8, 2 * latent_dim),
        )
        self.decoder_input = nn.Linear(latent_dim, 64 * 8 * 8)
        self.decoder = nn.Sequential(
            nn.ReLU(), nn.Unflatten(1, (64, 8, 8)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),  # 16 x 16
            nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Sigmoid(),  # 32 x 32
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),  # 64 x 64
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of the latent code, each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Latent codes (N, latent_dim) -> images (N, 3, 64, 64) in [0, 1]."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latent codes shaped (N, {self.latent_dim}), "
                             f"got {tuple(z.shape)}")
        return self.decoder(self.decoder_input(z))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z), mu, logvar


def interpolate(z0: Tensor, z1: Tensor, n: int) -> Tensor:
    """n codes evenly spaced on the straight line from z0 to z1 (both (latent_dim,)): (n, latent_dim).

    >>> interpolate(torch.zeros(2), torch.ones(2), 3)
    tensor([[0.0000, 0.0000],
            [0.5000, 0.5000],
            [1.0000, 1.0000]])
    """
    w = torch.linspace(0, 1, n, device=z0.device)[:, None]
    return (1 - w) * z0[None] + w * z1[None]


@dataclass(frozen=True)
class VAERecipe:
    seed: int = 0
    steps: int = 2500
    batch_size: int = 64
    lr: float = 1e-3
    beta: float = 0.5  # weight of the KL term
    stroke_weight: float = 20.0  # extra weight of stroke pixels in the reconstruction


def loss(model: VAE, x: Tensor, beta: float = 0.5, weight: Tensor | None = None
         ) -> tuple[Tensor, Tensor, Tensor]:
    """(total, reconstruction, KL), each averaged over the batch; reconstruction is
    the squared error summed over pixels, each pixel weighted by `weight` (N, 1, H, W).

    >>> vae, x = VAE(), torch.rand(2, 3, 64, 64)
    >>> total, rec, kl = loss(vae, x, beta=0.5)
    >>> bool(torch.isclose(total, rec + 0.5 * kl)), bool(kl >= 0)
    (True, True)
    >>> loss(vae, x, weight=torch.zeros(2, 1, 64, 64))[1].item()  # pixels of weight 0 do not count
    0.0
    """
    recon, mu, logvar = model(x)
    err = (recon - x) ** 2 if weight is None else weight * (recon - x) ** 2
    rec = err.flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()
    return rec + beta * kl, rec, kl


def train_vae(recipe: VAERecipe = VAERecipe(), progress: bool = True,
              device: str | torch.device = "cpu") -> tuple[VAE, dict]:
    """Train the VAE on fresh generated batches (seeds distinct from the classifiers').

    Returns (model in eval mode, log). `python -m interp_lib.zoo train vae` runs it
    with the zoo's recipe (about 2 minutes on two CPU cores).

    The zoo's "vae" is its result (see `reconstruction_error`); a run is minutes long:

    >>> vae, log = train_vae(VAERecipe(steps=4000))  # doctest: +SKIP
    """
    torch.manual_seed(recipe.seed)
    model = VAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    start = time.time()
    bar = tqdm(range(recipe.steps), disable=not progress, desc="training VAE", unit="step")
    for step in bar:
        batch = data.make_batch(recipe.batch_size, 2**30 + recipe.seed * 2**20 + step)
        x = batch.images.to(device)
        # Strokes cover a few percent of the pixels: without extra weight the VAE learns
        # the background colour and drops the drawing.
        stroke = ((batch.images - batch.params["bg"][:, :, None, None]).abs().amax(1, keepdim=True)
                  > 0.2).float().to(device)
        total, rec, kl = loss(model, x, recipe.beta, 1 + recipe.stroke_weight * stroke)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(recon=f"{rec.item():.1f}", kl=f"{kl.item():.1f}")
    return model.eval(), {"seconds": time.time() - start, "steps": recipe.steps}


@torch.no_grad()
def reconstruction_error(model: VAE, n: int = 256, seed: int = data.HELD_OUT_SEED) -> float:
    """Mean absolute pixel error of reconstructing held-out images from their mean codes.

    >>> from interp_lib import zoo
    >>> trained, untrained = reconstruction_error(zoo.load("vae"), n=32), reconstruction_error(VAE(), n=32)
    >>> bool(trained < untrained / 2)  # the trained VAE keeps the drawings
    True
    """
    x = data.make_batch(n, seed).images
    mu, _ = model.encode(x)
    return (model.decode(mu) - x).abs().mean().item()
