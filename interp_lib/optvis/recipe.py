"""Render recipes: what `render` does where the call does not say.

A feature visualization depends on choices the objective does not make: how
the image is represented (the parameterization) and how it is perturbed at
each step (the transforms). Lucid's defaults (a Fourier image with decorrelated
colours, its standard transforms) were made for ImageNet models. A model can
carry its own defaults as it carries its colour statistics: an attribute
`render_recipe` holding a `Recipe`. The zoo's organisms carry
`optvis.strokes.DRAWING`, which draws their renders as pen strokes;
every other model gets `LUCID`. Anything passed to `render` explicitly
(`param=`, `transforms=`) overrides the recipe.

    recipe_for(zoo.load("conv5-s0")).name     # 'drawing: ...'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from interp_lib.hooks import capture, eval_mode, model_device
from interp_lib.optvis import objectives as obj
from interp_lib.optvis.param import colour_sqrt_for, image

# (model, objective, batch_size, size, seed, device) -> a parameterization on the device
ParamFactory = Callable[[nn.Module, obj.Objective, int, int, int, torch.device], nn.Module]


@dataclass(frozen=True)
class Recipe:
    """A model's render defaults: `param(model, objective, batch_size, size, seed, device)`
    makes the parameterization; `transforms` is what `render(transforms=...)` accepts."""

    name: str
    param: ParamFactory
    transforms: object = "standard"


def _fourier(model: nn.Module, objective: obj.Objective, batch_size: int, size: int, seed: int,
             device: torch.device) -> nn.Module:
    return image(size, batch_size=batch_size, colour_sqrt=colour_sqrt_for(model), seed=seed,
                 device=device)


LUCID = Recipe("Lucid's: a Fourier image with the model's decorrelated colours, standard "
               "transforms", _fourier, "standard")


def recipe_for(model: nn.Module) -> Recipe:
    """The model's own recipe (its `render_recipe` attribute), or Lucid's.

    >>> from interp_lib.organism.models import tiny_net
    >>> recipe_for(tiny_net()) is LUCID  # a plain network has no recipe of its own
    True
    """
    own = getattr(model, "render_recipe", None)
    if own is None:
        return LUCID
    if not isinstance(own, Recipe):
        raise TypeError(f"{type(model).__name__}.render_recipe should be an "
                        f"interp_lib.optvis.recipe.Recipe, got {type(own).__name__}")
    return own


def seen_region(model: nn.Module, objective: obj.Objective, batch_size: int, size: int, *,
                seed: int = 0) -> tuple[tuple[float, float], int]:
    """Where in a `size`-pixel image the objective can see: ((x, y) centre, side), the
    square around every pixel whose change moves the objective, found by
    back-propagating it through random images. For a neuron it is the neuron's
    receptive field; for a channel or a class, the whole image.

    >>> from interp_lib.organism.models import tiny_net
    >>> seen_region(tiny_net(), obj.neuron("relu2", 0), 1, 16)  # two 3x3 convs and a pool: 8 px
    ((9.0, 9.0), 8)
    >>> seen_region(tiny_net(), obj.channel("relu2", 0), 1, 16)
    ((8.0, 8.0), 16)
    """
    from interp_lib.optvis.render import redirected_relus  # render imports this module

    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    seen = torch.zeros(size, size, dtype=torch.bool)
    # Redirected ReLUs and several random batches: a unit silent for an image would pass no
    # gradient, and show no region at all.
    with eval_mode(model), torch.enable_grad(), redirected_relus(), \
            capture(model, objective.model_layers, detach=False) as acts:
        for _ in range(8):
            x = torch.rand(batch_size, 3, size, size, generator=g).to(device).requires_grad_(True)
            out = model(x)
            value = objective({**acts, obj.INPUT: x, obj.OUTPUT: out})
            (grad,) = torch.autograd.grad(value, x, allow_unused=True)
            if grad is not None:
                seen |= (grad.abs().sum(dim=(0, 1)) > 0).cpu()
    rows, cols = seen.any(dim=1).nonzero()[:, 0], seen.any(dim=0).nonzero()[:, 0]
    if len(rows) == 0:
        return (size / 2, size / 2), size
    top, bottom = int(rows.min()), int(rows.max()) + 1
    left, right = int(cols.min()), int(cols.max()) + 1
    return ((left + right) / 2, (top + bottom) / 2), max(bottom - top, right - left)
