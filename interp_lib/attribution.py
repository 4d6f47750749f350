"""Attribution: which parts of an input (or which hidden units) made the network decide.

Every method has the same signature, in the manner of Captum:

    attributions = method(model, inputs, target, ...)

inputs: (N, ...) a batch: images (N, C, H, W), vectors (N, F), or one number
per example (N,). A 3-D tensor is refused: it is usually one image without its
batch dimension. Grad-CAM, channel attribution and occlusion's square windows
need images (N, C, H, W). target: the output to explain: a class index, a
tensor (N,) of indices, or None for a model whose output is one number per
example. Input methods return attributions shaped like the inputs; layer
methods (grad_cam, channel_attribution) return maps shaped like the layer.

Methods: saliency, input_x_gradient, integrated_gradients, smoothgrad (over
any of them, options passed through: `smoothgrad(model, x, t,
attribution=integrated_gradients, method="riemann_left")`), occlusion,
grad_cam, channel_attribution; and the sanity check `cascading_randomization`.
Options come after the three main arguments, by keyword. A layer is a name
or, as in Captum, the module itself.

Every method computes on the model's device, returns attributions on the
inputs' device, and runs the model in eval mode (a model in training mode is
switched for the call, with a warning, and restored): dropout would make
attributions random and BatchNorm would update its running statistics.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.hooks import Layer, eval_mode, layer_root, model_device, resolve, run_with_cache

Target = int | Tensor | None
Method = Callable[..., Tensor]


# --- choosing the output to explain -----------------------------------------------------

def select_target(output: Tensor, target: Target) -> Tensor:
    """The scores to explain, (N,): output[:, target] (or output itself if it is (N,)).

    >>> select_target(torch.tensor([[1.0, 5.0], [2.0, 3.0]]), 1)
    tensor([5., 3.])
    """
    if output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1 and target is None):
        return output.reshape(-1)
    if target is None:
        raise ValueError(f"the model has {output.shape[1]} outputs: choose one with target=")
    n_out = output.shape[1]
    _check_target(target)
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


def _check_target(target: Target) -> None:
    """A target is an integer class index or an integer tensor: a float (2.5, or a float
    tensor) would be truncated silently, so it is refused."""
    if isinstance(target, bool) or (isinstance(target, float)):
        raise TypeError(f"target must be an integer class index (or a tensor of them), "
                        f"got {target!r}")
    if isinstance(target, Tensor) and (target.is_floating_point() or target.is_complex()):
        raise TypeError(f"target must hold integer class indices, got a {target.dtype} tensor: "
                        "convert it with .long() if the values are whole numbers")


def _expand_target(target: Target, repeats: int) -> Target:
    """Target for a batch made of `repeats` copies of the original batch, stacked."""
    if isinstance(target, Tensor) and target.ndim == 1:
        return target.repeat(repeats)
    return target


def _check_inputs(inputs: Tensor, *, images: str | None = None) -> None:
    """Attributions need a floating-point batch: gradients of integer images do not exist,
    and integer arithmetic would silently round the path points of integrated gradients.

    A batch is (N,) or (N, F) for non-image models and (N, C, H, W) for images; a 3-D
    tensor is refused because it is almost always one image without its batch
    dimension, which a convolution accepts silently and a later layer rejects with a
    deep shape error. images: the name of a method that needs (N, C, H, W).
    """
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if not inputs.is_floating_point():
        hint = (" Images stored as bytes (0 to 255) become floats in [0, 1] with "
                "inputs.float() / 255." if inputs.dtype == torch.uint8 else "")
        raise TypeError(f"inputs must be floating point, got {inputs.dtype}.{hint}")
    if inputs.ndim == 0:
        raise ValueError("inputs must be a batch, one row per example: got a single number. "
                         "Use shape (N,) for one number per example.")
    if inputs.ndim == 3:
        raise ValueError(f"inputs have shape {tuple(inputs.shape)}, three dimensions: one image "
                         "(C, H, W)? add a batch dimension with x.unsqueeze(0); images are "
                         "(N, C, H, W), vectors (N, F)")
    if images is not None and inputs.ndim != 4:
        raise ValueError(f"{images} needs images (N, C, H, W); got inputs of shape "
                         f"{tuple(inputs.shape)}")


@contextmanager
def _prepared(model: nn.Module) -> Iterator[torch.device]:
    """The model in eval mode for the duration, and its device. A model in training mode
    whose modules behave differently in training (dropout, batch norm) gets a warning."""
    mode_dependent = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
    if any(m.training and isinstance(m, mode_dependent) for m in model.modules()):
        warnings.warn(
            f"{type(model).__name__} is in training mode: attributions are computed in eval mode "
            "(dropout would make them random and BatchNorm would update its running "
            "statistics). The model's mode is restored afterwards; call model.eval() to "
            "silence this.", stacklevel=3)
    with eval_mode(model):
        yield model_device(model)


def gradients(model: nn.Module, inputs: Tensor, target: Target) -> Tensor:
    """d score / d inputs for each example's target score: shaped like inputs.

    Computed on the model's device (the model is assumed in eval mode: the public
    methods see to it).

    >>> lin = nn.Linear(3, 2)
    >>> torch.equal(gradients(lin, torch.rand(4, 3), 1), lin.weight[1].detach().expand(4, 3))
    True
    """
    x = inputs.detach().to(model_device(model)).requires_grad_(True)
    scores = select_target(model(x), target)
    (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad


# --- gradient methods ------------------------------------------------------------------

def saliency(model: nn.Module, inputs: Tensor, target: Target = None, *, absolute: bool = True
             ) -> Tensor:
    """The gradient of the target score with respect to the input (its absolute
    value by default, as in Simonyan et al.; Captum calls this option `abs`).

    inputs: (N, ...). Returns attributions shaped like inputs.

    >>> lin = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[3.0, -4.0]]))
    >>> saliency(lin, torch.rand(1, 2), 0), saliency(lin, torch.rand(1, 2), 0, absolute=False)
    (tensor([[3., 4.]]), tensor([[ 3., -4.]]))
    """
    _check_inputs(inputs)
    with _prepared(model):
        grad = gradients(model, inputs, target).to(inputs.device)
    return grad.abs() if absolute else grad


def input_x_gradient(model: nn.Module, inputs: Tensor, target: Target = None) -> Tensor:
    """Input times gradient: a first-order estimate of each feature's contribution.

    inputs: (N, ...). Returns attributions shaped like inputs.

    >>> lin = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[3.0, -4.0]]))
    >>> input_x_gradient(lin, torch.tensor([[1.0, 0.5]]), 0)
    tensor([[ 3., -2.]])
    """
    _check_inputs(inputs)
    with _prepared(model):
        return inputs.detach() * gradients(model, inputs, target).to(inputs.device)


# --- integrated gradients --------------------------------------------------------------

def quadrature(n_steps: int, method: str = "gausslegendre") -> tuple[Tensor, Tensor]:
    """Points alpha (n,) in [0, 1] along the path and their weights (n,), summing to 1.

    The trapezoid rule weights the two ends by half a step: the weights of n
    points sum to 1 (a plain 1/n grid with halved ends would sum to (n - 1) / n).

    >>> alphas, weights = quadrature(5, "riemann_trapezoid")
    >>> alphas.tolist(), weights.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.125, 0.25, 0.25, 0.25, 0.125])
    """
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
    *,
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

    baselines: None (zeros), a number, or a tensor that broadcasts against the
    inputs (N, ...), such as one baseline (1, C, H, W) or (C, H, W) for all.
    Returns attributions shaped like inputs and, if asked, the convergence
    delta (N,): sum of an example's attributions minus (F(input) - F(baseline)).
    Completeness says it should be 0; its size measures the quadrature error.

    >>> lin = nn.Linear(3, 1)
    >>> x = torch.rand(2, 3)
    >>> attr, delta = integrated_gradients(lin, x, 0, return_convergence_delta=True)
    >>> torch.allclose(attr, x * lin.weight.detach()), bool(delta.abs().max() < 1e-5)
    (True, True)
    >>> relu = nn.ReLU()  # a model of one number per example: inputs (N,)
    >>> attr, delta = integrated_gradients(relu, torch.tensor([-2.0, 3.0]),
    ...                                    return_convergence_delta=True)
    >>> attr.tolist() == [0.0, 3.0], delta.tolist()  # ReLU cut -2 off, so it gets nothing
    (True, [0.0, 0.0])
    """
    _check_inputs(inputs)
    _check_target(target)
    if internal_batch_size is not None and internal_batch_size < 1:
        raise ValueError(f"internal_batch_size must be at least 1 (or None for one batch), "
                         f"got {internal_batch_size}")
    with _prepared(model) as device:
        x = inputs.detach().to(device)
        base = _baselines(x, baselines)
        alphas, weights = quadrature(n_steps, method)
        n = x.shape[0]
        diff = x - base
        # All points along the path, step-major: rows [k * N, (k + 1) * N) are step k.
        path = torch.cat([base + float(a) * diff for a in alphas])
        step_target = _expand_target(target, n_steps)
        chunk = internal_batch_size or path.shape[0]
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
            return attributions.to(inputs.device)
        with torch.no_grad():
            f_in = select_target(model(x), target)
            f_base = select_target(model(base), target)
        # reshape, not flatten(1): inputs (N,) have no dimension 1.
        delta = attributions.reshape(n, -1).sum(dim=1) - (f_in - f_base)
    return attributions.to(inputs.device), delta.to(inputs.device)


