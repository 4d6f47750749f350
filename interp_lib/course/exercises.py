"""Course machinery: exercise metadata, and exercises generated from solutions.

One source per chapter: `solutions/chNN_topic.py` holds the reference code,
with every answer between two marker comments:

    @exercise(difficulty=1, importance=3, minutes=10, hints=["...", "..."])
    def channel_means(acts):
        \"\"\"Docstring with shapes.\"\"\"
        # SOLUTION
        return acts.mean(dim=(0, 2, 3))
        # END SOLUTION

`make exercises` writes `exercises/chNN_topic.py`, the same file with each
marked region replaced by `raise NotImplementedError` and the hints taken out
of the decorator (hints often contain the answer line: the learner asks for
them one at a time, with `make hint EX=channel_means N=1`, or opens them
folded in the book). The book's exercise boxes are generated from the
solutions too, never read from the learner's files, so they show the stub
whatever the learner has written.

A function written in a notebook cell moves into the exercise file with
`save_answer(fn)`, so that `make grade` grades it.
"""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTION_START = "# SOLUTION"
SOLUTION_END = "# END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: replace this line with your code.")'
HEADER = ("# Your exercises. Generated from solutions/{name} by `make exercises`:\n"
          "# write your code where it says NotImplementedError, then run `make grade`.\n"
          "# Hints, one at a time: `make hint EX=<exercise name> N=1`.\n")


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
    """Mark a function as an exercise. The function itself is returned unchanged.

    >>> @exercise(difficulty=1, importance=2, minutes=5, hints=["Think of the mean."])
    ... def f(x):
    ...     return x
    >>> f.__exercise__.minutes, f(3)
    (5, 3)
    """
    for label, value in (("difficulty", difficulty), ("importance", importance)):
        if value not in (1, 2, 3):
            raise ValueError(f"{label} is rated 1, 2 or 3, got {value}")

    def mark(fn: Callable) -> Callable:
        fn.__exercise__ = Exercise(fn.__name__, difficulty, importance, minutes,
                                   tuple(hints or ()))
        return fn

    return mark


# --- generating exercises from solutions ------------------------------------------------

def _hint_spans(source: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the `hints=[...]` argument (with its leading
    comma) of every @exercise(...) decorator in the source."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:
        # ast counts columns in UTF-8 bytes; strings index characters.
        return line_starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode())

    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "exercise"):
                continue
            for kw in dec.keywords:
                if kw.arg != "hints":
                    continue
                start = offset(kw.lineno, kw.col_offset)
                end = offset(kw.value.end_lineno, kw.value.end_col_offset)
                # Take the comma and spaces before the keyword with it.
                while start > 0 and source[start - 1] in " \n,":
                    start -= 1
                spans.append((start, end))
    return sorted(spans)


def strip_hints(source: str) -> str:
    """Remove the `hints=[...]` argument of every @exercise(...) decorator.

    >>> strip_hints('@exercise(difficulty=1, importance=1, minutes=1, hints=["h"])\\ndef f():\\n    pass\\n')
    '@exercise(difficulty=1, importance=1, minutes=1)\\ndef f():\\n    pass\\n'
    """
    for start, end in reversed(_hint_spans(source)):
        source = source[:start] + source[end:]
    return source


def strip_solutions(source: str, filename: str = "<source>") -> str:
    """Replace every SOLUTION ... END SOLUTION region with a NotImplementedError stub.

    >>> print(strip_solutions("def f(x):\\n    # SOLUTION\\n    return x\\n    # END SOLUTION\\n"))
    def f(x):
        raise NotImplementedError("Exercise: replace this line with your code.")
    <BLANKLINE>
    """
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


def stub_source(source: str, filename: str = "<source>") -> str:
    """What the learner gets: solutions stripped, hints removed.

    >>> src = '@exercise(difficulty=1, importance=1, minutes=1, hints=["use x"])\\ndef f(x):\\n'
    >>> src += '    # SOLUTION\\n    return x\\n    # END SOLUTION\\n'
    >>> "use x" in stub_source(src), "NotImplementedError" in stub_source(src)
    (False, True)
    """
    return strip_hints(strip_solutions(source, filename))


