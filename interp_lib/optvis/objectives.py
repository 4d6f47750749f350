"""Objectives for feature visualization: what an optimized image should maximise.

The objectives themselves, as in Lucid's `objectives`: neurons, channels,
layers, directions, classes, diversity, interpolation and the regularizers.
Each is a function of its arguments that returns an `Objective`, so they
compose with ordinary arithmetic:

    goal = channel("relu3", 4) - 0.1 * total_variation()
    goal = sum(channel("relu3", c, batch=i) for i, c in enumerate([4, 7, 9]))

What an objective is (the `Objective` class, its arithmetic and the
`@objective` decorator that names each one and records the layers it reads)
is `interp_lib.optvis.objective_algebra`'s; every name is used from here:
`from interp_lib.optvis import objectives as obj`, then `obj.channel`,
`obj.Objective`, `obj.objective`, `obj.INPUT`.

One sign convention everywhere: **objectives are maximised**. Regularizers
(total_variation, l1, l2) and diversity measure something unwanted (noise,
saturated pixels, images that look alike), so you subtract them:

    goal = channel("relu3", 4) - 10 * diversity("relu3")   # a batch of different images

Conventions: each objective is averaged over positions where it has them and
*summed over the batch elements it applies to*, so that every image of a
batched render is optimised as if it were alone. `batch=i` aims an objective
at element i only. Inside, `acts` maps layer names to activations (N, C, H, W),
plus "input" (the images (N, 3, H, W) before transforms) and "output" (the
model's output, (N, classes)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from interp_lib.optvis.objective_algebra import INPUT, OUTPUT, Acts, Objective, objective

__all__ = [
    "INPUT", "OUTPUT", "Objective", "objective",
    "neuron", "channel", "layer", "deepdream", "direction", "direction_neuron", "channel_weight",
    "neuron_weight", "class_logit", "class_probability", "diversity", "channel_interpolate",
    "alignment", "total_variation", "l1", "l2",
]


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


@objective
def neuron(layer: str, channel: int, *, x: int | None = None, y: int | None = None,
           batch: int | None = None):
    """One neuron: a channel at one position, column x and row y (the centre by default:
    x = W // 2, y = H // 2). What excites the unit whose receptive field is there.

    >>> a = torch.zeros(1, 8, 5, 5)
    >>> a[0, 4, 2, 2] = 3.0  # channel 4 fires at the centre, nowhere else
    >>> neuron("relu3", 4)({"relu3": a}), neuron("relu3", 4, x=0, y=0)({"relu3": a})
    (tensor(3.), tensor(0.))
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        _check_channel(a, layer, channel)
        row, col = _position(a, layer, x, y)
        return a[:, channel, row, col].sum()
    return fn


@objective
def channel(layer: str, channel: int, *, batch: int | None = None):
    """A channel: its mean activation over all positions. What the feature looks like
    wherever in the image it appears (renders usually tile it).

    >>> a = torch.zeros(1, 8, 4, 4)
    >>> a[0, 4, 0, 0] = 16.0  # channel 4 fires in one corner only
    >>> channel("relu3", 4)({"relu3": a})  # the mean over 16 positions: anywhere counts
    tensor(1.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        _check_channel(a, layer, channel)
        return a[:, channel].mean(dim=(1, 2)).sum()
    return fn


@objective
def layer(layer: str, *, batch: int | None = None):
    """A whole layer, DeepDream's objective: the mean of its squared activations.
    Whatever the layer already sees in the image, amplified.

    >>> a = torch.zeros(1, 2, 2, 2)
    >>> a[0, 0, 0, 0], a[0, 1, 1, 1] = 2.0, -2.0  # two strong activations, opposite signs
    >>> layer("relu3")({"relu3": a})  # squared: both count, whatever their channel or sign
    tensor(1.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer, ndim=None), batch)
        return (a**2).flatten(1).mean(dim=1).sum()
    return fn


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


