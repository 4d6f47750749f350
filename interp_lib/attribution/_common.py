"""What every attribution method shares: the score to explain, the checks, the model's mode.

Each method explains one score per example (`select_target`), refuses bad
inputs and targets with a plain message before any gradient is taken
(`_check_inputs`, `_check_target`), runs the model in eval mode on its own
device (`_prepared`), and, where it compares with a reference input, reads
its baselines one way (`_baselines`). They live here, apart from the methods,
so that every method checks and prepares the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from interp_lib.hooks import MODE_DEPENDENT, eval_mode, model_device

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
    if any(m.training and isinstance(m, MODE_DEPENDENT) for m in model.modules()):
        warnings.warn(
            f"{type(model).__name__} is in training mode: attributions are computed in eval mode "
            "(dropout would make them random and BatchNorm would update its running "
            "statistics). The model's mode is restored afterwards; call model.eval() to "
            "silence this.", stacklevel=3)
    with eval_mode(model):
        yield model_device(model)


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