def exercise_files(root: Path = REPO_ROOT) -> dict[str, str]:
    """File name -> the text of the untouched exercise file, for every chapter in solutions/.

    >>> "ch00_organism.py" in exercise_files()
    True
    """
    files = {}
    for src in sorted((root / "solutions").glob("ch*.py")):
        files[src.name] = HEADER.format(name=src.name) + stub_source(src.read_text(), str(src))
    init = root / "solutions" / "__init__.py"
    if init.exists():
        files["__init__.py"] = init.read_text()
    return files


def write_stubs(folder: Path, root: Path = REPO_ROOT) -> list[Path]:
    """Write the untouched exercise files into `folder`. Returns the files that changed.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     "ch00_organism.py" in [p.name for p in write_stubs(Path(d))]
    True
    """
    changed = []
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in exercise_files(root).items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def make_exercises(root: Path = REPO_ROOT) -> list[Path]:
    """Write exercises/ from solutions/ (course authors only: it overwrites answers).

    >>> make_exercises  # doctest: +ELLIPSIS
    <function make_exercises at ...>
    """
    return write_stubs(root / "exercises", root)


def out_of_sync(root: Path = REPO_ROOT) -> list[Path]:
    """exercises/ files that differ from what solutions/ generates (a check for the
    course's own repository; a learner's answers are meant to differ).

    >>> isinstance(out_of_sync(), list)
    True
    """
    return [root / "exercises" / name for name, text in exercise_files(root).items()
            if not (root / "exercises" / name).exists()
            or (root / "exercises" / name).read_text() != text]


# --- reading exercises ------------------------------------------------------------------

def ensure_importable(root: Path = REPO_ROOT) -> None:
    """Make `solutions` and `exercises` importable (they live beside the package).

    >>> ensure_importable(); str(REPO_ROOT) in sys.path
    True
    """
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def exercises_of(module_name: str) -> list[Exercise]:
    """The exercises of a chapter module (for example "ch00_organism"), in file order.

    >>> [e.name for e in exercises_of("ch00_organism")]
    ['channel_means', 'top_activating', 'peak_to_mean']
    """
    ensure_importable()
    mod = importlib.import_module(f"solutions.{module_name}")
    found = [obj for obj in vars(mod).values() if hasattr(obj, "__exercise__")]
    found.sort(key=lambda f: inspect.getsourcelines(f)[1])
    return [f.__exercise__ for f in found]


def find_exercise(name: str) -> tuple[str, Exercise]:
    """(chapter module, Exercise) for an exercise name; a plain error listing them if unknown.

    >>> find_exercise("peak_to_mean")[0]
    'ch00_organism'
    """
    every = {e.name: (m, e) for m in chapter_modules() for e in exercises_of(m)}
    if name not in every:
        import difflib
        close = difflib.get_close_matches(name, list(every), n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise KeyError(f"no exercise called {name!r}.{hint} Exercises: {', '.join(every)}")
    return every[name]


def chapter_modules(root: Path = REPO_ROOT) -> list[str]:
    """The chapter modules that have exercises, in order.

    >>> chapter_modules()[0]
    'ch00_organism'
    """
    return sorted(p.stem for p in (root / "solutions").glob("ch*.py"))


def _function_source(module_name: str, name: str, *, solution: bool) -> str:
    """A function's source from solutions/, as the solution or as the learner's stub,
    without its @exercise decorator (the box shows the metadata itself)."""
    src = (REPO_ROOT / "solutions" / f"{module_name}.py").read_text()
    tree = ast.parse(src)
    fn = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
              and n.name == name)
    lines = src.splitlines(keepends=True)
    first = min([fn.lineno] + [d.lineno for d in fn.decorator_list
                               if not (isinstance(d, ast.Call)
                                       and getattr(d.func, "id", "") == "exercise")])
    decorator_lines = {i for d in fn.decorator_list
                       if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "exercise"
                       for i in range(d.lineno - 1, d.end_lineno)}
    end = _end_with_trailing_comments(lines, fn.end_lineno)
    body = "".join(line for i, line in enumerate(lines[first - 1:end], start=first - 1)
                   if i not in decorator_lines)
    if solution:
        return "".join(line for line in body.splitlines(keepends=True)
                       if line.strip() not in (SOLUTION_START, SOLUTION_END))
    return strip_solutions(body)