def _baselines(x: Tensor, baselines: Tensor | float | None) -> Tensor:
    """The baselines as a tensor shaped like x, following torch broadcasting."""
    if baselines is None:
        return torch.zeros_like(x)
    if isinstance(baselines, (int, float)):
        return torch.full_like(x, float(baselines))
    b = torch.as_tensor(baselines).detach().to(x)
    try:
        return torch.broadcast_to(b, x.shape)
    except RuntimeError:
        raise ValueError(f"baselines of shape {tuple(b.shape)} do not broadcast against the "
                         f"inputs {tuple(x.shape)}: give one per input, one for all "
                         f"{tuple(x.shape[1:])} or (1, {', '.join(map(str, x.shape[1:]))}), "
                         "or a number") from None


# --- SmoothGrad ------------------------------------------------------------------------

NOISE_TUNNEL_FORMS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def smoothgrad(model: nn.Module, inputs: Tensor, target: Target = None, *,
               attribution: Method = saliency, stdev: float = 0.15, n_samples: int = 16,
               form: str = "smoothgrad", seed: int = 0, **kwargs) -> Tensor:
    """SmoothGrad (Smilkov et al. 2017): the attributions of `attribution` (any method
    here) over n_samples noisy copies of the inputs, combined by `form` (Captum's
    NoiseTunnel types): "smoothgrad", their mean; "smoothgrad_sq", the mean of their
    squares; "vargrad", their variance. stdev is absolute (as in Captum), in the
    inputs' own units; for images in [0, 1], 0.1 to 0.2 is typical. Other keyword
    options go to `attribution`: `attribution=integrated_gradients, method="riemann_left"`
    picks IG's quadrature rule, as Captum's NoiseTunnel passes `method` to IG.

    >>> x = torch.tensor([-0.01, 2.0])  # two examples; the first sits at ReLU's kink
    >>> saliency(nn.ReLU(), x, absolute=False)  # one gradient each: all or nothing
    tensor([0., 1.])
    >>> smoothgrad(nn.ReLU(), x, absolute=False, n_samples=64)  # about half at the kink
    tensor([0.4062, 1.0000])
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if callable(kwargs.get("method")):
        raise TypeError("the attribution function SmoothGrad averages is attribution=, such as "
                        "attribution=integrated_gradients; method= is passed on to it (IG's "
                        "quadrature rule, such as method='riemann_left')")
    if form not in NOISE_TUNNEL_FORMS:
        raise ValueError(f"unknown form {form!r}: choose {', '.join(NOISE_TUNNEL_FORMS)}")
    _check_inputs(inputs)
    g = torch.Generator().manual_seed(seed)
    x = inputs.detach()
    total = torch.zeros_like(x)
    squares = torch.zeros_like(x)
    for _ in range(n_samples):
        noise = torch.randn(x.shape, generator=g).to(x) * stdev
        a = attribution(model, x + noise, target, **kwargs)
        total += a
        squares += a * a
    mean, mean_sq = total / n_samples, squares / n_samples
    if form == "smoothgrad":
        return mean
    if form == "smoothgrad_sq":
        return mean_sq
    return mean_sq - mean * mean


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
def occlusion(model: nn.Module, inputs: Tensor, target: Target = None, *,
              window: int | Sequence[int] = 8, stride: int | Sequence[int] = 4,
              baseline: Tensor | float = 0.0, windows_per_batch: int = 16) -> Tensor:
    """Occlusion (Zeiler and Fergus 2014): slide a window over the input, set it to
    `baseline`, and record how much the target score drops.

    Each feature's attribution is the mean, over the windows covering it, of
    F(input) - F(input with the window occluded). An int window or stride on
    images (N, C, H, W) covers all channels and a square of pixels. baseline: a
    number, or a tensor that broadcasts against the inputs (a blurred copy, a
    per-image mean colour (N, C, 1, 1)). windows_per_batch: how many occluded
    copies of each input go through the model in one forward pass. The stride
    may not exceed the window (pixels between windows would get no attribution).

    >>> lin = nn.Linear(3, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.fill_(2.0)
    >>> occlusion(lin, torch.tensor([[1.0, 2.0, 3.0]]), 0, window=1, stride=1)
    tensor([[2., 4., 6.]])
    """
    _check_inputs(inputs)
    _check_target(target)
    if windows_per_batch < 1:
        raise ValueError(f"windows_per_batch must be at least 1, got {windows_per_batch}")
    with _prepared(model) as device:
        x = inputs.detach().to(device)
        win = _per_dim(window, x, "window")
        st = _per_dim(stride, x, "stride")
        dims = x.shape[1:]
        if any(w < 1 or w > d for w, d in zip(win, dims)):
            raise ValueError(f"window {win} must fit inside one input {tuple(dims)}")
        if any(s < 1 for s in st):
            raise ValueError(f"stride {st} must be at least 1 in every dimension")
        if any(s > w for s, w in zip(st, win)):
            raise ValueError(f"stride {st} is larger than the window {win}: the features "
                             "between windows would never be occluded. Use stride <= window.")
        base = _baselines(x, baseline)
        base_score = select_target(model(x), target)
        total = torch.zeros_like(x)
        count = torch.zeros(dims, dtype=x.dtype, device=x.device)
        # As in Captum: ceil((d - w) / s) + 1 windows per dimension; the last may be clipped.
        starts = [range(0, (math.ceil((d - w) / s) + 1) * s, s) for d, w, s in zip(dims, win, st)]
        regions = [tuple(slice(c, c + w) for c, w in zip(corner, win))
                   for corner in itertools.product(*starts)]
        n = x.shape[0]
        for i in range(0, len(regions), windows_per_batch):
            group = regions[i:i + windows_per_batch]
            occluded = x.repeat(len(group), *([1] * len(dims)))  # window-major: (G * N, ...)
            for j, region in enumerate(group):
                where = (slice(j * n, (j + 1) * n),) + region
                occluded[where] = base[(slice(None),) + region]
            drops = base_score.repeat(len(group)) - select_target(model(occluded),
                                                                  _expand_target(target, len(group)))
            for j, region in enumerate(group):
                total[(slice(None),) + region] += drops[j * n:(j + 1) * n].view(-1, *([1] * len(dims)))
                count[region] += 1
        return (total / count.clamp_min(1)).to(inputs.device)


# --- layer methods ---------------------------------------------------------------------

def _layer_grad(model: nn.Module, inputs: Tensor, target: Target, layer: Layer,
                versus: Target = None) -> tuple[Tensor, Tensor]:
    """(activations, d score / d activations) at `layer`, both detached; score is the
    target's output (minus the `versus` output, when given)."""
    # The inputs require grad so that the layer's activations carry a graph even when no
    # parameter does (a model frozen for analysis); the parameters' flags are left alone.
    x = inputs.detach().to(model_device(model)).requires_grad_(True)
    with torch.enable_grad():
        out, acts = run_with_cache(model, x, layer, detach=False)
        a = acts.only()
        score = select_target(out, target)
        if versus is not None:
            score = score - select_target(out, versus)
        (grad,) = torch.autograd.grad(score.sum(), a)
    return a.detach(), grad


def grad_cam(model: nn.Module, inputs: Tensor, target: Target, layer: Layer, *,
             relu: bool = True, upsample: bool = True) -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017) at a convolutional layer.

    Channel weights are the target's gradient averaged over positions; the map
    is the weighted sum of the layer's channels, ReLU'd, and (by default)
    upsampled bilinearly to the input size. Returns (N, 1, H, W), or the
    layer's (N, 1, h, w) with upsample=False.

    The defaults follow the paper. Captum's `LayerGradCam.attribute(inputs,
    target)` keeps negative values and does not upsample: `relu=False,
    upsample=False` reproduces it (its `LayerAttribution.interpolate` then
    upsamples, by nearest neighbour unless told otherwise).

    inputs: images (N, C, H, W).

    >>> net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    >>> with torch.no_grad():  # the score is the image's mean brightness
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.zero_()
    >>> x = torch.zeros(1, 1, 8, 8)
    >>> x[0, 0, :4, :4] = 1.0  # a bright square, top left
    >>> cam = grad_cam(net, x, None, "1")
    >>> bool(cam[0, 0, :4, :4].min() > cam[0, 0, 4:, 4:].max())  # the map points at the square
    True
    """
    _check_inputs(inputs, images="grad_cam")
    _check_target(target)
    with _prepared(model):
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
    return cam.to(inputs.device)


def channel_attribution(model: nn.Module, inputs: Tensor, target: Target, layer: Layer, *,
                        versus: Target = None, per_position: bool = False) -> Tensor:
    """Attribute a decision to the channels of a hidden layer (Building Blocks, 2018).

    (d score / d activations) * activations, where the score is the target
    logit, or the logit difference target - versus. Summed over positions:
    (N, C); with per_position=True, the map itself: (N, C, H, W), which says
    *where* each channel contributed.

    inputs: images (N, C, H, W).

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ...                     nn.Linear(2, 1))
    >>> with torch.no_grad():  # two channels that copy the image; the score is 2 * c0 - c1
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.zero_()
    ...     _ = net[4].weight.copy_(torch.tensor([[2.0, -1.0]])), net[4].bias.zero_()
    >>> channel_attribution(net, torch.ones(1, 1, 4, 4), 0, "1")  # c0 argues for, c1 against
    tensor([[ 2., -1.]])
    """
    _check_inputs(inputs, images="channel_attribution")
    _check_target(target)
    with _prepared(model):
        a, grad = _layer_grad(model, inputs, target, layer, versus)
    contrib = (grad * a).to(inputs.device)
    if per_position or contrib.ndim <= 2:
        return contrib
    return contrib.flatten(2).sum(dim=2)


# --- the sanity check ------------------------------------------------------------------

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