@objective
def direction(layer: str, vector: Tensor | Sequence[float], *, cossim_pow: float = 0.0,
              batch: int | None = None):
    """A direction in a layer's channel space: the dot product of each position's
    activation vector (C,) with `vector` (C,), averaged over positions. A feature
    that is a mix of channels rather than one of them.

    cossim_pow > 0 multiplies the dot product by its cosine similarity to that
    power (Lucid's `direction` with `cossim_pow`): the image must then point
    *along* the vector, not merely have a large component on it.

    >>> both = {"relu3": torch.ones(1, 2, 4, 4)}  # channels 0 and 1 fire together
    >>> direction("relu3", [1.0, 1.0])(both), direction("relu3", [1.0, -1.0])(both)
    (tensor(2.), tensor(0.))
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        v = _vector(vector, a, layer, "direction")
        return _dot_cossim(a, v, cossim_pow).mean(dim=(1, 2)).sum()
    return fn


@objective
def direction_neuron(layer: str, vector: Tensor | Sequence[float], *, x: int | None = None,
                     y: int | None = None, cossim_pow: float = 0.0, batch: int | None = None):
    """A direction at one position (the centre by default): Lucid's `direction_neuron`.

    >>> a = torch.zeros(1, 2, 3, 3)
    >>> a[0, :, 1, 1] = 1.0  # both channels fire at the centre only
    >>> v = [1.0, 1.0]
    >>> direction_neuron("relu3", v)({"relu3": a}), direction("relu3", v)({"relu3": a})
    (tensor(2.), tensor(0.2222))
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        v = _vector(vector, a, layer, "direction")
        row, col = _position(a, layer, x, y)
        return _dot_cossim(a[:, :, row, col], v, cossim_pow).sum()
    return fn


