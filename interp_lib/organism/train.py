"""Training the model organism: the recipe, in code, so that every checkpoint can be remade.

Every batch is fresh from `data.make_batch`, so the network never sees the
same image twice and cannot memorise: held-out accuracy is measured on a
seed that training never uses (`data.HELD_OUT_SEED`).

The organisms are trained to be *robust*: each batch is shown twice, the
second time with a small adversarial perturbation (at most `epsilon` per
pixel, in the direction that most increases the loss) found from the
gradient the first pass already computed ("free" adversarial training,
Shafahi et al. 2019: robustness at the price of ordinary training). Robust
classifiers have gradients that line up with what a person sees, so their
feature visualizations show shapes rather than textures; the organism's
curve detectors are drawn as arcs. The perturbation grows from 0 to epsilon
over the first `ramp` of the run, while the network learns the task.
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
    steps: int = 2400
    batch_size: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 1e-4
    epsilon: float = 4 / 255  # the adversarial perturbation's largest change to a pixel
    ramp: float = 0.4  # epsilon grows from 0 over this share of the steps
    replays: int = 2  # each batch is shown this many times; 1 turns adversarial training off


def batch_seed(run_seed: int, step: int) -> int:
    """The data seed of one training step: distinct per run and step, always below 2**30.

    >>> batch_seed(1, 5)
    1048581
    """
    return (run_seed % 1024) * 2**20 + step


def train(arch: Architecture, recipe: Recipe, *, progress: bool = True,
          device: str | torch.device = "cpu") -> tuple[ConvNet, dict]:
    """Train a ConvNet from scratch. Returns (model in eval mode, log).

    Each of `recipe.steps` optimizer steps sees a batch; a new batch every
    `replays` steps, each replay perturbed adversarially (see the module's
    doc). The log holds the final training loss, steps and wall-clock seconds.

    >>> from interp_lib.organism.models import Architecture
    >>> model, log = train(Architecture((4,), 3, ()), Recipe(seed=0, steps=2, batch_size=4),
    ...                    progress=False)
    >>> log["steps"], model.training
    (2, False)
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
    delta = None
    for step in bar:
        if step % recipe.replays == 0:
            batch = data.make_batch(recipe.batch_size, batch_seed(recipe.seed, step // recipe.replays))
            x = batch.images.to(device).contiguous(memory_format=torch.channels_last)
            y = batch.labels.to(device)
            if delta is None:
                delta = torch.zeros_like(x)
        eps = recipe.epsilon * min(1.0, step / max(1.0, recipe.ramp * recipe.steps))
        # The perturbation carries over from the last step: each backward pass gives
        # the weights' gradient and, for free, the input's, which moves the perturbation.
        d = delta.clone().requires_grad_(recipe.replays > 1)
        loss = loss_fn(model((x + d).clamp(0, 1)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if recipe.replays > 1:
            delta = (delta + eps * d.grad.sign()).clamp(-eps, eps)
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
