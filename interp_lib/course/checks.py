"""Checks for the course's exercises, usable from a notebook and by the grader.

In a notebook, call a check on the function you just wrote:

    from interp_lib.course.ch00 import check_channel_means
    check_channel_means(channel_means)      # prints what passed, or the first problem

The grader (`make grade`) runs the same checks through `check.strict`, which
raises `CheckFailed` instead of printing. A check compares your function with
a reference on seeded random inputs and tests behaviour: that it leaves its
inputs and the model as it found them (`call`), that a gradient reaches the
input where the function is used inside an optimization (`expect_gradient`),
that data it hands back is detached (`expect_detached`), edge cases and inputs
as they come in the wild (a batch of one, a table that requires grad, a network
laid out as torchvision's: see `wild`), and, on the chapter's real sizes, its
cost: time against the reference's, measured in the same run (`expect_fast`),
and memory (`expect_bounded_memory`). While your code runs, the library's own
version of the exercise is unavailable, and only warnings your code raised are
reported as yours (see `guard`). A message names a mistake only when the check
has established it.

Every `@check("name")` registers itself: the grader's tests are generated from
the registry (tests/graded/test_exercises.py), so a new exercise needs its check
and nothing else.
"""

from __future__ import annotations

import functools
import gc
import inspect
import math
import os
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import torch
from torch import nn

from interp_lib import hooks
from interp_lib.course import guard


class CheckFailed(AssertionError):
    """A check found a problem; the message says what, in plain words."""


class TooSlow(CheckFailed):
    """The values are right but the code is far slower than the reference on the
    chapter's real sizes; the message says how much, and what usually causes it."""


class TwinUsed(CheckFailed):
    """The learner's code used the library's own answer to the exercise."""


def fail(message: str) -> NoReturn:
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


def constant_factor(out, ref: torch.Tensor) -> float | None:
    """c when out is c times ref, for one number c other than 1: a constant went astray
    (a sum for a mean, a quarter for a half). None otherwise.

    >>> constant_factor(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 2.0]))
    2.0
    """
    if not isinstance(out, torch.Tensor) or out.shape != ref.shape or ref.abs().max() == 0:
        return None
    out, ref = out.detach().double(), ref.double()
    c = float((out * ref).sum() / (ref * ref).sum())
    if abs(c - 1) > 1e-3 and torch.allclose(out, c * ref, atol=1e-6, rtol=1e-4):
        return round(c, 6)
    return None


def expect_detached(out, what: str, how: str = "Return it detached (.detach()).") -> None:
    """Data handed back to the caller (a copy of weights, a map, a table) must not drag an
    autograd graph along: .numpy() on it raises, and it keeps the graph's memory alive.

    >>> expect_detached(torch.ones(2, requires_grad=True) * 2, "double(x)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.CheckFailed: double(x) is still attached to the autograd graph...
    """
    if isinstance(out, torch.Tensor) and out.requires_grad:
        fail(f"{what} is still attached to the autograd graph (it requires grad): the caller "
             f"gets data, and .numpy() on it raises. {how}")


def describe_warning(w: warnings.WarningMessage) -> str:
    """A caught warning in one line, as the grader and the notebook checks report it.

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("careful")
    >>> describe_warning(caught[0])  # doctest: +ELLIPSIS
    'UserWarning: careful (line ... of ...)'
    """
    if issubclass(w.category, guard.LearnerWarning):  # passed on by a check: described already
        return str(w.message)
    return (f"{w.category.__name__}: {str(w.message).splitlines()[0]} "
            f"(line {w.lineno} of {os.path.basename(w.filename)})")


