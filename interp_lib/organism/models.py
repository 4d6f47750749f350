"""The model organism's architecture: a plain stack of convolutions and ReLUs.

No BatchNorm, no residual connections: the weights of `convK` connect the
channels of `reluK-1` straight to the channels of `convK`, so a 5x5 slice of a
weight tensor *is* the circuit between two neurons (Zoom In, claim 2).

Every step has its own readable name, as in TransformerLens:
`conv1, relu1, pool1, conv2, relu2, ...`, then `gap` (global average pool)
and `fc` (the class logits). `convK` is the pre-activation, `reluK` the
activation after the non-linearity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Architecture:
    """A conv stack: one entry per conv layer.

    channels[i]: output channels of conv i+1; kernel: the square kernel size of
    every conv, or one per conv; pool_after: 1-based indices of the convs
    followed by a 2x2 max-pool; stride: 1 for every conv, or one per conv (a
    strided first conv, as in AlexNet, shrinks the image at once).
    """

    channels: tuple[int, ...]
    kernel: int | tuple[int, ...]
    pool_after: tuple[int, ...]
    n_classes: int = 10
    stride: int | tuple[int, ...] = 1

    def kernels(self) -> tuple[int, ...]:
        return _per_layer(self.kernel, len(self.channels), "kernel")

    def strides(self) -> tuple[int, ...]:
        return _per_layer(self.stride, len(self.channels), "stride")


def _per_layer(value: int | tuple[int, ...], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise ValueError(f"{name} needs one value per conv ({n}), got {value}")
    return tuple(value)


class ConvNet(nn.Module):
    """Images (N, 3, H, W) in [0, 1] -> class logits (N, n_classes)."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        c_in = 3
        for i, (c_out, k, s) in enumerate(zip(arch.channels, arch.kernels(), arch.strides()),
                                          start=1):
            self.add_module(f"conv{i}", nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2))
            self.add_module(f"relu{i}", nn.ReLU())
            if i in arch.pool_after:
                self.add_module(f"pool{i}", nn.MaxPool2d(2))
            c_in = c_out
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, arch.n_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x)
        for name, module in self.named_children():
            if name == "fc":
                x = x.flatten(1)
            x = module(x)
        return x

    @property
    def conv_names(self) -> list[str]:
        return [f"conv{i}" for i in range(1, len(self.arch.channels) + 1)]

    @property
    def colour_sqrt(self) -> Tensor:
        """The colour statistics of the data the organism learns from (for feature
        visualization's decorrelated colours, see `optvis.param.colour_sqrt_for`)."""
        from interp_lib.organism.data import colour_sqrt

        return colour_sqrt()


def check_images(x: Tensor, size: int | None = None) -> None:
    """Raise a plain-words error unless x is a batch of RGB images (N, 3, H, W).

    >>> check_images(torch.rand(3, 8, 8))
    Traceback (most recent call last):
    ...
    ValueError: expected a batch of images shaped (N, 3, H, W), got one image (3, 8, 8): add a batch ...
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if x.ndim == 3 and x.shape[0] == 3:
        raise ValueError(
            f"expected a batch of images shaped (N, 3, H, W), got one image {tuple(x.shape)}: "
            "add a batch dimension with x.unsqueeze(0)"
        )
    if x.ndim != 4 or x.shape[1] != 3:
        hw = f"{size}, {size}" if size else "H, W"
        raise ValueError(
            f"expected images shaped (N, 3, {hw}) (RGB, channels first), got {tuple(x.shape)}"
        )
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"expected images of {size}x{size} pixels, got {tuple(x.shape[-2:])}")


def tiny_net(seed: int = 0) -> ConvNet:
    """A small untrained organism for examples and tests: conv1 (6 channels, 3x3),
    pool1, conv2 (8 channels), 10 classes; He-initialised from `seed`, with nonzero
    biases so that a forgotten bias or ReLU shows. Takes any image size >= 2.

    >>> x = torch.rand(2, 3, 16, 16)
    >>> torch.equal(tiny_net(1)(x), tiny_net(1)(x)), torch.equal(tiny_net(0)(x), tiny_net(1)(x))
    (True, False)
    """
    net = ConvNet(Architecture((6, 8), 3, (1,)))
    init_weights(net, seed)
    with torch.no_grad():
        for m in (net.conv1, net.conv2):
            m.bias.copy_(torch.linspace(-0.3, 0.3, m.bias.numel()))
    return net.eval()


def init_weights(model: nn.Module, seed: int) -> None:
    """He (Kaiming) initialisation from a seed: the right scale for ReLU nets without BatchNorm.

    >>> a, b = tiny_net(), tiny_net()
    >>> init_weights(a, 5); init_weights(b, 5)
    >>> torch.equal(a.conv1.weight, b.conv1.weight)
    True
    >>> round(float(a.conv2.weight.detach().std() / (2 / (6 * 3 * 3)) ** 0.5), 1)  # sqrt(2 / fan_in)
    1.0
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.zero_()
