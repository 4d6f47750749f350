"""What runs around a learner's function while a check grades it.

Two things set the learner's code apart from the check's own:

- **The library's twin is unavailable.** The library holds its own answer to
  most exercises (`similarity.linear_cka` for the exercise `linear_cka`). While
  the learner's code runs, every twin raises a plain "write it yourself" error
  (the check's own reference calls, made in between, still work). A twin is found
  by the exercise's name in the library, or named by its check (`twins=`).
- **A warning is the learner's only when their code raised it:** their code is
  on the stack when it is raised, and the warning does not come from the course's
  checks (a check converting its own tensor to a float is not the learner's).

`checks.check` uses both; a learner meets them only through the checks' messages.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

COURSE_DIR = str(Path(__file__).resolve().parent)
_AS_ERRORS = [False]  # set by `warnings_as_errors`, for the grader's self-test


class LearnerWarning(UserWarning):
    """A warning the learner's code raised, passed on by a check to the grader; its
    message is the original warning described in one line."""


# --- the library's twin of an exercise ----------------------------------------------------

def display(obj: object) -> str:
    """A library object's name as a learner writes it: the shortest module path that
    holds it, by its last part (`similarity.linear_cka`, `objectives.neuron`).

    >>> from interp_lib import similarity
    >>> from interp_lib.optvis import objectives
    >>> display(similarity.linear_cka), display(objectives.neuron)
    ('similarity.linear_cka', 'objectives.neuron')
    """
    obj = getattr(obj, "fget", obj)  # a property
    top, name = obj.__qualname__.split(".")[0], obj.__qualname__
    parts = obj.__module__.split(".")
    for i in range(2, len(parts) + 1):
        if getattr(sys.modules.get(".".join(parts[:i])), top, None) is not None:
            return f"{parts[i - 1]}.{name}"
    return name


def _resolve(dotted: str) -> object:
    module, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError:  # a method: interp_lib.superposition.ToyModel.forward
        return getattr(_resolve(module), attr)


def find_twins(exercise: str, named: Sequence[str] = ()) -> list[object]:
    """The library's own implementations of an exercise: the dotted names given, and the
    function or class of that name in any interp_lib module imported so far.

    >>> from interp_lib import similarity
    >>> find_twins("linear_cka") == [similarity.linear_cka]
    True
    >>> [display(t) for t in find_twins("kernel_between", ["interp_lib.circuits.weights"])]
    ['circuits.weights']
    """
    found = [_resolve(name) for name in named]
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith("interp_lib.") or mod_name.startswith("interp_lib.course"):
            continue
        obj = getattr(mod, exercise, None)
        if ((inspect.isfunction(obj) or inspect.isclass(obj))
                and obj.__module__.startswith("interp_lib.") and not any(obj is f for f in found)):
            found.append(obj)
    return found


def same_as_twin(fn: object, twins: Sequence[object]) -> object | None:
    """The twin the learner's answer simply is (or, for a class, subclasses), if any.

    >>> from interp_lib import similarity
    >>> answer = similarity.linear_cka  # a learner's "answer" that hands back the library's
    >>> display(same_as_twin(answer, [similarity.linear_cka]))
    'similarity.linear_cka'
    >>> same_as_twin(lambda x, y: 0.0, [similarity.linear_cka]) is None
    True
    """
    for twin in twins:
        if inspect.isclass(fn) and inspect.isclass(twin) and issubclass(fn, twin):
            return twin
        if callable(fn) and callable(twin) and inspect.unwrap(fn) is inspect.unwrap(twin):
            return twin
    return None


def _functions(twin: object) -> list[Callable]:
    """The Python functions whose code runs when a twin is used: the function itself (under
    its decorators), or a class's own methods."""
    if inspect.isclass(twin):  # its methods, and those it inherits from the library
        return [f for klass in twin.__mro__ if klass.__module__.startswith("interp_lib.")
                for name, f in vars(klass).items()
                if inspect.isfunction(f) and not name.startswith("__")]
    if isinstance(twin, property):
        return [twin.fget]
    inner = inspect.unwrap(twin)
    return [inner] if inspect.isfunction(inner) else []


def _raiser(fn: Callable, message: str):
    """A code object that fits `fn` (the same free variables) and raises TwinUsed(message).
    Swapping a function's code, rather than its name in a module, reaches every way to
    it: `from interp_lib.similarity import linear_cka`, an alias, a library function
    that calls it."""
    n = len(fn.__code__.co_freevars)
    name = fn.__code__.co_name if fn.__code__.co_name.isidentifier() else "twin"
    cells = "".join(f"    _c{i} = None\n" for i in range(n))
    touch = f"        ({''.join(f'_c{i}, ' for i in range(n))})\n" if n else ""
    source = (f"def _outer():\n{cells}    def {name}(*args, **kwargs):\n{touch}"
              "        raise __import__('interp_lib.course.checks', fromlist=['TwinUsed'])"
              f".TwinUsed({message!r})\n    return {name}\n")
    namespace: dict = {}
    exec(compile(source, fn.__code__.co_filename, "exec"), namespace)
    return namespace["_outer"]().__code__


