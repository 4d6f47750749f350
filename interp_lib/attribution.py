"""Attribution: which parts of an input (or which hidden units) made the network decide.

Every method has the same signature, in the manner of Captum:

    attributions = method(model, inputs, target, ...)

inputs: (N, ...) a batch (images (N, 3, H, W), or vectors (N, F)); target: the
output to explain: a class index, a tensor (N,) of indices, or None for a
model whose output is one number per example. Input methods return
attributions shaped like the inputs; layer methods (grad_cam,
channel_attribution) return maps shaped like the layer.

Methods: saliency, input_x_gradient, integrated_gradients, smoothgrad (over any
of them), occlusion, grad_cam, channel_attribution; and the sanity check
`cascading_randomization`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.hooks import run_with_cache

Target = int | Tensor | None
Method = Callable[..., Tensor]


# --- choosing the output to explain -----------------------------------------------------

def select_target(output: Tensor, target: Target) -> Tensor:
    """The scores to explain, (N,): output[:, target] (or output itself if it is (N,))."""
    if output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1 and target is None):
        return output.reshape(-1)
    if target is None:
        raise ValueError(f"the model has {output.shape[1]} outputs: choose one with target=")
    n_out = output.shape[1]
    t = torch.as_tensor(target, device=output.device).long()
    if t.ndim == 0:
        t = t.expand(output.shape[0])
    if t.shape != (output.shape[0],):
        raise ValueError(f"target must be one index or one per example ({output.shape[0]},), "
                         f"got shape {tuple(t.shape)}")
    if (t < 0).any() or (t >= n_out).any():
        bad = t[(t < 0) | (t >= n_out)][0].item()
        raise ValueError(f"target {bad} is out of range: the model has {n_out} outputs "
                         f"(0 to {n_out - 1})")
    return output.gather(1, t[:, None])[:, 0]


def _expand_target(target: Target, repeats: int) -> Target:
    """Target for a batch made of `repeats` copies of the original batch, stacked."""
    if isinstance(target, Tensor) and target.ndim == 1:
        return target.repeat(repeats)
    return target


def gradients(model: nn.Module, inputs: Tensor, target: Target) -> Tensor:
    """d score / d inputs for each example's target score: shaped like inputs."""
    x = inputs.detach().requires_grad_(True)
    scores = select_target(model(x), target)
    (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad


# --- gradient methods ------------------------------------------------------------------

def saliency(model: nn.Module, inputs: Tensor, target: Target = None, abs: bool = True
             ) -> Tensor:
    """The gradient of the target score with respect to the input (its absolute
    value by default, as in Simonyan et al.)."""
    grad = gradients(model, inputs, target)
    return grad.abs() if abs else grad


def input_x_gradient(model: nn.Module, inputs: Tensor, target: Target = None) -> Tensor:
    """Input times gradient: a first-order estimate of each feature's contribution."""
    return inputs.detach() * gradients(model, inputs, target)


# --- integrated gradients --------------------------------------------------------------

def quadrature(n_steps: int, method: str = "gausslegendre") -> tuple[Tensor, Tensor]:
    """Points alpha (n,) in [0, 1] along the path and their weights (n,), summing to 1."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    n = n_steps
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return torch.tensor(0.5 * (1 + x)), torch.tensor(0.5 * w)
    if method == "riemann_trapezoid":
        if n < 2:
            raise ValueError("the trapezoid rule needs n_steps >= 2")
        w = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        w[0] = w[-1] = 0.5 / (n - 1)
        return torch.linspace(0, 1, n, dtype=torch.float64), w
    alphas = {
        "riemann_left": lambda: torch.linspace(0, 1 - 1 / n, n, dtype=torch.float64),
        "riemann_right": lambda: torch.linspace(1 / n, 1, n, dtype=torch.float64),
        "riemann_middle": lambda: torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n,
                                                 dtype=torch.float64),
    }
    if method not in alphas:
        raise ValueError(f"unknown method {method!r}: choose gausslegendre, riemann_left, "
                         "riemann_right, riemann_middle or riemann_trapezoid")
    return alphas[method](), torch.full((n,), 1.0 / n, dtype=torch.float64)


def integrated_gradients(
    model: nn.Module,
    inputs: Tensor,
    target: Target = None,
    baselines: Tensor | float | None = None,
    n_steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = 64,
    return_convergence_delta: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Integrated gradients (Sundararajan et al. 2017).

    attribution = (inputs - baselines) * integral over a in [0, 1] of
    grad F(baselines + a * (inputs - baselines)), the integral computed with
    n_steps quadrature points (Gauss-Legendre by default). The gradients at all
    points go through the model in internal batches of `internal_batch_size`
    points (None: all n_steps * N at once). On a CPU, batches of about 50 are
    fastest: large enough to use the vector units, small enough to stay in
    cache (benchmarks/ig_speed.py).

    Returns attributions shaped like inputs and, if asked, the convergence
    delta (N,): sum of an example's attributions minus (F(input) - F(baseline)).
    Completeness says it should be 0; its size measures the quadrature error.
    """
    x = inputs.detach()
    base = _baselines(x, baselines)
    alphas, weights = quadrature(n_steps, method)
    n = x.shape[0]
    diff = x - base
    # All points along the path, step-major: rows [k * N, (k + 1) * N) are step k.
    path = torch.cat([base + float(a) * diff for a in alphas])
    step_target = _expand_target(target, n_steps)
    chunk = internal_batch_size or path.shape[0]
    if chunk < 1:
        raise ValueError(f"internal_batch_size must be at least 1, got {chunk}")
    grads = []
    for i in range(0, path.shape[0], chunk):
        t = step_target
        if isinstance(t, Tensor) and t.ndim == 1:
            t = t[i:i + chunk]
        grads.append(gradients(model, path[i:i + chunk], t))
    grads = torch.cat(grads).reshape(n_steps, n, *x.shape[1:])
    w = weights.to(x).view(n_steps, *([1] * x.ndim))
    attributions = diff * (grads * w).sum(dim=0)
    if not return_convergence_delta:
        return attributions
    with torch.no_grad():
        f_in = select_target(model(x), target)
        f_base = select_target(model(base), target)
    delta = attributions.flatten(1).sum(dim=1) - (f_in - f_base)
    return attributions, delta


def _baselines(x: Tensor, baselines: Tensor | float | None) -> Tensor:
    if baselines is None:
        return torch.zeros_like(x)
    if isinstance(baselines, (int, float)):
        return torch.full_like(x, float(baselines))
    b = baselines.detach().to(x)
    if b.shape == x.shape:
        return b
    if b.shape == x.shape[1:]:
        return b.expand_as(x)
    raise ValueError(f"baselines have shape {tuple(b.shape)}; they must match the inputs "
                     f"{tuple(x.shape)} or one input {tuple(x.shape[1:])}")


# --- SmoothGrad ------------------------------------------------------------------------

def smoothgrad(model: nn.Module, inputs: Tensor, target: Target = None,
               method: Method = saliency, stdev: float = 0.15, n_samples: int = 16,
               seed: int = 0, **method_kwargs) -> Tensor:
    """SmoothGrad (Smilkov et al. 2017): the mean of `method`'s attributions over
    n_samples noisy copies of the inputs. stdev is absolute (as in Captum), in the
    inputs' own units; for images in [0, 1], 0.1 to 0.2 is typical."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    g = torch.Generator().manual_seed(seed)
    x = inputs.detach()
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        noise = torch.randn(x.shape, generator=g).to(x) * stdev
        total += method(model, x + noise, target, **method_kwargs)
    return total / n_samples


# --- occlusion -------------------------------------------------------------------------

def _per_dim(value: int | Sequence[int], x: Tensor, name: str) -> tuple[int, ...]:
    dims = x.shape[1:]
    if isinstance(value, int):
        # An int means a square window over the last two dims of an image, all channels.
        return (dims[0], value, value) if x.ndim == 4 else (value,) * len(dims)
    out = tuple(int(v) for v in value)
    if len(out) != len(dims):
        raise ValueError(f"{name} {out} must give one size per input dimension {tuple(dims)}")
    return out


@torch.no_grad()
def occlusion(model: nn.Module, inputs: Tensor, target: Target = None,
              window: int | Sequence[int] = 8, stride: int | Sequence[int] = 4,
              baseline: float = 0.0) -> Tensor:
    """Occlusion (Zeiler and Fergus 2014): slide a window over the input, set it to
    `baseline`, and record how much the target score drops.

    Each feature's attribution is the mean, over the windows covering it, of
    F(input) - F(input with the window occluded). An int window or stride on
    images (N, C, H, W) covers all channels and a square of pixels.
    """
    x = inputs.detach()
    win = _per_dim(window, x, "window")
    st = _per_dim(stride, x, "stride")
    dims = x.shape[1:]
    if any(w < 1 or w > d for w, d in zip(win, dims)):
        raise ValueError(f"window {win} must fit inside one input {tuple(dims)}")
    if any(s < 1 for s in st):
        raise ValueError(f"stride {st} must be at least 1 in every dimension")
    base_score = select_target(model(x), target)
    total = torch.zeros_like(x)
    count = torch.zeros(dims, dtype=x.dtype, device=x.device)
    # As in Captum: ceil((d - w) / s) + 1 windows per dimension; the last may be clipped.
    starts = [range(0, (math.ceil((d - w) / s) + 1) * s, s) for d, w, s in zip(dims, win, st)]
    for corner in itertools.product(*starts):
        region = tuple(slice(c, c + w) for c, w in zip(corner, win))
        occluded = x.clone()
        occluded[(slice(None),) + region] = baseline
        drop = base_score - select_target(model(occluded), target)
        total[(slice(None),) + region] += drop.view(-1, *([1] * len(dims)))
        count[region] += 1
    return total / count.clamp_min(1)


# --- layer methods ---------------------------------------------------------------------

def _layer_grad(model: nn.Module, inputs: Tensor, target: Target, layer: str
                ) -> tuple[Tensor, Tensor]:
    out, acts = run_with_cache(model, inputs.detach(), layer, detach=False)
    a = acts[layer]
    (grad,) = torch.autograd.grad(select_target(out, target).sum(), a)
    return a.detach(), grad


def grad_cam(model: nn.Module, inputs: Tensor, target: Target, layer: str, relu: bool = True,
             upsample: bool = True) -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017) at a convolutional layer.

    Channel weights are the target's gradient averaged over positions; the map
    is the weighted sum of the layer's channels, ReLU'd, and (by default)
    upsampled to the input size. Returns (N, 1, H, W) (or the layer's h x w).
    """
    a, grad = _layer_grad(model, inputs, target, layer)
    if a.ndim != 4:
        raise ValueError(f"Grad-CAM needs a convolutional layer (N, C, H, W); {layer!r} gives "
                         f"{tuple(a.shape)}")
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = (weights * a).sum(dim=1, keepdim=True)
    if relu:
        cam = cam.clamp_min(0)
    if upsample:
        cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)
    return cam


