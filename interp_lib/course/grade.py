"""The autograder: `make grade` (or `make grade CH=0`, or `make grade EX=channel_means`).

Grades your exercises/ (or another target) with the checks of every chapter
and prints one line per exercise: points earned of possible, and a status in
plain words:

- passed
- failed, with the first problem found (no traceback)
- too slow: right answers, but far slower than the reference on the chapter's
  real sizes (timed in the same run), with how much slower and the usual cause
- not attempted: the function still raises NotImplementedError
- timed out: your code ran past the hard limit and was stopped (an endless loop?)

Prints from your code cost nothing. A warning your code raises costs nothing
either, but is reported under the exercise (it often points at a real
problem: a tensor converted while it still needs a gradient, say); a warning
raised by the checks themselves is not yours and is not reported. Under the
hood this is pytest, running the tests tests/graded generates from the
registry of checks, with a small plugin that collects the outcomes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from interp_lib.course import checks, exercises, guard
from interp_lib.course.checks import CheckFailed, TooSlow, describe_warning

REPO_ROOT = Path(__file__).resolve().parents[2]
GRADED_DIR = REPO_ROOT / "tests" / "graded"


@dataclass(frozen=True)
class Graded:
    """One exercise as the registry of checks knows it: what a graded test is made from."""

    chapter: int
    title: str
    module: str  # the exercise file's name without .py: "ch04_circuits"
    exercise: str
    points: int
    check: Callable | None  # None when the chapter's checks do not import
    problem: str = ""  # why they do not


def _title(mod) -> str:
    """A chapter's title: its checks' TITLE, or read from their docstring's first line."""
    first = (mod.__doc__ or "").strip().split("\n")[0]
    found = re.search(r"chapter \d+, (.+?)\.?$", first)
    title = getattr(mod, "TITLE", None) or (found.group(1) if found else mod.__name__)
    return title[:1].upper() + title[1:]


def graded_exercises() -> list[Graded]:
    """Every registered check, chapter by chapter in file order: each chapter module
    solutions/chNN_*.py is graded by the checks in interp_lib/course/chNN.py, a check
    for each exercise (`@check("name", points=...)`; points default to the exercise's
    difficulty). A new exercise needs its check and nothing else.

    >>> [g.exercise for g in graded_exercises() if g.chapter == 0]
    ['channel_means', 'top_activating', 'peak_to_mean']
    """
    found = []
    for stem in exercises.chapter_modules():
        number, name = int(stem[2:4]), f"interp_lib.course.ch{stem[2:4]}"
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a chapter whose checks are not written yet
                continue
            raise
        except Exception as e:  # a broken check module fails its own chapter only
            found.append(Graded(number, f"Chapter {number}", stem, f"chapter {number}'s checks",
                                0, None, f"{type(e).__name__}: {e}"))
            continue
        registered = checks.REGISTRY.get(name, {})
        difficulty = {}
        if any(c.points is None for c in registered.values()):
            difficulty = {e.name: e.difficulty for e in exercises.exercises_of(stem)}
        found += [Graded(number, _title(mod), stem, ex, c.points or difficulty.get(ex, 1), c)
                  for ex, c in registered.items()]
    return found


@dataclass
class Result:
    chapter: int
    chapter_title: str
    exercise: str
    points: int
    earned: int
    status: str  # passed | failed | too slow | not attempted | timed out
    message: str = ""
    warning: str = ""  # the first warning the learner's code raised, if any


def _describe(excinfo, timeout: float) -> tuple[str, str]:
    """(status, plain message) for a test's exception."""
    exc = excinfo.value
    if isinstance(exc, NotImplementedError):
        return "not attempted", ""
    if isinstance(exc, TooSlow):
        return "too slow", str(exc)
    if isinstance(exc, CheckFailed):
        return "failed", str(exc)
    text = str(exc)
    if type(exc).__name__ == "Failed" and text.startswith("Timeout"):
        return "timed out", (f"still running after the hard limit of {timeout:g} s, and stopped: "
                             "an endless loop, or a wait that never ends? (Code that is only "
                             "slow is timed against the reference and told how much slower.)")
    frames = [f for f in traceback.extract_tb(excinfo.tb)
              if "/exercises/" in f.filename or "/solutions/" in f.filename
              or "graded_" in f.filename]
    where = f" (line {frames[-1].lineno} of {Path(frames[-1].filename).name})" if frames else ""
    first = text.strip().split("\n")[0]
    return "failed", f"your code raised {type(exc).__name__}: {first}{where}"


def _chapter(item) -> tuple[int, str]:
    marker = item.get_closest_marker("graded")
    if "chapter" in marker.kwargs:
        return marker.kwargs["chapter"], marker.kwargs.get("title", "?")
    return getattr(item.module, "CHAPTER", (-1, "?"))  # a hand-written graded test file