def outcome(body: Callable, fn: Callable) -> tuple[str, str]:
    """Run a check; return (status, message). Status: passed, not attempted, failed, or
    too slow. A warning the learner's code raised is named in the message of a passed
    check; one the check raised itself is not.

    >>> outcome(lambda fn: fn(), lambda: None)
    ('passed', 'all checks passed')
    >>> outcome(lambda fn: fn(), lambda: warnings.warn("careful"))  # doctest: +ELLIPSIS
    ('passed', 'all checks passed, but your code warned: UserWarning: careful (line ...)')
    >>> def learner():
    ...     return 1
    >>> outcome(lambda fn: (fn(), warnings.warn("the check's own")), learner)
    ('passed', 'all checks passed')
    """
    files = guard.source_files(fn)
    try:
        with guard.learner_warnings(files) as caught:
            body(fn)
    except NotImplementedError:
        return "not attempted", "the function still raises NotImplementedError"
    except TooSlow as e:
        return "too slow", str(e)
    except CheckFailed as e:
        return "failed", str(e)
    except Exception as e:  # learner code raised: say where, briefly (their line if we can)
        frames = traceback.extract_tb(e.__traceback__)
        frame = next((f for f in reversed(frames) if f.filename in files), frames[-1])
        return "failed", (f"your code raised {type(e).__name__}: {e} "
                          f"(line {frame.lineno} of {frame.filename.split('/')[-1]})")
    if caught:
        return "passed", f"all checks passed, but your code warned: {describe_warning(caught[0])}"
    return "passed", "all checks passed"


# --- the registry: each check knows its exercise -------------------------------------------

REGISTRY: dict[str, dict[str, Callable]] = {}  # check module -> exercise -> check


def check(exercise: str, *, points: int | None = None, twins: Sequence[str] = ()) -> Callable:
    """Turn a check body (raises CheckFailed) into a notebook-friendly check, and register
    it: the grader grades `exercise` with it, for `points` (default: the exercise's
    difficulty). `twins`: dotted names of the library's own versions of the exercise,
    besides the function or class of the same name, which are unavailable while the
    learner's code runs.

    Calling the result prints the outcome and returns True when it passed;
    `.strict(fn)` runs the body and raises, for the grader: a warning the learner's code
    raised is passed on as a `guard.LearnerWarning`.
    """

    def wrap(body: Callable) -> Callable:
        def strict(fn: Callable) -> None:
            found = guard.find_twins(exercise, twins)
            same = guard.same_as_twin(fn, found)
            if same is not None:
                how = "subclasses" if inspect.isclass(fn) else "is"
                raise TwinUsed(f"your {exercise} {how} the library's {guard.display(same)}: this "
                               "exercise asks you to write it yourself.")
            caught: list = []
            try:
                with guard.learner_warnings(guard.source_files(fn)) as caught:
                    body(guard.wrap(fn, guard.Guard(exercise, found)))
            finally:
                for w in caught[:1]:
                    warnings.warn_explicit(describe_warning(w), guard.LearnerWarning,
                                           w.filename, w.lineno)

        @functools.wraps(body)
        def friendly(fn: Callable) -> bool:
            status, message = outcome(strict, fn)
            mark = {"passed": "\u2714", "not attempted": "\u2026"}.get(status, "\u2718")
            quiet = status == "passed" and message == "all checks passed"
            print(f"{mark} {exercise}: {status}" + ("" if quiet else f": {message}"))
            return status == "passed"

        friendly.strict = strict
        friendly.exercise = exercise
        friendly.points = points
        REGISTRY.setdefault(body.__module__, {})[exercise] = friendly
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
    trainable: list[bool]