def channel_attribution(model: nn.Module, inputs: Tensor, target: Target, layer: str,
                        versus: Target = None) -> Tensor:
    """Attribute a decision to the channels of a hidden layer (Building Blocks, 2018).

    (d score / d activations) * activations, summed over positions, where the
    score is the target logit, or the logit difference target - versus. Returns (N, C).
    """
    out, acts = run_with_cache(model, inputs.detach(), layer, detach=False)
    a = acts[layer]
    score = select_target(out, target)
    if versus is not None:
        score = score - select_target(out, versus)
    (grad,) = torch.autograd.grad(score.sum(), a)
    contrib = grad * a
    return contrib.flatten(2).sum(dim=2) if contrib.ndim > 2 else contrib


# --- the sanity check ------------------------------------------------------------------

def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation between two tensors of equal size."""
    ra = a.flatten().argsort().argsort().double()
    rb = b.flatten().argsort().argsort().double()
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
                            methods: dict[str, Callable[[nn.Module, Tensor, Target], Tensor]],
                            layers: Sequence[str] | None = None, seed: int = 0
                            ) -> RandomizationResult:
    """Adebayo et al.'s model-parameter randomization test, cascading from the top.

    Re-initialises the weights of `layers` (default: every conv and linear
    layer, top first), one more at each stage, on a copy of the model, and
    measures how each method's maps change. Maps are compared as the absolute
    attribution summed over channels, by Spearman rank correlation per example.
    A method that explains the *model* should lose its correlation as the model
    is destroyed; a method that keeps it is showing the input, not the model.
    """
    work = copy.deepcopy(model).eval()
    named = dict(work.named_modules())
    if layers is None:
        layers = [n for n, m in named.items() if isinstance(m, (nn.Conv2d, nn.Linear))][::-1]
    for name in layers:
        if name not in named:
            raise ValueError(f"no layer {name!r} to randomise; layers with weights: "
                             f"{[n for n, m in named.items() if hasattr(m, 'weight')]}")

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