class GradePlugin:
    """Collects one Result per graded test."""

    def __init__(self, exercise: str | None = None, chapter: int | None = None,
                 timeout: float = 60.0) -> None:
        self.results: list[Result] = []
        self._pending: dict[str, Result] = {}
        self.exercise = exercise  # grade only this exercise's tests
        self.chapter = chapter  # or only this chapter's
        self.timeout = timeout

    def pytest_collection_modifyitems(self, config, items):
        keep = [i for i in items if (m := i.get_closest_marker("graded")) is not None
                and (self.exercise is None or m.kwargs.get("exercise") == self.exercise)
                and (self.chapter is None or _chapter(i)[0] == self.chapter)]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        # Checks pass on the learner's warnings as LearnerWarning; any other is not theirs.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        res = self._pending.get(item.nodeid)
        theirs = [w for w in caught if issubclass(w.category, guard.LearnerWarning)]
        if theirs and res is not None and not res.warning:
            res.warning = describe_warning(theirs[0])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        marker = item.get_closest_marker("graded")
        if marker is None:
            return
        if item.nodeid not in self._pending:
            number, title = _chapter(item)
            self._pending[item.nodeid] = Result(
                number, title, marker.kwargs["exercise"], marker.kwargs.get("points", 1), 0,
                "passed")
        res = self._pending[item.nodeid]
        if report.failed and res.status == "passed":
            if call.excinfo is None:
                res.status, res.message = "failed", "the test could not run"
            elif report.when == "setup":
                status, msg = _describe(call.excinfo, self.timeout)
                res.status = "failed"
                res.message = f"could not load your module: {msg.removeprefix('your code raised ')}"
            else:
                res.status, res.message = _describe(call.excinfo, self.timeout)
        if report.when == "teardown":
            res.earned = res.points if res.status == "passed" else 0
            self.results.append(self._pending.pop(item.nodeid))


def run(target: str = "exercises", chapter: int | None = None, timeout: float = 60.0,
        exercise: str | None = None, *, warnings_as_errors: bool = False) -> list[Result]:
    """Grade `target` (exercises, solutions, or a folder); returns one Result per test.
    `exercise` grades that exercise alone (its chapter's other tests are not run).
    `timeout`: the hard limit per exercise, in seconds. `warnings_as_errors`: any warning
    raised during a check fails it, the learner's or the check's own (the self-test
    that the checks do not warn on the solutions).

    >>> results = run("solutions", exercise="channel_means")  # doctest: +SKIP
    """
    if exercise is not None:
        try:
            module_name, _ = exercises.find_exercise(exercise)
        except KeyError as e:
            raise SystemExit(str(e).strip('"')) from None
        chapter = int(module_name[2:4])
    if chapter is not None:
        available = sorted({g.chapter for g in graded_exercises()}
                           | {int(p.stem[7:9]) for p in GRADED_DIR.glob("test_ch[0-9][0-9]*.py")})
        if chapter not in available:
            raise SystemExit(f"no graded exercises for chapter {chapter}; chapters: {available}")
    plugin = GradePlugin(exercise, chapter, timeout)
    args = [str(GRADED_DIR), "--target", target, "-q", "-p", "no:cacheprovider",
            "-p", "no:warnings", f"--timeout={timeout}", "-o", "timeout_method=signal",
            "--rootdir", str(REPO_ROOT), "-c", str(REPO_ROOT / "pyproject.toml")]
    errors = guard.warnings_as_errors() if warnings_as_errors else contextlib.nullcontext()
    # pytest's own report (and pytest-timeout's stack dumps) are not for learners.
    with contextlib.redirect_stdout(io.StringIO()), errors:
        code = pytest.main(args, plugins=[plugin])
    if code not in (0, 1) and not plugin.results:
        raise SystemExit(f"the grader could not run the tests (pytest exit code {code})")
    return plugin.results
def table(results: list[Result], target: str) -> str:
    """The grader's report: per chapter, each exercise's points and status.

    >>> print(table([Result(0, "The organism", "channel_means", 1, 1, "passed")], "exercises"))
    Grading exercises/
    <BLANKLINE>
    Chapter 0: The organism
      exercise       points  status
      channel_means   1 / 1  passed
    <BLANKLINE>
    Total: 1 / 1 points
    """
    lines = [f"Grading {target}/" if target in ("exercises", "solutions") else f"Grading {target}"]
    by_exercise: dict[tuple, list[Result]] = {}
    for r in results:
        by_exercise.setdefault((r.chapter, r.chapter_title, r.exercise), []).append(r)
    width = max([len(k[2]) for k in by_exercise] + [8])
    chapter = None
    total = earned = 0
    for (number, title, name), rs in sorted(by_exercise.items(), key=lambda kv: kv[0][0]):
        if number != chapter:
            chapter = number
            lines += ["", f"Chapter {number}: {title}", f"  {'exercise':<{width}}  points  status"]
        pts, got = sum(r.points for r in rs), sum(r.earned for r in rs)
        bad = next((r for r in rs if r.status != "passed"), None)
        status = "passed" if bad is None else bad.status
        if bad is not None and bad.message and bad.status != "not attempted":
            status += f": {bad.message}"
        lines.append(f"  {name:<{width}}  {got:>2} / {pts:<2} {status}")
        warned = next((r.warning for r in rs if r.warning), "")
        if warned:
            lines.append(f"  {'':<{width}}          your code warned: {warned}")
        total, earned = total + pts, earned + got
    lines += ["", f"Total: {earned} / {total} points"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp_lib.course grade", description=__doc__)
    parser.add_argument("--chapter", "-c", type=int, default=None, help="grade one chapter")
    parser.add_argument("--exercise", "-e", default=None, help="grade one exercise, by name")
    parser.add_argument("--target", default="exercises",
                        help="exercises (default), solutions, or a folder of chNN_*.py files")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="the hard limit per exercise, in seconds")
    parser.add_argument("--warnings-as-errors", action="store_true",
                        help="fail a check on any warning raised during it (a self-test of the checks)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    results = run(args.target, args.chapter, args.timeout, args.exercise,
                  warnings_as_errors=args.warnings_as_errors)
    print(table(results, args.target))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