class Guard:
    """A context, entered whenever the learner's code starts running (nested entries
    count once), inside which every twin raises.

    >>> import torch
    >>> from interp_lib import similarity
    >>> x = torch.randn(5, 3)
    >>> with Guard("linear_cka", [similarity.linear_cka]):
    ...     similarity.linear_cka(x, x)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.TwinUsed: your code calls similarity.linear_cka, ...
    >>> round(similarity.linear_cka(x, x), 4)  # available again once the learner's code returns
    1.0
    """

    def __init__(self, exercise: str, twins: Sequence[object]):
        self._swaps = []
        for twin in twins:
            message = (f"your code calls {display(twin)}, the library's own {exercise}: this "
                       f"exercise asks you to write it yourself (the library's version is "
                       "unavailable while your code is graded).")
            self._swaps += [(f, f.__code__, _raiser(f, message)) for f in _functions(twin)]
        self._depth = 0

    def __enter__(self) -> Guard:
        if self._depth == 0:
            for f, _, raiser in self._swaps:
                f.__code__ = raiser
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            for f, code, _ in self._swaps:
                f.__code__ = code


class _GuardedContext:
    """A learner's context manager whose entry and exit run under the guard."""

    def __init__(self, cm, guard: Guard):
        self._cm, self._guard = cm, guard

    def __enter__(self):
        with self._guard:
            return self._cm.__enter__()

    def __exit__(self, *exc):
        with self._guard:
            return self._cm.__exit__(*exc)


def _guarded(fn: Callable, guard: Guard) -> Callable:
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with guard:
            out = fn(*args, **kwargs)
        if isinstance(out, contextlib.AbstractContextManager):  # a @contextmanager answer
            return _GuardedContext(out, guard)
        return out

    return run


def wrap(fn: Callable, guard: Guard) -> Callable:
    """The learner's function (or class: its __init__ and forward) run under `guard`.

    >>> import torch
    >>> from interp_lib import similarity
    >>> def learner_cka(a, b):  # leans on the library's own answer
    ...     return similarity.linear_cka(a, b)
    >>> guarded = wrap(learner_cka, Guard("linear_cka", [similarity.linear_cka]))
    >>> guarded(torch.randn(5, 3), torch.randn(5, 3))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interp_lib.course.checks.TwinUsed: your code calls similarity.linear_cka, ...
    """
    if not inspect.isclass(fn):
        return _guarded(fn, guard)
    methods = {name: _guarded(getattr(fn, name), guard) for name in ("__init__", "forward")
               if inspect.isfunction(getattr(fn, name, None))}
    return type(fn.__name__, (fn,), {**methods, "__module__": fn.__module__,
                                     "__qualname__": fn.__qualname__, "__doc__": fn.__doc__})


# --- whose warning is it? ------------------------------------------------------------------

def source_files(fn: object) -> set[str]:
    """The files the learner's code lives in: the function's own (under decorators), or
    those of a class's methods.

    >>> def f(x):
    ...     return x
    >>> source_files(f) == {f.__code__.co_filename}
    True
    """
    objs = [fn, *vars(fn).values()] if inspect.isclass(fn) else [fn]
    files = set()
    for obj in objs:
        obj = getattr(obj, "func", obj)  # functools.partial
        code = getattr(inspect.unwrap(obj) if callable(obj) else obj, "__code__", None)
        if code is not None:
            files.add(code.co_filename)
    return files


def _learner_frame(files: set[str]):
    """The innermost frame of the learner's code on the stack, or None."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename not in files:
        frame = frame.f_back
    return frame


def _check_module(filename: str) -> bool:
    """A chapter's checks (interp_lib/course/chNN.py): where a check's own code warns."""
    path = Path(filename)
    return str(path.parent) == COURSE_DIR and re.fullmatch(r"ch\d\d\.py", path.name) is not None


@contextlib.contextmanager
def learner_warnings(files: set[str]) -> Iterator[list[warnings.WarningMessage]]:
    """Collect the warnings the learner's code raises inside the block: those raised while
    it is on the stack, and not by a check's own code (a callback the check handed over);
    others are dropped. A warning raised inside a library the learner called is placed at
    the learner's line that called it. Under `warnings_as_errors` every warning raises
    instead.

    >>> def learner():
    ...     warnings.warn("mine")
    >>> with learner_warnings(source_files(learner)) as caught:
    ...     learner()
    ...     warnings.warn("the check's own")
    >>> [str(w.message) for w in caught]
    ['mine']
    """
    caught: list[warnings.WarningMessage] = []
    with warnings.catch_warnings():
        if _AS_ERRORS[0]:
            warnings.simplefilter("error")
        else:
            warnings.simplefilter("always")

            def show(message, category, filename, lineno, file=None, line=None):
                if issubclass(category, LearnerWarning):
                    caught.append(warnings.WarningMessage(message, category, filename, lineno))
                    return
                frame = _learner_frame(files)
                if frame is not None and not _check_module(filename):
                    if filename not in files:
                        filename, lineno = frame.f_code.co_filename, frame.f_lineno
                    caught.append(warnings.WarningMessage(message, category, filename, lineno))

            warnings.showwarning = show
        yield caught


@contextlib.contextmanager
def warnings_as_errors() -> Iterator[None]:
    """Within the block, a warning raised during a check is an error, whoever raised it:
    the self-test that the checks do not warn on the reference solutions.

    >>> def learner():
    ...     warnings.warn("careless")
    >>> with warnings_as_errors(), learner_warnings(source_files(learner)):
    ...     learner()
    Traceback (most recent call last):
    ...
    UserWarning: careless
    """
    before = _AS_ERRORS[0]
    _AS_ERRORS[0] = True
    try:
        yield
    finally:
        _AS_ERRORS[0] = before