@objective
def channel_weight(layer: str, weight: Tensor | Sequence[float], *, batch: int | None = None):
    """A weighted sum of channels: sum over c of weight[c] * channel c's mean over
    positions. A negative weight asks a channel to stay quiet.

    weight: (C,). Lucent's `channel_weight`; with a one-hot weight it is `channel`.

    >>> a = torch.zeros(1, 3, 2, 2)
    >>> a[:, 0], a[:, 2] = 1.0, 1.0  # channels 0 and 2 fire
    >>> channel_weight("relu3", [1.0, 0.0, -1.0])({"relu3": a})  # 0 wanted, 2 not: no gain
    tensor(0.)
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        w = _vector(weight, a, layer, "weight")
        return (a.mean(dim=(2, 3)) * w).sum()
    return fn


@objective
def neuron_weight(layer: str, weight: Tensor | Sequence[float], *, x: int | None = None,
                  y: int | None = None, batch: int | None = None):
    """A weighted sum of the neurons at one position (the centre by default).

    weight: (C,). Lucent's `neuron_weight`.

    >>> a = torch.zeros(1, 2, 3, 3)
    >>> a[0, 1, 1, 1] = 1.0  # channel 1 fires at the centre
    >>> w = [0.0, 3.0]
    >>> neuron_weight("relu3", w)({"relu3": a}), neuron_weight("relu3", w, x=0, y=0)({"relu3": a})
    (tensor(3.), tensor(0.))
    """
    def fn(acts: Acts) -> Tensor:
        a = _pick_batch(_layer(acts, layer), batch)
        w = _vector(weight, a, layer, "weight")
        row, col = _position(a, layer, x, y)
        return (a[:, :, row, col] * w).sum()
    return fn


def _check_class(logits: Tensor, cls: int) -> None:
    if not 0 <= cls < logits.shape[1]:
        raise ValueError(f"class {cls} is out of range: the model has {logits.shape[1]} "
                         f"classes (0 to {logits.shape[1] - 1})")


@objective(reads=[OUTPUT])
def class_logit(cls: int, *, batch: int | None = None):
    """A class's logit: the model's output before the softmax, the evidence for that
    class alone, whatever the other classes do.

    >>> logit = class_logit(0)
    >>> logit({"output": torch.tensor([[1.0, 1.0]])}), logit({"output": torch.tensor([[1.0, -3.0]])})
    (tensor(1.), tensor(1.))
    """
    def fn(acts: Acts) -> Tensor:
        logits = _pick_batch(acts[OUTPUT], batch)
        _check_class(logits, cls)
        return logits[:, cls].sum()
    return fn


@objective(reads=[OUTPUT])
def class_probability(cls: int, *, batch: int | None = None):
    """A class's probability: after the softmax. It can rise by *suppressing the
    other classes* rather than by showing more of this one.

    >>> prob = class_probability(0)  # class 0's logit is 1 in both, as for class_logit:
    >>> prob({"output": torch.tensor([[1.0, 1.0]])}), prob({"output": torch.tensor([[1.0, -3.0]])})
    (tensor(0.5000), tensor(0.9820))
    """
    def fn(acts: Acts) -> Tensor:
        logits = _pick_batch(acts[OUTPUT], batch)
        _check_class(logits, cls)
        return torch.softmax(logits, dim=1)[:, cls].sum()
    return fn


@objective
def diversity(layer: str):
    """How alike the images of a batch are (Lucid's diversity term, with Lucid's sign):
    subtract it to make them differ.

    Each image's style at `layer` is its Gram matrix (C, C) of channel
    correlations; diversity is the mean cosine similarity between the Gram
    matrices of different images: 1 for identical images, 0 for images that use
    different channels. Like the regularizers it measures something unwanted, so
    `channel("relu3", 4) - k * diversity("relu3")` renders several different
    images of one channel. (Lucid sums each image's similarities to the N - 1
    others where this averages them, so Lucid's weights are N - 1 times smaller.)

    >>> copies = torch.ones(3, 2, 4, 4)  # three identical images
    >>> apart = torch.zeros(3, 3, 4, 4)
    >>> for i in range(3):
    ...     apart[i, i] = 1.0  # each image uses a channel of its own
    >>> diversity("relu3")({"relu3": copies}), diversity("relu3")({"relu3": apart})
    (tensor(1.), tensor(0.))
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
        return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    return fn


@objective
def channel_interpolate(layer1: str, channel1: int, layer2: str, channel2: int):
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
    return fn


@objective
def alignment(layer: str, *, decay_ratio: float = 2.0):
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
    return fn


# --- regularizers: subtract these -------------------------------------------------------

@objective(reads=[INPUT])
def total_variation(*, batch: int | None = None):
    """How much neighbouring pixels differ: the mean absolute difference between
    horizontal and vertical neighbours. High for noise, low for smooth images:
    subtract it to keep renders smooth.

    >>> grey = torch.full((1, 3, 8, 8), 0.5)
    >>> stripes = torch.zeros(1, 3, 8, 8)
    >>> stripes[..., ::2] = 1.0  # every other column white: each step to the right changes by 1
    >>> total_variation()({"input": grey}), total_variation()({"input": stripes})
    (tensor(0.), tensor(1.))
    """
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return (dx + dy).sum()
    return fn


@objective(reads=[INPUT])
def l1(constant: float = 0.5, *, batch: int | None = None):
    """Mean absolute distance of the pixels from `constant` (grey by default): subtract
    it to keep a render muted, with few saturated pixels.

    >>> grey, white = torch.full((1, 3, 2, 2), 0.5), torch.ones(1, 3, 2, 2)
    >>> l1()({"input": grey}), l1()({"input": white})
    (tensor(0.), tensor(0.5000))
    """
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        return (x - constant).abs().mean(dim=(1, 2, 3)).sum()
    return fn


@objective(reads=[INPUT])
def l2(constant: float = 0.5, *, batch: int | None = None):
    """Root mean squared distance of the pixels from `constant`: like l1, but one
    pixel far off grey costs more than many pixels slightly off.

    >>> x = torch.full((1, 1, 2, 2), 0.5)
    >>> x[0, 0, 0, 0] = 1.5  # one pixel far off grey
    >>> l1()({"input": x}), l2()({"input": x})
    (tensor(0.2500), tensor(0.5000))
    """
    def fn(acts: Acts) -> Tensor:
        x = _pick_batch(acts[INPUT], batch)
        return ((x - constant) ** 2).mean(dim=(1, 2, 3)).add(1e-12).sqrt().sum()
    return fn
