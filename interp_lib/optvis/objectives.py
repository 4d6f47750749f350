"""Objectives for feature visualization: what an optimized image should maximise.

An objective is a small function of the activations recorded during a forward
pass, wrapped so that objectives compose with ordinary arithmetic, as in Lucid:

    obj = channel("relu3", 4) - 0.1 * total_variation()
    obj = sum(channel("relu3", c, batch=i) for i, c in enumerate([4, 7, 9]))

One sign convention everywhere: **objectives are maximised**. Regularizers
(total_variation, l1, l2) measure something unwanted, so you subtract them.

Conventions: each objective is averaged over positions where it has them and
*summed over the batch elements it applies to*, so that every image of a
batched render is optimised as if it were alone. `batch=i` aims an objective
at element i only. Inside, `acts` maps layer names to activations (N, C, H, W),
plus "input" (the images (N, 3, H, W) before transforms) and "output" (the
model's output, (N, classes)).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

INPUT, OUTPUT = "input", "output"
Acts = dict[str, Tensor]


class Objective:
    """A scalar function of activations. Combine with +, -, *, unary -, and sum()."""

    def __init__(self, fn: Callable[[Acts], Tensor], layers: Sequence[str] = (), name: str = "?"):
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))  # ordered, no duplicates
        self.name = name

    def __call__(self, acts: Acts) -> Tensor:
        return self.fn(acts)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    @property
    def model_layers(self) -> tuple[str, ...]:
        """The layers to record with hooks (not the special input and output)."""
        return tuple(name for name in self.layers if name not in (INPUT, OUTPUT))

    # --- algebra -------------------------------------------------------------------
    def __add__(self, other) -> Objective:
        if isinstance(other, numbers.Number):
            return Objective(lambda a: self(a) + other, self.layers, f"{self.name} + {other}")
        other = _as_objective(other)
        return Objective(lambda a: self(a) + other(a), self.layers + other.layers,
                         f"{self.name} + {other.name}")

    def __radd__(self, other) -> Objective:
        # sum() starts from 0: 0 + objective is the objective.
        if isinstance(other, numbers.Number) and other == 0:
            return self
        return self + other

    def __neg__(self) -> Objective:
        return Objective(lambda a: -self(a), self.layers, f"-({self.name})")

    def __sub__(self, other) -> Objective:
        return self + (-other)

    def __rsub__(self, other) -> Objective:
        return (-self) + other

    def __mul__(self, other) -> Objective:
        if isinstance(other, numbers.Number):
            return Objective(lambda a: other * self(a), self.layers, f"{other} * {self.name}")
        other = _as_objective(other)
        return Objective(lambda a: self(a) * other(a), self.layers + other.layers,
                         f"({self.name}) * ({other.name})")

    __rmul__ = __mul__

    def __truediv__(self, number: float) -> Objective:
        return self * (1.0 / number)


def _as_objective(x) -> Objective:
    if not isinstance(x, Objective):
        raise TypeError(f"objectives combine with numbers and other objectives, not {type(x).__name__}")
    return x


# --- helpers that turn bad input into plain errors ---------------------------------------

def _layer(acts: Acts, layer: str, ndim: int | None = 4) -> Tensor:
    a = acts[layer]
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{layer!r} has activations shaped {tuple(a.shape)}; this objective "
                         f"needs a convolutional layer (N, C, H, W)")
    return a


def _pick_batch(x: Tensor, batch: int | None) -> Tensor:
    if batch is None:
        return x
    if not -x.shape[0] <= batch < x.shape[0]:
        raise ValueError(f"batch={batch} is out of range: the render has {x.shape[0]} images "
                         f"(0 to {x.shape[0] - 1})")
    return x[batch:batch + 1]


def _check_channel(a: Tensor, layer: str, channel: int) -> None:
    if not 0 <= channel < a.shape[1]:
        raise ValueError(f"channel {channel} is out of range: {layer!r} has {a.shape[1]} "
                         f"channels (0 to {a.shape[1] - 1})")


# --- the objectives -------------------------------------------------------------------

def neuron(layer: str, channel: int, x: int | None = None, y: int | None = None,
           batch: int | None = None) -> Objective:
    """One neuron: a channel at one position (the centre by default)."""
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        _check_channel(a, layer, channel)
        h, w = a.shape[2:]
        row = h // 2 if y is None else y
        col = w // 2 if x is None else x
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"position (x={col}, y={row}) is outside {layer!r}'s {w}x{h} grid "
                             f"(x from 0 to {w - 1}, y from 0 to {h - 1})")
        return a[:, channel, row, col].sum()
    return Objective(fn, [layer], f"neuron({layer!r}, {channel})")


def channel(layer: str, channel: int, batch: int | None = None) -> Objective:
    """A channel: its mean activation over all positions."""
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        _check_channel(a, layer, channel)
        return a[:, channel].mean(dim=(1, 2)).sum()
    return Objective(fn, [layer], f"channel({layer!r}, {channel})")


def layer(layer: str, batch: int | None = None) -> Objective:
    """A whole layer, DeepDream's objective: the mean of its squared activations."""
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer, ndim=None), batch)
        return (a**2).flatten(1).mean(dim=1).sum()
    return Objective(fn, [layer], f"layer({layer!r})")


