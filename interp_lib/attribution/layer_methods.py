"""Layer methods: attribution to the channels of a hidden layer rather than to the pixels.

    grad_cam             where in the image a convolutional layer found the evidence
                         (Selvaraju et al. 2017): (N, 1, H, W)
    channel_attribution  which channels argued for (or against) the decision
                         (Building Blocks, 2018): (N, C), or (N, C, H, W) per position

They stand apart from the input methods because they stop at a layer: the
gradient is taken with respect to the layer's activations (read through
`interp_lib.hooks.run_with_cache`), and the answer is shaped like the layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interp_lib.attribution._common import Target, _check_inputs, _check_target, _prepared, select_target
from interp_lib.hooks import Layer, model_device, run_with_cache


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