def _model_state(model: nn.Module) -> _ModelState:
    return _ModelState(
        [f"{name}: {type(m).__name__}" for name, m in model.named_modules()],
        [p.detach().clone() for p in model.parameters()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [m.training for m in model.modules()],
        [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
         + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
    )


INPUT_GRADIENT = "Use torch.autograd.grad(score, x) to get the gradient of the input alone."


def _check_model(before: _ModelState, model: nn.Module, what: str, gradients: str) -> None:
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
             f"stores a gradient in every weight, and they add up call after call. {gradients}")
    if any(not torch.equal(a, p.detach()) for a, p in zip(before.params, model.parameters())):
        fail(f"{what} changed the model's weights: it must only read them.")
    if after.trainable != before.trainable:
        fail(f"{what} switched requires_grad on the model's weights and left it so: the caller "
             "can no longer train (or take gradients through) the model as before. Leave "
             "requires_grad as you found it: torch.no_grad() or torch.autograd.grad(score, x) "
             "give what you need without touching the weights.")
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


def call(fn: Callable, *args, what: str, learns: tuple[nn.Module, ...] = (),
         gradients: str = INPUT_GRADIENT, **kwargs):
    """Call a learner's function and check it had no side effects: the tensors it was
    given are unchanged (values and autograd), and any model it was given has the
    same weights, no new hooks, no gradients left in its parameters (`gradients`: the
    advice for the exercise), and the same train/eval mode (except the modules in
    `learns`, which the function is meant to train). A tensor that requires grad
    handed to numpy gets a plain message. Returns what the function returned.

    >>> call(lambda x: x * 2, torch.ones(2), what="double(x)")
    tensor([2., 2.])
    >>> call(lambda x: x.mul_(2), torch.ones(2), what="double(x)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.CheckFailed: double(x) changed the tensor it was given (argument 1)...
    >>> call(lambda x: x.numpy(), torch.ones(2, requires_grad=True), what="f(x)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.CheckFailed: f(x) called .numpy() on a tensor that requires grad...
    """
    names = [f"argument {i + 1}" for i in range(len(args))] + [f"{k}=" for k in kwargs]
    values = list(args) + list(kwargs.values())
    saved = [(name + path, t, t.detach().clone(), t.requires_grad) for name, v in zip(names, values)
             for path, t in _tensors(v)]
    given = [m for m in values if isinstance(m, nn.Module) and not any(m is x for x in learns)]
    # A model whose output does not depend on its mode is handed over in training mode, so an
    # answer that calls model.eval() and leaves it so is seen (the checks' nets are in eval mode).
    modes = [(m, m.training) for m in given]
    for m in given:
        if not _mode_matters(m):
            m.train()
    try:
        models = [(m, _model_state(m)) for m in given]
        try:
            out = fn(*args, **kwargs)
        except RuntimeError as e:
            if "numpy()" in str(e) and "requires grad" in str(e):
                fail(f"{what} called .numpy() on a tensor that requires grad: tables computed "
                     "from a model often do. Detach before leaving torch: "
                     "t.detach().cpu().numpy().")
            raise
        _check_call(saved, models, what, gradients)
    finally:
        for m, training in modes:
            m.train(training)
    return out


def _mode_matters(model: nn.Module) -> bool:
    """Whether train and eval mode give different outputs (dropout, batch norm)."""
    return any(isinstance(m, hooks.MODE_DEPENDENT) for m in model.modules())


def _check_call(saved, models, what: str, gradients: str) -> None:
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
        _check_model(before, model, what, gradients)


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


# --- cost on the chapter's real sizes: time ------------------------------------------------

class _Overtime(BaseException):
    """Raised inside a learner's code that ran past its allowance (a BaseException, so that
    their `except Exception` does not swallow it)."""


def _cpu_seconds(run: Callable[[], object], number: int, limit: float | None = None
                 ) -> float | None:
    """CPU seconds of `number` calls of run(), or None when it used more than `limit` and was
    stopped. CPU time of this process, so that other programs on a loaded machine do not
    count; garbage collection is off while it is measured, as timeit does."""
    can_stop = (limit is not None and hasattr(signal, "setitimer")
                and threading.current_thread() is threading.main_thread())

    def alarm(signum, frame):
        raise _Overtime

    collecting = gc.isenabled()
    try:
        if can_stop:
            previous = signal.signal(signal.SIGPROF, alarm)
            signal.setitimer(signal.ITIMER_PROF, limit)
        gc.disable()
        try:
            start = time.process_time()
            for _ in range(number):
                run()
            return time.process_time() - start
        finally:
            if can_stop:
                signal.setitimer(signal.ITIMER_PROF, 0)
                signal.signal(signal.SIGPROF, previous)
            if collecting:
                gc.enable()
    except _Overtime:
        return None


def expect_fast(fn: Callable, reference: Callable, *args, what: str, on: str, cause: str,
                ratio: float = 50.0, **kwargs) -> None:
    """Fail (TooSlow) if fn(*args, **kwargs) takes more than `ratio` times the CPU time of
    reference(*args, **kwargs), timed here, in the same process, on the same inputs: the
    chapter's real sizes (`on` names them). The reference's time is the best of three
    runs of enough calls to last 20 ms; the learner's, the better of two runs, each
    stopped once it is hopeless. The message says how much slower, and `cause`, what
    usually makes it so. Code that never returns meets the grader's hard limit instead.

    >>> ref = lambda x: x.sum()
    >>> expect_fast(ref, ref, torch.ones(1000), what="total(x)", on="1000 values", cause="?")
    >>> def loop(x):
    ...     return sum(float(v) for v in x)
    >>> expect_fast(loop, ref, torch.ones(100_000), what="total(x)", on="100000 values",
    ...             cause="a Python loop over the values?")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.TooSlow: total(x) is ...x slower than the reference on 100000 values (...
    """
    def ref_run():
        return reference(*args, **kwargs)

    def run():
        return fn(*args, **kwargs)

    _cpu_seconds(ref_run, 1)  # warms the reference up
    # Enough calls to last 20 ms, counted up rather than scaled from one call: just after a
    # CPU timer was set (a learner's run, stopped once hopeless), the process's CPU clock
    # advances in scheduler ticks, and one short call can read 0 s.
    number = 1
    while _cpu_seconds(ref_run, number) < 0.02:
        number *= 2
    ref = max(min(_cpu_seconds(ref_run, number) for _ in range(3)), 1e-6)
    allowed = ratio * ref
    stop = min(max(3 * allowed, 2.0), 6.0)
    best = math.inf
    for _ in range(2):  # a second try forgives a first call that imported or allocated
        spent = _cpu_seconds(run, number, limit=stop)
        if spent is None:
            raise TooSlow(f"{what} is more than {stop / ref:.0f}x slower than the reference on "
                          f"{on} (stopped after {stop:.1f} s of CPU time; the reference takes "
                          f"{ref:.2g} s): {cause}")
        best = min(best, spent)
        if best <= allowed:
            return
    raise TooSlow(f"{what} is about {best / ref:.0f}x slower than the reference on {on} "
                  f"({best:.2g} s of CPU time against {ref:.2g} s): {cause}")


# --- cost on the chapter's real sizes: memory ----------------------------------------------

SORT_INSTEAD = ("an approach that compares every pair of values needs memory that grows with the "
                "square of their number. Sort instead (argsort), which needs memory in "
                "proportion to the values.")


def expect_bounded_memory(fn: Callable[[], object], *, extra_mb: int, what: str,
                          timeout: float = 60.0, advice: str = SORT_INSTEAD) -> None:
    """Run fn() in a child process whose memory is capped at `extra_mb` MB above what
    it starts with, and fail if it runs out: a way to tell an approach whose memory
    grows with the square of its input from one that grows linearly (`advice` says
    what to do instead). A child still running after `timeout` seconds is stopped and
    passes: slowness is `expect_fast`'s to judge. Where the operating system cannot cap
    memory (not Linux), the check is skipped.

    >>> expect_bounded_memory(lambda: torch.zeros(1000).sum(), extra_mb=200, what="sum")
    """
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/status"):
        return
    import resource

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
             f"extra): {advice}")