deepdream = layer


def direction(layer: str, vector: Tensor | Sequence[float], batch: int | None = None) -> Objective:
    """A direction in a layer's channel space: the dot product of each position's
    activation vector (C,) with `vector` (C,), averaged over positions."""
    vec = torch.as_tensor(vector, dtype=torch.float32)

    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        if vec.shape != (a.shape[1],):
            raise ValueError(f"the direction has shape {tuple(vec.shape)}; {layer!r} has "
                             f"{a.shape[1]} channels, so it needs shape ({a.shape[1]},)")
        v = vec.to(a.device, a.dtype)
        return torch.einsum("nchw,c->nhw", a, v).mean(dim=(1, 2)).sum()
    return Objective(fn, [layer], f"direction({layer!r})")


def _check_class(logits: Tensor, cls: int) -> None:
    if not 0 <= cls < logits.shape[1]:
        raise ValueError(f"class {cls} is out of range: the model has {logits.shape[1]} "
                         f"classes (0 to {logits.shape[1] - 1})")


def class_logit(cls: int, batch: int | None = None) -> Objective:
    """A class's logit: the model's output before the softmax."""
    def fn(acts: Acts) -> Tensor:
        logits = _pick_batch(acts[OUTPUT], batch)
        _check_class(logits, cls)
        return logits[:, cls].sum()
    return Objective(fn, [OUTPUT], f"class_logit({cls})")


def class_probability(cls: int, batch: int | None = None) -> Objective:
    """A class's probability: after the softmax. It can rise by *suppressing the
    other classes* rather than by showing more of this one."""
    def fn(acts: Acts) -> Tensor:
        logits = _pick_batch(acts[OUTPUT], batch)
        _check_class(logits, cls)
        return torch.softmax(logits, dim=1)[:, cls].sum()
    return Objective(fn, [OUTPUT], f"class_probability({cls})")


def diversity(layer: str) -> Objective:
    """Rewards a batch of images for being different from each other.

    Each image's style at `layer` is its Gram matrix (C, C) of channel
    correlations; the objective is minus the mean cosine similarity between
    the Gram matrices of different images (Lucid's diversity term).
    """
    def fn(acts: Acts) -> Tensor:
        a = _layer(acts, layer)
        n, c = a.shape[:2]
        if n < 2:
            raise ValueError("diversity needs a batch of at least 2 images to compare")
        flat = a.reshape(n, c, -1)
        gram = torch.nn.functional.normalize(torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1),
                                             dim=1)
        sim = gram @ gram.T
        return -(sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    return Objective(fn, [layer], f"diversity({layer!r})")


def channel_interpolate(layer1: str, channel1: int, layer2: str, channel2: int) -> Objective:
    """Interpolate between two channels across the batch.

    Image i of N maximises (1 - w) * channel1 + w * channel2 with w = i / (N - 1):
    the first image is pure channel1, the last pure channel2, the ones between
    mix the two in even steps.
    """
    def fn(acts: Acts) -> Tensor:
        a1, a2 = _layer(acts, layer1), _layer(acts, layer2)
        _check_channel(a1, layer1, channel1)
        _check_channel(a2, layer2, channel2)
        n = a1.shape[0]
        w = torch.linspace(0, 1, n, device=a1.device) if n > 1 else a1.new_zeros(1)
        m1 = a1[:, channel1].mean(dim=(1, 2))
        m2 = a2[:, channel2].mean(dim=(1, 2))
        return ((1 - w) * m1 + w * m2).sum()
    return Objective(fn, [layer1, layer2],
                     f"channel_interpolate({layer1!r}, {channel1}, {layer2!r}, {channel2})")


# --- regularizers: subtract these -------------------------------------------------------

def total_variation(batch: int | None = None) -> Objective:
    """How much neighbouring pixels differ: the mean absolute difference between
    horizontal and vertical neighbours. High for noise, low for smooth images."""
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return (dx + dy).sum()
    return Objective(fn, [INPUT], "total_variation()")


def l1(constant: float = 0.5, batch: int | None = None) -> Objective:
    """Mean absolute distance of the pixels from `constant` (grey by default)."""
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        return (x - constant).abs().mean(dim=(1, 2, 3)).sum()
    return Objective(fn, [INPUT], f"l1({constant})")


def l2(constant: float = 0.5, batch: int | None = None) -> Objective:
    """Root mean squared distance of the pixels from `constant`."""
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        return ((x - constant) ** 2).mean(dim=(1, 2, 3)).add(1e-12).sqrt().sum()
    return Objective(fn, [INPUT], f"l2({constant})")
