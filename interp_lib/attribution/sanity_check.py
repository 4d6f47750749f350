"""The sanity check: does an attribution method explain the model, or only the input?

Adebayo et al. (2018) destroy a model's weights, layer by layer from the top,
and ask whether a method's maps change (`cascading_randomization`). A method
whose maps survive a destroyed model is showing the image, not the model.
Maps are compared by rank (`spearman`, with `average_ranks` for the ties
attribution maps are full of).

It stands apart from the methods because it is a test *of* them: it takes
any of them (any function (model, inputs, target) -> maps) as an argument.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from interp_lib.attribution._common import Target, _check_inputs
from interp_lib.hooks import Layer, layer_root, resolve


def average_ranks(x: Tensor) -> Tensor:
    """Ranks 0 .. n-1 of the flattened values, ties sharing the mean of their ranks
    (as scipy.stats.rankdata does, minus one).

    >>> average_ranks(torch.tensor([10.0, 30.0, 20.0, 20.0]))
    tensor([0.0000, 3.0000, 1.5000, 1.5000], dtype=torch.float64)
    """
    flat = x.flatten()
    order = flat.argsort(stable=True)
    sorted_vals = flat[order]
    # Each run of equal values gets the mean of the positions it occupies.
    _, inverse, counts = torch.unique_consecutive(sorted_vals, return_inverse=True,
                                                  return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() + 1) / 2
    ranks = torch.empty_like(flat, dtype=torch.float64)
    ranks[order] = mean_rank[inverse]
    return ranks


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation between two tensors of equal size, ties given average
    ranks (attribution maps are full of ties: Grad-CAM's zeros, flat backgrounds).

    >>> spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 20.0, 15.0]))
    0.5
    """
    if a.numel() != b.numel():
        raise ValueError(f"spearman needs tensors of equal size, got {a.numel()} and {b.numel()}")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum()) / denom if denom > 0 else 0.0


@dataclass
class RandomizationResult:
    """layers[i]: the layer whose weights were re-initialised at stage i (cumulative,
    from the top); correlation[method][i]: mean Spearman correlation between the
    method's maps on the randomised model and on the original."""

    layers: list[str]
    correlation: dict[str, list[float]]


def cascading_randomization(model: nn.Module, inputs: Tensor, target: Target,
                            methods: dict[str, Callable[[nn.Module, Tensor, Target], Tensor]], *,
                            layers: Sequence[Layer] | None = None, seed: int = 0
                            ) -> RandomizationResult:
    """Adebayo et al.'s model-parameter randomization test, cascading from the top.

    Re-initialises the weights of `layers` (default: every conv and linear
    layer, top first), one more at each stage, on a copy of the model, and
    measures how each method's maps change. Maps are compared as the absolute
    attribution summed over channels, by Spearman rank correlation per example.
    A method that explains the *model* should lose its correlation as the model
    is destroyed; a method that keeps it is showing the input, not the model.
    The caller's model is not changed: the test works on a copy.

    >>> from interp_lib.attribution import saliency
    >>> from interp_lib.organism.models import tiny_net
    >>> x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> r = cascading_randomization(tiny_net(), x, 0, {
    ...     "saliency": saliency,
    ...     "the input itself": lambda model, x, target: x})  # ignores the model
    >>> r.layers
    ['fc', 'conv2', 'conv1']
    >>> r.correlation["the input itself"]  # unchanged by a destroyed model: it fails the test
    [1.0, 1.0, 1.0]
    >>> r.correlation["saliency"][-1] < 0.5  # saliency changes with the model: it passes
    True
    """
    _check_inputs(inputs)
    work = copy.deepcopy(model).eval()
    named = dict(layer_root(work).named_modules())
    with_weights = [n for n, m in named.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if layers is None:
        layers = with_weights[::-1]
    layers = [resolve(model, layer) for layer in layers]
    for name in layers:
        if name not in with_weights:
            raise ValueError(f"{name!r} has no weights to randomise; layers with weights: "
                             f"{', '.join(with_weights)}")

    def maps(m: nn.Module) -> dict[str, Tensor]:
        out = {}
        for k, fn in methods.items():
            attr = fn(m, inputs, target).detach()
            out[k] = attr.abs().sum(dim=1) if attr.ndim == 4 else attr.abs()
        return out

    original = maps(work)
    g = torch.Generator().manual_seed(seed)
    result = RandomizationResult(list(layers), {k: [] for k in methods})
    for name in layers:
        module = named[name]
        with torch.no_grad():
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=g) * (2 / fan_in) ** 0.5)
            if module.bias is not None:
                module.bias.zero_()
        now = maps(work)
        for k in methods:
            result.correlation[k].append(float(np.mean(
                [spearman(o, c) for o, c in zip(original[k], now[k])])))
    return result
