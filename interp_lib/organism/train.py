"""Training the model organism: the recipe, in code, so that every checkpoint can be remade.

Every step sees a fresh batch from `data.make_batch`, so the network never
sees the same image twice and cannot memorise: held-out accuracy is measured
on a seed that training never uses (`data.HELD_OUT_SEED`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from interp_lib.hooks import eval_mode, model_device
from interp_lib.organism import data
from interp_lib.organism.models import Architecture, ConvNet, init_weights


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run besides the architecture."""

    seed: int
    steps: int = 3000
    batch_size: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 1e-4


def batch_seed(run_seed: int, step: int) -> int:
    """The data seed of one training step: distinct per run and step, always below 2**30."""
    return (run_seed % 1024) * 2**20 + step


def train(arch: Architecture, recipe: Recipe, progress: bool = True,
          device: str | torch.device = "cpu") -> tuple[ConvNet, dict]:
    """Train a ConvNet from scratch. Returns (model in eval mode, log).

    The log holds the final training loss, steps and wall-clock seconds.
    """
    torch.manual_seed(recipe.seed)
    model = ConvNet(arch)
    init_weights(model, recipe.seed)
    # channels_last lets the CPU convolution kernels run about 20% faster.
    model = model.to(device=device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.max_lr, total_steps=recipe.steps)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    bar = tqdm(range(recipe.steps), disable=not progress, desc="training", unit="step")
    ema = None
    for step in bar:
        batch = data.make_batch(recipe.batch_size, batch_seed(recipe.seed, step))
        x = batch.images.to(device).contiguous(memory_format=torch.channels_last)
        loss = loss_fn(model(x), batch.labels.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{ema:.3f}")
    model = model.to(memory_format=torch.contiguous_format).eval()
    return model, {"loss": ema, "steps": recipe.steps, "seconds": time.time() - start}


@torch.no_grad()
def accuracy(model: nn.Module, n: int = 2000, *, seed: int = data.HELD_OUT_SEED) -> float:
    """Share of n generated images (seed never used in training) classified correctly,
    computed on the model's device, in eval mode.

    >>> from interp_lib.organism.models import tiny_net
    >>> 0.0 <= accuracy(tiny_net(), n=20) <= 1.0
    True
    """
    batch = data.make_batch(n, seed)
    correct = 0
    device = model_device(model)
    with eval_mode(model):
        for i in range(0, n, 500):
            logits = model(batch.images[i:i + 500].to(device))
            correct += (logits.argmax(1).cpu() == batch.labels[i:i + 500]).sum().item()
    return correct / n
