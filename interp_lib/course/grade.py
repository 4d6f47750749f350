"""The autograder: `make grade` (or `make grade CH=0`, or `make grade EX=channel_means`).

Runs the graded tests in tests/graded against your exercises/ (or another
target) and prints one line per exercise: points earned of possible, and a
status in plain words:

- passed
- failed, with the first problem found (no traceback)
- not attempted: the function still raises NotImplementedError
- timed out: your code ran longer than the time limit (an endless loop?)

Prints from your code cost nothing. A warning your code raises costs nothing
either, but is reported under the exercise (it often points at a real
problem: a tensor converted while it still needs a gradient, say). Under the
hood this is pytest with a small plugin that collects the outcomes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import traceback
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from interp_lib.course.checks import CheckFailed, describe_warning
from interp_lib.course.exercises import find_exercise

REPO_ROOT = Path(__file__).resolve().parents[2]
GRADED_DIR = REPO_ROOT / "tests" / "graded"


@dataclass
class Result:
    chapter: int
    chapter_title: str
    exercise: str
    points: int
    earned: int
    status: str  # passed | failed | not attempted | timed out
    message: str = ""
    warning: str = ""  # the first warning the learner's code raised, if any


def _describe(excinfo) -> tuple[str, str]:
    """(status, plain message) for a test's exception."""
    exc = excinfo.value
    if isinstance(exc, NotImplementedError):
        return "not attempted", ""
    if isinstance(exc, CheckFailed):
        return "failed", str(exc)
    text = str(exc)
    if type(exc).__name__ == "Failed" and text.startswith("Timeout"):
        return "timed out", text.split("\n")[0]
    frames = [f for f in traceback.extract_tb(excinfo.tb)
              if "/exercises/" in f.filename or "/solutions/" in f.filename
              or "graded_" in f.filename]
    where = f" (line {frames[-1].lineno} of {Path(frames[-1].filename).name})" if frames else ""
    first = text.strip().split("\n")[0]
    return "failed", f"your code raised {type(exc).__name__}: {first}{where}"


class GradePlugin:
    """Collects one Result per graded test."""

    def __init__(self, exercise: str | None = None) -> None:
        self.results: list[Result] = []
        self._pending: dict[str, Result] = {}
        self.exercise = exercise  # grade only this exercise's tests

    def pytest_collection_modifyitems(self, config, items):
        if self.exercise is None:
            return
        keep = [i for i in items if (m := i.get_closest_marker("graded")) is not None
                and m.kwargs.get("exercise") == self.exercise]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        res = self._pending.get(item.nodeid)
        if caught and res is not None and not res.warning:
            res.warning = describe_warning(caught[0])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        marker = item.get_closest_marker("graded")
        if marker is None:
            return
        if item.nodeid not in self._pending:
            number, title = getattr(item.module, "CHAPTER", (-1, "?"))
            self._pending[item.nodeid] = Result(
                number, title, marker.kwargs["exercise"], marker.kwargs.get("points", 1), 0,
                "passed")
        res = self._pending[item.nodeid]
        if report.failed and res.status == "passed":
            if call.excinfo is None:
                res.status, res.message = "failed", "the test could not run"
            elif report.when == "setup":
                status, msg = _describe(call.excinfo)
                res.status = "failed"
                res.message = f"could not load your module: {msg.removeprefix('your code raised ')}"
            else:
                res.status, res.message = _describe(call.excinfo)
        if report.when == "teardown":
            res.earned = res.points if res.status == "passed" else 0
            self.results.append(self._pending.pop(item.nodeid))


def run(target: str = "exercises", chapter: int | None = None, timeout: float = 60.0,
        exercise: str | None = None) -> list[Result]:
    """Grade `target` (exercises, solutions, or a folder); returns one Result per test.
    `exercise` grades that exercise alone (its chapter's other tests are not run).

    >>> results = run("solutions", exercise="channel_means")  # doctest: +SKIP
    """
    if exercise is not None:
        try:
            module_name, _ = find_exercise(exercise)
        except KeyError as e:
            raise SystemExit(str(e).strip('"')) from None
        chapter = int(module_name[2:4])
    if chapter is None:
        paths = [str(GRADED_DIR)]
    else:
        paths = [str(p) for p in sorted(GRADED_DIR.glob(f"test_ch{chapter:02d}*.py"))]
        if not paths:
            available = sorted(int(p.stem[7:9]) for p in GRADED_DIR.glob("test_ch*.py"))
            raise SystemExit(f"no graded exercises for chapter {chapter}; chapters: {available}")
    plugin = GradePlugin(exercise)
    args = [*paths, "--target", target, "-q", "-p", "no:cacheprovider",
            "-p", "no:warnings", f"--timeout={timeout}", "-o", "timeout_method=signal",
            "--rootdir", str(REPO_ROOT), "-c", str(REPO_ROOT / "pyproject.toml")]
    # pytest's own report (and pytest-timeout's stack dumps) are not for learners.
    with contextlib.redirect_stdout(io.StringIO()):
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
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per test")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    results = run(args.target, args.chapter, args.timeout, args.exercise)
    print(table(results, args.target))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
