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

def _label(kind: str, *args, batch: int | None = None, **kwargs) -> str:
    """An objective's name, from its arguments: `channel('relu3', 4, batch=0)`."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    if batch is not None:
        parts.append(f"batch={batch}")
    return f"{kind}({', '.join(parts)})"


def _position(a: Tensor, layer: str, x: int | None, y: int | None) -> tuple[int, int]:
    """(row, col) of the position (x, y), each defaulting to the centre: W // 2, H // 2."""
    h, w = a.shape[2:]
    row = h // 2 if y is None else y
    col = w // 2 if x is None else x
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"position (x={col}, y={row}) is outside {layer!r}'s {w}x{h} grid "
                         f"(x from 0 to {w - 1}, y from 0 to {h - 1})")
    return row, col


def _vector(vector: Tensor | Sequence[float], a: Tensor, layer: str, what: str) -> Tensor:
    v = torch.as_tensor(vector, dtype=a.dtype, device=a.device)
    if v.shape != (a.shape[1],):
        raise ValueError(f"the {what} has shape {tuple(v.shape)}; {layer!r} has {a.shape[1]} "
                         f"channels, so it needs shape ({a.shape[1]},)")
    return v


def neuron(layer: str, channel: int, *, x: int | None = None, y: int | None = None,
           batch: int | None = None) -> Objective:
    """One neuron: a channel at one position, column x and row y (the centre by default:
    x = W // 2, y = H // 2).

    >>> neuron("relu3", 4)({"relu3": torch.ones(2, 8, 5, 5)})
    tensor(2.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        _check_channel(a, layer, channel)
        row, col = _position(a, layer, x, y)
        return a[:, channel, row, col].sum()
    return Objective(fn, [layer], _label("neuron", layer, channel, x=x, y=y, batch=batch))


def channel(layer: str, channel: int, *, batch: int | None = None) -> Objective:
    """A channel: its mean activation over all positions.

    >>> channel("relu3", 1)({"relu3": torch.arange(8.).view(1, 2, 2, 2)})
    tensor(5.5000)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        _check_channel(a, layer, channel)
        return a[:, channel].mean(dim=(1, 2)).sum()
    return Objective(fn, [layer], _label("channel", layer, channel, batch=batch))


