"""Checks for the course's exercises, usable from a notebook and by the grader.

In a notebook, call a check on the function you just wrote:

    from interp_lib.course.ch00 import check_channel_means
    check_channel_means(channel_means)      # prints what passed, or the first problem

The grader (`make grade`) runs the same checks through `check.strict`, which
raises `CheckFailed` instead of printing. A check compares your function with
a reference on seeded random inputs and tests behaviour: that it leaves its
inputs and the model as it found them (`call`), that a gradient reaches the
input where the function is used inside an optimization (`expect_gradient`),
edge cases (a batch of one, even grids, negative values...) and, where a
naive approach explodes, its memory (`expect_bounded_memory`). A message
names a mistake only when the check has established it.
"""

from __future__ import annotations

import functools
import os
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class CheckFailed(AssertionError):
    """A check found a problem; the message says what, in plain words."""


def fail(message: str) -> None:
    raise CheckFailed(message)


def expect_shape(out, shape: tuple[int, ...], what: str = "your result") -> None:
    if not isinstance(out, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        squeezed = [s for s in shape if s != 1] == [s for s in out.shape if s != 1]
        hint = (" A dimension of size 1 went missing or appeared: .squeeze() removes every "
                "size-1 dimension, the batch's too when there is one image; index or "
                "squeeze(dim) instead." if squeezed else "")
        fail(f"{what} has shape {tuple(out.shape)}, expected {tuple(shape)}.{hint}")


def expect_close(out, ref: torch.Tensor, hint: str, what: str = "your result",
                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    expect_shape(out, tuple(ref.shape), what)
    out = out.detach().to(ref.dtype)
    if not torch.allclose(out, ref, rtol=rtol, atol=atol, equal_nan=False):
        worst = (out - ref).abs().max().item()
        fail(f"{what} differs from the reference (largest difference {worst:.3g}). {hint}")


def describe_warning(w: warnings.WarningMessage) -> str:
    """A caught warning in one line, as the grader and the notebook checks report it.

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("careful")
    >>> describe_warning(caught[0])  # doctest: +ELLIPSIS
    'UserWarning: careful (line ... of ...)'
    """
    return (f"{w.category.__name__}: {str(w.message).splitlines()[0]} "
            f"(line {w.lineno} of {os.path.basename(w.filename)})")


def outcome(body: Callable, fn: Callable) -> tuple[str, str]:
    """Run a check; return (status, message). Status: passed, not attempted, failed.
    A warning raised on the way is named in the message of a passed check.

    >>> outcome(lambda fn: fn(), lambda: None)
    ('passed', 'all checks passed')
    >>> outcome(lambda fn: fn(), lambda: warnings.warn("careful"))  # doctest: +ELLIPSIS
    ('passed', 'all checks passed, but your code warned: UserWarning: careful (line ...)')
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            body(fn)
    except NotImplementedError:
        return "not attempted", "the function still raises NotImplementedError"
    except CheckFailed as e:
        return "failed", str(e)
    except Exception as e:  # learner code raised: say where, briefly
        frame = traceback.extract_tb(e.__traceback__)[-1]
        return "failed", (f"your code raised {type(e).__name__}: {e} "
                          f"(line {frame.lineno} of {frame.filename.split('/')[-1]})")
    if caught:
        return "passed", f"all checks passed, but your code warned: {describe_warning(caught[0])}"
    return "passed", "all checks passed"


def check(exercise: str) -> Callable:
    """Turn a check body (raises CheckFailed) into a notebook-friendly check.

    Calling the result prints the outcome and returns True when it passed;
    `.strict(fn)` runs the body and raises, for the grader.
    """

    def wrap(body: Callable) -> Callable:
        @functools.wraps(body)
        def friendly(fn: Callable) -> bool:
            status, message = outcome(body, fn)
            mark = {"passed": "\u2714", "not attempted": "\u2026"}.get(status, "\u2718")
            quiet = status == "passed" and message == "all checks passed"
            print(f"{mark} {exercise}: {status}" + ("" if quiet else f": {message}"))
            return status == "passed"

        friendly.strict = body
        friendly.exercise = exercise
        return friendly

    return wrap


# --- behaviour: what a function does besides returning a value -----------------------------

@dataclass
class _ModelState:
    layers: list[str]
    params: list[torch.Tensor]
    grads: list[torch.Tensor | None]
    modes: list[bool]
    hooks: list[int]


def _model_state(model: nn.Module) -> _ModelState:
    return _ModelState(
        [f"{name}: {type(m).__name__}" for name, m in model.named_modules()],
        [p.detach().clone() for p in model.parameters()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [m.training for m in model.modules()],
        [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
         + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules()],
    )


def _check_model(before: _ModelState, model: nn.Module, what: str) -> None:
    after = _model_state(model)
    if after.layers != before.layers:
        changed = next((a for a, b in zip(after.layers, before.layers) if a != b),
                       "a layer was added or removed")
        fail(f"{what} changed the layers of the model it was given ({changed}): work on a "
             "copy (copy.deepcopy(model)) and leave the caller's model as it was.")
    if sum(after.hooks) > sum(before.hooks):
        fail(f"{what} left a hook on the model ({sum(after.hooks) - sum(before.hooks)} more than "
             "before): every later forward pass will run it. Remove it when you are done "
             "(handle.remove() in a finally block), or use hooks.capture in a with block.")
    if any(g is None and p.grad is not None for g, p in zip(before.grads, model.parameters())):
        fail(f"{what} left gradients in the model's parameters (.grad): calling .backward() "
             "stores a gradient in every weight, and they add up call after call. Use "
             "torch.autograd.grad(score, x) to get the gradient of the input alone.")
    if any(not torch.equal(a, p.detach()) for a, p in zip(before.params, model.parameters())):
        fail(f"{what} changed the model's weights: it must only read them.")
    if after.modes != before.modes:
        fail(f"{what} switched the model between training and eval mode and left it so: "
             "restore the mode you found (or leave it alone).")


def _tensors(obj, path: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor inside an argument (tensors, lists, tuples, dicts), with where it sits."""
    if isinstance(obj, torch.Tensor):
        return [(path, obj)]
    if isinstance(obj, (list, tuple)):
        return [pair for i, o in enumerate(obj) for pair in _tensors(o, f"{path}[{i}]")]
    if isinstance(obj, dict):
        return [pair for k, o in obj.items() for pair in _tensors(o, f"{path}[{k!r}]")]
    return []


def call(fn: Callable, *args, what: str, learns: tuple[nn.Module, ...] = (), **kwargs):
    """Call a learner's function and check it had no side effects: the tensors it was
    given are unchanged (values and autograd), and any model it was given has the
    same weights, no new hooks, no gradients left in its parameters, and the same
    train/eval mode (except the modules in `learns`, which the function is meant to
    train). Returns what the function returned.

    >>> call(lambda x: x * 2, torch.ones(2), what="double(x)")
    tensor([2., 2.])
    >>> call(lambda x: x.mul_(2), torch.ones(2), what="double(x)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.CheckFailed: double(x) changed the tensor it was given (argument 1)...
    """
    names = [f"argument {i + 1}" for i in range(len(args))] + [f"{k}=" for k in kwargs]
    values = list(args) + list(kwargs.values())
    saved = [(name + path, t, t.detach().clone(), t.requires_grad) for name, v in zip(names, values)
             for path, t in _tensors(v)]
    models = [(m, _model_state(m)) for m in values
              if isinstance(m, nn.Module) and not any(m is x for x in learns)]
    out = fn(*args, **kwargs)
    for where, t, copy, needed_grad in saved:
        if t.shape != copy.shape or not torch.equal(t.detach(), copy):
            fail(f"{what} changed the tensor it was given ({where}) in place: use "
                 "out-of-place operations (x = x / s, not x /= s; x.sub(y), not x.sub_(y)), "
                 "or work on a copy (x.clone()).")
        if t.requires_grad != needed_grad:
            fail(f"{what} switched requires_grad on the tensor it was given ({where}): the "
                 "caller's tensor now records every operation on it. Make your own leaf: "
                 "x = images.detach().requires_grad_(True).")
    for model, before in models:
        _check_model(before, model, what)
    return out


def expect_gradient(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, what: str
                    ) -> torch.Tensor:
    """Check that a gradient flows from fn(x) back to x, and is finite: the function is
    used inside an optimization (render, gradient ascent), where a value computed
    under torch.no_grad() or on detached tensors gives the right number and then
    moves nothing. Returns the gradient.

    >>> g = expect_gradient(lambda x: (x ** 2).sum(), torch.ones(3), what="square")
    >>> g
    tensor([2., 2., 2.])
    """
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    if not isinstance(out, torch.Tensor):
        fail(f"{what} should return a tensor, got {type(out).__name__}")
    if not out.requires_grad:
        fail(f"no gradient reaches the input through {what}: did you detach a tensor, convert "
             "it (.item(), .numpy()), or compute it under torch.no_grad()? Optimization needs "
             "the value to stay connected to the input.")
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if grad is None:
        fail(f"no gradient reaches the input through {what}: its result is not connected to "
             "the input (computed under torch.no_grad(), from a detached copy, or not from the "
             "input at all).")
    if not torch.isfinite(grad).all():
        fail(f"the gradient through {what} has NaN or infinite values: look for a division "
             "by zero, a square root or logarithm of 0, or an overflowing exp.")
    return grad


def expect_bounded_memory(fn: Callable[[], object], *, extra_mb: int, what: str,
                          timeout: float = 60.0) -> None:
    """Run fn() in a child process whose memory is capped at `extra_mb` MB above what
    it starts with, and fail if it runs out: a way to tell an approach whose memory
    grows with the square of its input from one that grows linearly. Where the
    operating system cannot cap memory (not Linux), the check is skipped.

    >>> expect_bounded_memory(lambda: torch.zeros(1000).sum(), extra_mb=200, what="sum")
    """
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/status"):
        return
    import resource
    import signal

    pid = os.fork()
    if pid == 0:  # the child: cap the address space, run, report by exit code
        code = 0
        try:
            vm_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
                         if line.startswith("VmSize:"))
            limit = (vm_kb + extra_mb * 1024) * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            signal.alarm(int(timeout))
            # A forked child inherits no worker threads: one thread avoids waiting for them.
            torch.set_num_threads(1)
            fn()
        except MemoryError:
            code = 3
        except RuntimeError as e:
            code = 3 if "alloc" in str(e).lower() or "memory" in str(e).lower() else 4
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 3:
        fail(f"{what} ran out of memory on the chapter's real sizes (more than {extra_mb} MB "
             "extra): an approach that compares every pair of values needs memory that grows "
             "with the square of their number. Sort instead (argsort), which needs memory in "
             "proportion to the values.")
    if code == -signal.SIGALRM:
        fail(f"{what} took longer than {timeout:.0f} s on the chapter's real sizes.")
