"""Inputs as they come in the wild, for the checks: a network laid out as torchvision's
(nested Sequentials, dotted layer names, in-place ReLUs, 3 x 3 stride-2 pools), and
tables that still require grad. Code written against the course's own organisms and
fresh tensors alone breaks on them; these turn the break into a plain message.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from interp_lib.course.checks import call, fail


def attached(t: torch.Tensor) -> torch.Tensor:
    """A copy of t that requires grad, as a table computed from a model comes in the wild:
    numpy refuses it until it is detached.

    >>> table = attached(torch.eye(2))
    >>> table.requires_grad, table.detach().numpy().shape
    (True, (2, 2))
    """
    return t.detach().clone().requires_grad_(True)


DOTTED_NAMES = ("in a network laid out as torchvision's, layers sit inside nested Sequentials and "
                "their names have dots ('features.9'). getattr(model, name) and named_children() "
                "find top-level modules only: use model.get_submodule(name), or the hooks module.")


def call_nested(fn: Callable, *args, what: str, **kwargs):
    """`call`, on a network with dotted layer names: a lookup that fails gets a plain message.

    >>> net = torchvision_shaped_net()
    >>> call_nested(lambda m, layer: getattr(m, layer), net, "features.9", what="find(net)")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.CheckFailed: find(net) could not find layer 'features.9': in a network...
    """
    try:
        return call(fn, *args, what=what, **kwargs)
    except (AttributeError, LookupError, StopIteration):
        layer = next((a for a in args if isinstance(a, str) and "." in a), None)
        if layer is None:
            raise
        fail(f"{what} could not find layer {layer!r}: {DOTTED_NAMES}")


def torchvision_shaped_net(seed: int = 0) -> nn.Module:
    """A narrow AlexNet, laid out as torchvision's (random weights): nested Sequentials
    (`features`, `classifier`), layers named by index ("features.9"), ReLUs in place,
    3 x 3 max-pools of stride 2, dropout, an adaptive pool. Code that works only on the
    organisms' flat layout (top-level modules, getattr(model, layer), 2 x 2 pools) fails
    on it. Input (N, 3, 224, 224): features come out (N, 12, 6, 6).

    >>> net = torchvision_shaped_net()
    >>> tuple(net.features(torch.zeros(1, 3, 224, 224)).shape), type(net.features[9]).__name__
    ((1, 12, 6, 6), 'ReLU')
    """
    g = torch.Generator().manual_seed(seed)
    features = nn.Sequential(
        nn.Conv2d(3, 8, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(8, 12, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 12, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(12, 12, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(nn.Dropout(), nn.Linear(12 * 6 * 6, 32), nn.ReLU(inplace=True),
                               nn.Dropout(), nn.Linear(32, 32), nn.ReLU(inplace=True),
                               nn.Linear(32, 10))

    class AlexNetShaped(nn.Module):
        def __init__(self):
            super().__init__()
            self.features, self.avgpool, self.classifier = features, nn.AdaptiveAvgPool2d(6), classifier

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    net = AlexNetShaped()
    with torch.no_grad():
        for p in net.parameters():  # scaled so that activations neither vanish nor explode
            fan_in = p[0].numel() if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5 if p.ndim > 1
                    else torch.randn(p.shape, generator=g) * 0.05)
    return net.eval()
