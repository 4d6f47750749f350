"""Checks for the course's exercises, usable from a notebook and by the grader.

In a notebook, call a check on the function you just wrote:

    from interp_lib.course.ch00 import check_channel_means
    check_channel_means(channel_means)      # prints what passed, or the first problem

The grader (`make grade`) runs the same checks through `check.strict`, which
raises `CheckFailed` instead of printing. A check compares your function with
a reference on seeded random inputs and tests properties; its messages name
the likely mistake.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable

import torch


class CheckFailed(AssertionError):
    """A check found a problem; the message says what, in plain words."""


def fail(message: str) -> None:
    raise CheckFailed(message)


def expect_shape(out, shape: tuple[int, ...], what: str = "your result") -> None:
    if not isinstance(out, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        fail(f"{what} has shape {tuple(out.shape)}, expected {tuple(shape)}")


def expect_close(out, ref: torch.Tensor, hint: str, what: str = "your result",
                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    expect_shape(out, tuple(ref.shape), what)
    out = out.detach().to(ref.dtype)
    if not torch.allclose(out, ref, rtol=rtol, atol=atol, equal_nan=False):
        worst = (out - ref).abs().max().item()
        fail(f"{what} differs from the reference (largest difference {worst:.3g}). {hint}")


def outcome(body: Callable, fn: Callable) -> tuple[str, str]:
    """Run a check; return (status, message). Status: passed, not attempted, failed."""
    try:
        body(fn)
    except NotImplementedError:
        return "not attempted", "the function still raises NotImplementedError"
    except CheckFailed as e:
        return "failed", str(e)
    except Exception as e:  # learner code raised: say where, briefly
        frame = traceback.extract_tb(e.__traceback__)[-1]
        return "failed", (f"your code raised {type(e).__name__}: {e} "
                          f"(line {frame.lineno} of {frame.filename.split('/')[-1]})")
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
            print(f"{mark} {exercise}: {status}" + ("" if status == "passed" else f": {message}"))
            return status == "passed"

        friendly.strict = body
        friendly.exercise = exercise
        return friendly

    return wrap
