"""What an objective is: the Objective class, its arithmetic, and the decorator that makes one.

An objective is a small function of the activations recorded during a forward
pass, wrapped so that objectives compose with ordinary arithmetic, as in Lucid:

    goal = channel("relu3", 4) - 0.1 * total_variation()
    goal = sum(channel("relu3", c, batch=i) for i, c in enumerate([4, 7, 9]))

Every objective is written one way, as with Lucid's `wrap_objective`: a
function of the objective's arguments, decorated with `@objective`, that
returns the inner function of the activations; the decorator names the
objective from its arguments and records the layers it reads.

This module stands apart from `objectives` as Lucid's `objectives_util` does:
it is the machinery every objective shares (combining, naming, which layers
to record), where `objectives` holds the objectives themselves. Learners use
both through one name, `from interp_lib.optvis import objectives as obj`:
`obj.Objective`, `obj.objective`, `obj.INPUT` and `obj.OUTPUT` are these.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import re
from collections.abc import Callable, Sequence

from torch import Tensor

INPUT, OUTPUT = "input", "output"
Acts = dict[str, Tensor]


class Objective:
    """A scalar function of activations. Combine with +, -, *, unary -, and sum().

    >>> import torch
    >>> from interp_lib.optvis.objectives import channel, total_variation
    >>> acts = {"relu3": torch.ones(1, 2, 3, 3), "input": torch.full((1, 3, 4, 4), 0.5)}
    >>> goal = channel("relu3", 0) - 0.1 * total_variation()
    >>> goal.layers, goal(acts)  # the layers to record; a flat image costs no penalty
    (('relu3', 'input'), tensor(1.))
    """

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


# --- the decorator that makes objectives ---------------------------------------------

_LAYER_PARAMETER = re.compile(r"layer\d*")


def _shown(value) -> str:
    """An argument as it appears in an objective's name: strings (layer names) and short
    values in full; a long value (a vector of weights, a tensor) as ..., as in Lucid."""
    text = repr(value)
    return text if isinstance(value, str) or (len(text) <= 20 and "\n" not in text) else "..."


def _is_default(value, default) -> bool:
    if default is inspect.Parameter.empty:
        return False
    if value is default:
        return True
    if isinstance(value, Tensor):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError, RuntimeError):
        return False


def _name_and_layers(make: Callable, args: tuple, kwargs: dict) -> tuple[str, list[str]]:
    """The objective's name and the layers it reads, from the arguments of one call."""
    signature = inspect.signature(make)
    bound = signature.bind(*args, **kwargs)  # a wrong call fails here, as a plain call would
    parts, layers = [], []
    for param in signature.parameters.values():
        if param.name not in bound.arguments:
            continue  # left at its default
        value = bound.arguments[param.name]
        if _LAYER_PARAMETER.fullmatch(param.name):
            if not isinstance(value, str):
                raise TypeError(f"{make.__name__}: {param.name} names a layer, such as 'relu3'; "
                                f"got {value!r}")
            layers.append(value)
        if param.kind is param.VAR_POSITIONAL:
            parts += [_shown(v) for v in value]
        elif param.kind is param.VAR_KEYWORD:
            parts += [f"{k}={_shown(v)}" for k, v in value.items()]
        elif _is_default(value, param.default):
            continue
        elif param.kind is param.KEYWORD_ONLY:
            parts.append(f"{param.name}={_shown(value)}")
        else:
            parts.append(_shown(value))
    return f"{make.__name__}({', '.join(parts)})", layers


def objective(make: Callable | None = None, *, reads: Sequence[str] = ()):
    """Turn `make(*args) -> fn(acts)` into `make(*args) -> Objective`, named, with its layers.

    The decorated function takes the objective's arguments and returns its inner
    function of the activations, fn(acts) -> scalar tensor. The decorator adds:

    - the name, from the function's name and the arguments of the call in the
      order of the signature: positional parameters by value, keyword-only ones
      as name=value; an argument left at (or given as) its default is left out,
      and a long value (a vector, a tensor) is shown as ...;
    - the layers it reads, by one rule: the values of the parameters called
      `layer`, `layer1`, `layer2`, ... (each a layer name), in signature order,
      followed by `reads`, for objectives of the image (INPUT) or of the
      model's output (OUTPUT): `@objective(reads=[INPUT])`.

    >>> from interp_lib.optvis.objectives import total_variation
    >>> @objective
    ... def channel_max(layer, channel, *, batch=None):
    ...     "A channel's largest activation, wherever it is."
    ...     def fn(acts):
    ...         a = acts[layer] if batch is None else acts[layer][batch:batch + 1]
    ...         return a[:, channel].amax(dim=(1, 2)).sum()
    ...     return fn
    >>> peak = channel_max("relu3", 2, batch=None)  # batch at its default: not in the name
    >>> peak, peak.layers
    (Objective(channel_max('relu3', 2)), ('relu3',))
    >>> (peak - 0.1 * total_variation()).layers  # it composes like the built-in objectives
    ('relu3', 'input')
    """
    def decorate(make: Callable) -> Callable[..., Objective]:
        @functools.wraps(make)
        def build(*args, **kwargs) -> Objective:
            name, layers = _name_and_layers(make, args, kwargs)
            fn = make(*args, **kwargs)
            if not callable(fn):
                raise TypeError(f"{make.__name__} must return its inner function of the "
                                f"activations, fn(acts) -> scalar tensor; it returned "
                                f"{type(fn).__name__}")
            return Objective(fn, [*layers, *reads], name)
        return build
    return decorate if make is None else decorate(make)