def _end_with_trailing_comments(lines: list[str], end: int) -> int:
    """A function's last line, counting the indented comments after its last statement
    (ast stops at the statement, before a closing `# END SOLUTION`)."""
    while end < len(lines) and lines[end].startswith((" ", "\t")) and lines[end].strip().startswith("#"):
        end += 1
    return end


def _code_html(code: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
        return highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True,
                                                            style="default"))
    except ImportError:
        return f"<pre>{html.escape(code)}</pre>"


def exercise_html(module_name: str, name: str) -> str:
    """The exercise box: ratings, where to write it, the stub; hints and solution collapsed.

    >>> box = exercise_html("ch00_organism", "channel_means")
    >>> "NotImplementedError" in box.split("<details>")[0]
    True
    """
    ex = {e.name: e for e in exercises_of(module_name)}[name]
    parts = [
        '<div class="exercise-box" style="border-left:4px solid #4a7bd0;padding:0.4em 1em;'
        'margin:0.8em 0">',
        f"<p><b>Exercise: <code>{name}</code></b> &nbsp; "
        f"difficulty {ex.stars(ex.difficulty)} &nbsp; importance {ex.stars(ex.importance)}"
        f" &nbsp; about {ex.minutes} minutes</p>",
        f"<p>Write it in a cell below and run its check, then save it to "
        f"<code>exercises/{module_name}.py</code> with <code>save_answer({name})</code> "
        f"(or write it there directly) and run <code>make grade</code>: the check in the "
        f"notebook only tells you; the grader records your points. The stub:</p>",
        _code_html(_function_source(module_name, name, solution=False)),
    ]
    for i, hint in enumerate(ex.hints, start=1):
        parts.append(f"<details><summary>Hint {i}</summary><p>{html.escape(hint)}</p></details>")
    parts.append("<details><summary>Solution</summary>"
                 + _code_html(_function_source(module_name, name, solution=True)) + "</details>")
    parts.append("</div>")
    return "\n".join(parts)


class _HTML:
    """Rich display without importing IPython at module import time."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return "(an exercise box: shown as HTML in a notebook)"


def show_exercise(module_name: str, name: str) -> _HTML:
    """Display an exercise box in a notebook: `show_exercise("ch00_organism", "channel_means")`.

    >>> show_exercise("ch00_organism", "channel_means")
    (an exercise box: shown as HTML in a notebook)
    """
    return _HTML(exercise_html(module_name, name))


def hint(name: str, n: int = 1) -> str:
    """Hint n (from 1) of an exercise, with how many there are.

    >>> hint("channel_means", 1).startswith("Hint 1 of 2")
    True
    """
    _, ex = find_exercise(name)
    if not ex.hints:
        return f"{name} has no hints."
    if not 1 <= n <= len(ex.hints):
        raise ValueError(f"{name} has hints 1 to {len(ex.hints)}; you asked for {n}")
    return f"Hint {n} of {len(ex.hints)} for {name}: {ex.hints[n - 1]}"


def save_answer(fn: Callable, *, root: Path = REPO_ROOT) -> Path:
    """Write a function you wrote in a notebook into its exercise file, replacing the
    version there, so that `make grade` grades it. Returns the file written.

    The function must have the exercise's name; its source is taken with
    `inspect.getsource` (which works for functions defined in notebook cells).

    >>> save_answer(channel_means)  # doctest: +SKIP
    PosixPath('.../exercises/ch00_organism.py')
    """
    name = fn.__name__
    module_name, _ = find_exercise(name)
    path = root / "exercises" / f"{module_name}.py"
    if not path.exists():
        write_stubs(root / "exercises", root)
    new = textwrap.dedent(inspect.getsource(fn))
    new_tree = ast.parse(new)
    new_fn = new_tree.body[0]
    if new_fn.decorator_list:  # keep the file's own decorator, drop the notebook's
        new = "".join(new.splitlines(keepends=True)[new_fn.lineno - 1:])
    text = path.read_text()
    tree = ast.parse(text)
    old = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                and n.name == name), None)
    if old is None:
        raise KeyError(f"{path} has no function {name!r} to replace: run `make exercises` to "
                       "restore the file")
    lines = text.splitlines(keepends=True)
    end = _end_with_trailing_comments(lines, old.end_lineno)
    updated = "".join(lines[:old.lineno - 1]) + new.rstrip("\n") + "\n" + "".join(lines[end:])
    path.write_text(updated)
    return path