def layer(layer: str, *, batch: int | None = None) -> Objective:
    """A whole layer, DeepDream's objective: the mean of its squared activations.

    >>> layer("relu3")({"relu3": torch.full((1, 2, 3, 3), 2.0)})
    tensor(4.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer, ndim=None), batch)
        return (a**2).flatten(1).mean(dim=1).sum()
    return Objective(fn, [layer], _label("layer", layer, batch=batch))


deepdream = layer


def _dot_cossim(a: Tensor, v: Tensor, cossim_pow: float) -> Tensor:
    """Dot products of activation vectors a (N, C, ...) with v (C,), times their cosine
    similarity to the power cossim_pow (clamped at 0.1, as Lucid does, so that a
    negative or zero similarity cannot flip or kill the objective)."""
    shape = (1, -1) + (1,) * (a.ndim - 2)
    dot = (a * v.view(shape)).sum(dim=1)
    if cossim_pow == 0:
        return dot
    cos = dot / (a.norm(dim=1) * v.norm()).clamp_min(1e-8)
    return dot * cos.clamp_min(0.1) ** cossim_pow


def direction(layer: str, vector: Tensor | Sequence[float], *, cossim_pow: float = 0.0,
              batch: int | None = None) -> Objective:
    """A direction in a layer's channel space: the dot product of each position's
    activation vector (C,) with `vector` (C,), averaged over positions.

    cossim_pow > 0 multiplies the dot product by its cosine similarity to that
    power (Lucid's `direction` with `cossim_pow`): the image must then point
    *along* the vector, not merely have a large component on it.

    >>> direction("relu3", [1.0, -1.0])({"relu3": torch.ones(1, 2, 4, 4)})
    tensor(0.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        v = _vector(vector, a, layer, "direction")
        return _dot_cossim(a, v, cossim_pow).mean(dim=(1, 2)).sum()
    return Objective(fn, [layer], _label("direction", layer, cossim_pow=cossim_pow or None,
                                         batch=batch))


def direction_neuron(layer: str, vector: Tensor | Sequence[float], *, x: int | None = None,
                     y: int | None = None, cossim_pow: float = 0.0,
                     batch: int | None = None) -> Objective:
    """A direction at one position (the centre by default): Lucid's `direction_neuron`.

    >>> direction_neuron("relu3", [2.0, 0.0])({"relu3": torch.ones(1, 2, 3, 3)})
    tensor(2.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        v = _vector(vector, a, layer, "direction")
        row, col = _position(a, layer, x, y)
        return _dot_cossim(a[:, :, row, col], v, cossim_pow).sum()
    return Objective(fn, [layer], _label("direction_neuron", layer, x=x, y=y,
                                         cossim_pow=cossim_pow or None, batch=batch))


def channel_weight(layer: str, weight: Tensor | Sequence[float], *,
                   batch: int | None = None) -> Objective:
    """A weighted sum of channels: sum over c of weight[c] * channel c's mean over positions.

    weight: (C,). Lucent's `channel_weight`; with a one-hot weight it is `channel`.

    >>> channel_weight("relu3", [0.5, 2.0])({"relu3": torch.ones(1, 2, 3, 3)})
    tensor(2.5000)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        w = _vector(weight, a, layer, "weight")
        return (a.mean(dim=(2, 3)) * w).sum()
    return Objective(fn, [layer], _label("channel_weight", layer, batch=batch))


def neuron_weight(layer: str, weight: Tensor | Sequence[float], *, x: int | None = None,
                  y: int | None = None, batch: int | None = None) -> Objective:
    """A weighted sum of the neurons at one position (the centre by default).

    weight: (C,). Lucent's `neuron_weight`.

    >>> neuron_weight("relu3", [1.0, 3.0])({"relu3": torch.ones(1, 2, 3, 3)})
    tensor(4.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        w = _vector(weight, a, layer, "weight")
        row, col = _position(a, layer, x, y)
        return (a[:, :, row, col] * w).sum()
    return Objective(fn, [layer], _label("neuron_weight", layer, x=x, y=y, batch=batch))


def _check_class(logits: Tensor, cls: int) -> None:
    if not 0 <= cls < logits.shape[1]:
        raise ValueError(f"class {cls} is out of range: the model has {logits.shape[1]} "
                         f"classes (0 to {logits.shape[1] - 1})")


def class_logit(cls: int, *, batch: int | None = None) -> Objective:
    """A class's logit: the model's output before the softmax.

    >>> class_logit(1)({"output": torch.tensor([[0.5, 2.0]])})
    tensor(2.)
    """
    def fn(acts: Acts) -> Tensor:
        logits = _pick_batch(acts[OUTPUT], batch)
        _check_class(logits, cls)
        return logits[:, cls].sum()
    return Objective(fn, [OUTPUT], _label("class_logit", cls, batch=batch))


def class_probability(cls: int, *, batch: int | None = None) -> Objective:
    """A class's probability: after the softmax. It can rise by *suppressing the
    other classes* rather than by showing more of this one.

    >>> class_probability(0)({"output": torch.tensor([[0.0, 0.0]])})
    tensor(0.5000)
    """
    def fn(acts: Acts) -> Tensor:
        logits = _pick_batch(acts[OUTPUT], batch)
        _check_class(logits, cls)
        return torch.softmax(logits, dim=1)[:, cls].sum()
    return Objective(fn, [OUTPUT], _label("class_probability", cls, batch=batch))


def diversity(layer: str) -> Objective:
    """Rewards a batch of images for being different from each other.

    Each image's style at `layer` is its Gram matrix (C, C) of channel
    correlations; the objective is minus the mean cosine similarity between
    the Gram matrices of different images (Lucid's diversity term).

    >>> diversity("relu3")({"relu3": torch.ones(3, 2, 4, 4)})  # identical images
    tensor(-1.)
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
    return Objective(fn, [layer], _label("diversity", layer))


def channel_interpolate(layer1: str, channel1: int, layer2: str, channel2: int) -> Objective:
    """Interpolate between two channels across the batch.

    Image i of N maximises (1 - w) * channel1 + w * channel2 with w = i / (N - 1):
    the first image is pure channel1, the last pure channel2, the ones between
    mix the two in even steps.

    >>> a = torch.zeros(3, 2, 1, 1); a[:, 1] = 1.0
    >>> channel_interpolate("r", 0, "r", 1)({"r": a})  # weights 0, 0.5, 1 on channel 1
    tensor(1.5000)
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
                     _label("channel_interpolate", layer1, channel1, layer2, channel2))


def alignment(layer: str, *, decay_ratio: float = 2.0) -> Objective:
    """Rewards neighbouring images of a batch for looking alike at `layer` (Lucid's alignment).

    Minus the mean squared difference between the activations of images i and
    i + d, for d = 1 to 4, each weighted by 1 / decay_ratio ** d. Added to an
    interpolation, it keeps the frames lined up with each other.

    >>> frames = torch.ones(4, 2, 3, 3)
    >>> frames[3] = 0  # the last frame differs: d = 1, 2 and 3 each see one differing pair
    >>> alignment("relu3")({"relu3": frames})
    tensor(-0.8750)
    """
    def fn(acts: Acts) -> Tensor:
        a = _layer(acts, layer, ndim=None)
        total = a.new_zeros(())
        for d in range(1, min(5, a.shape[0])):
            total = total + ((a[d:] - a[:-d]) ** 2).flatten(1).mean(dim=1).sum() / decay_ratio**d
        return -total
    return Objective(fn, [layer], _label("alignment", layer, decay_ratio=decay_ratio))


# --- regularizers: subtract these -------------------------------------------------------

def total_variation(*, batch: int | None = None) -> Objective:
    """How much neighbouring pixels differ: the mean absolute difference between
    horizontal and vertical neighbours. High for noise, low for smooth images.

    >>> total_variation()({"input": torch.zeros(1, 3, 4, 4)})
    tensor(0.)
    """
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return (dx + dy).sum()
    return Objective(fn, [INPUT], _label("total_variation", batch=batch))


def l1(constant: float = 0.5, *, batch: int | None = None) -> Objective:
    """Mean absolute distance of the pixels from `constant` (grey by default).

    >>> l1()({"input": torch.ones(1, 3, 2, 2)})
    tensor(0.5000)
    """
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        return (x - constant).abs().mean(dim=(1, 2, 3)).sum()
    return Objective(fn, [INPUT], _label("l1", constant, batch=batch))


def l2(constant: float = 0.5, *, batch: int | None = None) -> Objective:
    """Root mean squared distance of the pixels from `constant`.

    >>> l2()({"input": torch.zeros(1, 3, 2, 2)})
    tensor(0.5000)
    """
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        return ((x - constant) ** 2).mean(dim=(1, 2, 3)).add(1e-12).sqrt().sum()
    return Objective(fn, [INPUT], _label("l2", constant, batch=batch))
