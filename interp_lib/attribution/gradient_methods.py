"""Gradient methods: attributions read from the gradient of the score with respect to the input.

    saliency              |d score / d input| (Simonyan et al. 2014)
    input_x_gradient      input * gradient: a first-order estimate of each contribution
    integrated_gradients  the gradient integrated along a path from a baseline
                          (Sundararajan et al. 2017), with `quadrature`'s points
    smoothgrad            any method averaged over noisy copies (Smilkov et al. 2017)

They stand together because each is one or more backward passes to the input:
`gradients` is the one they all take. Occlusion (`perturbation`) needs no
gradient; Grad-CAM and channel attribution (`layer_methods`) stop at a
hidden layer.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from interp_lib.attribution._common import (Method, Target, _baselines, _check_inputs, _check_target,
                                            _expand_target, _prepared, select_target)
from interp_lib.hooks import model_device


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
