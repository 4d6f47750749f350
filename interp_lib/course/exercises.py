"""Course machinery: exercise metadata, and exercises generated from solutions.

One source per chapter: `solutions/chNN_topic.py` holds the reference code,
with every answer between two marker comments:

    @exercise(difficulty=1, importance=3, minutes=10, hints=["...", "..."])
    def channel_means(acts):
        \"\"\"Docstring with shapes.\"\"\"
        # SOLUTION
        return acts.mean(dim=(0, 2, 3))
        # END SOLUTION

`python -m interp_lib.course.exercises make-exercises` writes `exercises/chNN_topic.py`,
the same file with each marked region replaced by `raise NotImplementedError`.
Signatures, docstrings, metadata and hints stay. The book shows each
exercise's metadata, its hints and its solution (collapsed) from these files,
so the three never drift apart.
"""

from __future__ import annotations

import argparse
import ast
import html
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTION_START = "# SOLUTION"
SOLUTION_END = "# END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: replace this line with your code.")'
HEADER = ("# Your exercises. Generated from solutions/{name} by `make exercises`:\n"
          "# write your code where it says NotImplementedError, then run `make grade`.\n")


@dataclass(frozen=True)
class Exercise:
    """What a learner sees before starting: ratings out of 3, a time estimate, staged hints."""

    name: str
    difficulty: int
    importance: int
    minutes: int
    hints: tuple[str, ...] = field(default_factory=tuple)

    def stars(self, n: int) -> str:
        return "\u2605" * n + "\u2606" * (3 - n)


def exercise(difficulty: int, importance: int, minutes: int, hints: list[str] | None = None
             ) -> Callable:
    """Mark a function as an exercise. The function itself is returned unchanged."""
    for label, value in (("difficulty", difficulty), ("importance", importance)):
        if value not in (1, 2, 3):
            raise ValueError(f"{label} is rated 1, 2 or 3, got {value}")

    def mark(fn: Callable) -> Callable:
        fn.__exercise__ = Exercise(fn.__name__, difficulty, importance, minutes,
                                   tuple(hints or ()))
        return fn

    return mark


# --- generating exercises from solutions ------------------------------------------------

def strip_solutions(source: str, filename: str = "<source>") -> str:
    """Replace every SOLUTION ... END SOLUTION region with a NotImplementedError stub."""
    out: list[str] = []
    inside = False
    for lineno, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == SOLUTION_START:
            if inside:
                raise ValueError(f"{filename}:{lineno}: nested {SOLUTION_START}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{STUB}\n")
        elif marker == SOLUTION_END:
            if not inside:
                raise ValueError(f"{filename}:{lineno}: {SOLUTION_END} without {SOLUTION_START}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{filename}: {SOLUTION_START} is never closed")
    return "".join(out)


def exercise_files(root: Path = REPO_ROOT) -> dict[Path, str]:
    """exercises/ path -> the text it should have, for every chapter in solutions/."""
    files = {}
    for src in sorted((root / "solutions").glob("ch*.py")):
        text = strip_solutions(src.read_text(), str(src))
        files[root / "exercises" / src.name] = HEADER.format(name=src.name) + text
    init = root / "solutions" / "__init__.py"
    if init.exists():
        files[root / "exercises" / "__init__.py"] = init.read_text()
    return files


def make_exercises(root: Path = REPO_ROOT) -> list[Path]:
    """Write exercises/ from solutions/. Returns the files that changed."""
    changed = []
    for path, text in exercise_files(root).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


def out_of_sync(root: Path = REPO_ROOT) -> list[Path]:
    """exercises/ files that differ from what solutions/ generates."""
    return [p for p, text in exercise_files(root).items()
            if not p.exists() or p.read_text() != text]


# --- showing exercises in the book ------------------------------------------------------

def ensure_importable(root: Path = REPO_ROOT) -> None:
    """Make `solutions` and `exercises` importable (they live beside the package)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def exercises_of(module_name: str) -> list[Exercise]:
    """The exercises of a chapter module (for example "ch00_organism"), in file order."""
    ensure_importable()
    mod = importlib.import_module(f"solutions.{module_name}")
    found = [obj for obj in vars(mod).values() if hasattr(obj, "__exercise__")]
    found.sort(key=lambda f: inspect.getsourcelines(f)[1])
    return [f.__exercise__ for f in found]


def _function_source(package: str, module_name: str, name: str) -> str:
    ensure_importable()
    mod = importlib.import_module(f"{package}.{module_name}")
    src = inspect.getsource(getattr(mod, name))
    lines = src.splitlines()
    # Leave out the @exercise(...) decorator: it holds the hints, which stay folded.
    fn = ast.parse(src).body[0]
    hidden = {i for d in fn.decorator_list
              if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "exercise"
              for i in range(d.lineno - 1, d.end_lineno)}
    return "\n".join(line for i, line in enumerate(lines) if i not in hidden
                     and line.strip() not in (SOLUTION_START, SOLUTION_END))


def _code_html(code: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
        return highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
    except ImportError:
        return f"<pre>{html.escape(code)}</pre>"


def exercise_html(module_name: str, name: str) -> str:
    """The exercise box: ratings, where to write it, hints and solution collapsed."""
    ex = {e.name: e for e in exercises_of(module_name)}[name]
    parts = [
        '<div style="border-left:4px solid #4a7bd0;padding:0.4em 1em;margin:0.5em 0;'
        'background:rgba(74,123,208,0.07)">',
        f"<p><b>Exercise: <code>{name}</code></b> &nbsp; "
        f"difficulty {ex.stars(ex.difficulty)} &nbsp; importance {ex.stars(ex.importance)}"
        f" &nbsp; about {ex.minutes} minutes</p>",
        f"<p>Write it in <code>exercises/{module_name}.py</code> (then run "
        f"<code>make grade</code>), or in a cell of this notebook and check it with the "
        f"cell below. The stub to fill in:</p>",
        _code_html(_function_source("exercises", module_name, name)),
    ]
    for i, hint in enumerate(ex.hints, start=1):
        parts.append(f"<details><summary>Hint {i}</summary><p>{html.escape(hint)}</p></details>")
    parts.append("<details><summary>Solution</summary>"
                 + _code_html(_function_source("solutions", module_name, name)) + "</details>")
    parts.append("</div>")
    return "\n".join(parts)


class _HTML:
    """Rich display without importing IPython at module import time."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


def show_exercise(module_name: str, name: str) -> _HTML:
    """Display an exercise box in a notebook: `show_exercise("ch00_organism", "channel_means")`."""
    return _HTML(exercise_html(module_name, name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp_lib.course")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("make-exercises", help="write exercises/ from solutions/")
    sub.add_parser("check", help="fail if exercises/ is out of sync with solutions/")
    args = parser.parse_args(argv)
    if args.command == "make-exercises":
        changed = make_exercises()
        print("\n".join(f"wrote {p.relative_to(REPO_ROOT)}" for p in changed) or "up to date")
        return 0
    stale = out_of_sync()
    for p in stale:
        print(f"out of sync: {p.relative_to(REPO_ROOT)} (run `make exercises`)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
