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
folded in the book). A file that already holds answers is left alone unless
`make exercises FORCE=1`, which copies it into .exercises_backup/ first. The
book's exercise boxes are generated from the solutions too, never read from the
learner's files, so they show the stub whatever the learner has written; they
fold the solution in too, except in the instructors' edition (`make book
SOLUTIONS=0`).

A function, class or @contextmanager function written in a notebook cell moves
into the exercise file with `save_answer(obj)`, so that `make grade` grades it.
"""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import linecache
import os
import shutil
import sys
import textwrap
import time
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


def write_stubs(folder: Path, root: Path = REPO_ROOT, *, skip: set[str] = frozenset()) -> list[Path]:
    """Write the untouched exercise files into `folder`, but for the file names in `skip`.
    Returns the files that changed.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     "ch00_organism.py" in [p.name for p in write_stubs(Path(d))]
    True
    """
    changed = []
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in exercise_files(root).items():
        path = folder / name
        if name not in skip and (not path.exists() or path.read_text() != text):
            path.write_text(text)
            changed.append(path)
    return changed


def answered(text: str, stub: str) -> list[str]:
    """The work a learner has put into an exercise file: the exercises whose stub line
    (`raise NotImplementedError`) is gone, and definitions the stub does not have.
    `text` is the file as it is, `stub` as solutions/ generates it.

    >>> stub = 'def f(x):\\n    ' + STUB + '\\n'
    >>> answered(stub, stub), answered('def f(x):\\n    return x\\n', stub)
    ([], ['f'])
    >>> answered('def f(x):\\n    ' + STUB + '\\n\\ndef helper():\\n    pass\\n', stub)
    ['helper']
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:  # half-written code is work too
        return ["(a file that does not parse)"]
    stubs = {n.name: ast.get_source_segment(stub, n).count(STUB) for n in ast.parse(stub).body
             if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
            and (n.name not in stubs or ast.get_source_segment(text, n).count(STUB) < stubs[n.name])]


@dataclass
class Regenerated:
    """What `make_exercises` did: the files it wrote, the files it left alone because they
    hold answers (with the names of those answers), and where it copied answers first."""

    written: list[Path]
    kept: dict[Path, list[str]]
    backup: Path | None = None


def make_exercises(root: Path = REPO_ROOT, *, force: bool = False) -> Regenerated:
    """Write exercises/ from solutions/ (for course authors). A file that holds a
    learner's answers is left alone unless `force`, and then copied first into
    .exercises_backup/<date-time>/.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     root = Path(d); _ = shutil.copytree(REPO_ROOT / "solutions", root / "solutions")
    ...     _ = make_exercises(root)
    ...     mine = root / "exercises" / "ch00_organism.py"
    ...     _ = mine.write_text(mine.read_text().replace(STUB, "return acts.mean((0, 2, 3))", 1))
    ...     refused, forced = make_exercises(root), make_exercises(root, force=True)
    ...     answer_kept = "acts.mean" in mine.read_text()
    ...     backed_up = "acts.mean" in (forced.backup / mine.name).read_text()
    >>> refused.kept[mine], refused.written, forced.written == [mine], answer_kept, backed_up
    (['channel_means'], [], True, False, True)
    """
    folder = root / "exercises"
    kept, backup = {}, None
    for name, stub in exercise_files(root).items():
        path = folder / name
        if not path.exists() or path.read_text() == stub:
            continue
        work = answered(path.read_text(), stub)
        if work and not force:
            kept[path] = work
        elif work:
            if backup is None:
                backup = root / ".exercises_backup" / time.strftime("%Y-%m-%d_%H%M%S")
                backup.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup / name)
    return Regenerated(write_stubs(folder, root, skip={p.name for p in kept}), kept, backup)


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


# `make book SOLUTIONS=0` sets this to "0": the instructors' edition, without solutions.
SOLUTIONS_ENV = "INTERP_BOOK_SOLUTIONS"


def solutions_shown() -> bool:
    """Whether exercise boxes include the solution: yes (self-study), unless
    INTERP_BOOK_SOLUTIONS=0 (`make book SOLUTIONS=0`, the instructors' edition).

    >>> os.environ[SOLUTIONS_ENV] = "0"; solutions_shown()
    False
    >>> del os.environ[SOLUTIONS_ENV]; solutions_shown()
    True
    """
    return os.environ.get(SOLUTIONS_ENV, "1") != "0"


def exercise_html(module_name: str, name: str, *, solution: bool | None = None) -> str:
    """The exercise box: ratings, where to write it, the stub; each hint folded on its own
    and, where `solution` (default: `solutions_shown()`), the solution folded last.

    >>> box = exercise_html("ch00_organism", "channel_means")
    >>> "NotImplementedError" in box.split("<details>")[0]
    True
    >>> "Solution" in box, "Solution" in exercise_html("ch00_organism", "channel_means", solution=False)
    (True, False)
    """
    if solution is None:
        solution = solutions_shown()
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
    if solution:
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


def _class_source(cls: type) -> str | None:
    """A class's source, found through its methods: each method's code knows the file
    (or notebook cell) it was written in, where inspect.getsource looks for the class
    through its module's file, which a notebook's `__main__` does not have (Python < 3.13)."""
    for member in vars(cls).values():
        if isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        code = getattr(inspect.unwrap(member), "__code__", None) if callable(member) else None
        if code is None:
            continue
        lines = linecache.getlines(code.co_filename)
        try:
            tree = ast.parse("".join(lines))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and node.name == cls.__name__
                    and node.lineno <= code.co_firstlineno <= node.end_lineno):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                return "".join(lines[first - 1:node.end_lineno])
    return None


def answer_source(obj: Callable | type) -> str:
    """The source of a function, a class or a @contextmanager function, as written in a
    notebook cell or a file (dedented, decorators included).

    >>> class ToyModel:  # in a notebook, inspect.getsource fails here (Python < 3.13)
    ...     def forward(self, x):
    ...         return 2 * x
    >>> print(answer_source(ToyModel))
    class ToyModel:  # in a notebook, inspect.getsource fails here (Python < 3.13)
        def forward(self, x):
            return 2 * x
    <BLANKLINE>
    >>> from contextlib import contextmanager
    >>> @contextmanager
    ... def ablate_channels(model, layer, channels):
    ...     yield
    >>> answer_source(ablate_channels).splitlines()[:2]  # the generator, as written
    ['@contextmanager', 'def ablate_channels(model, layer, channels):']
    """
    target = inspect.unwrap(obj)  # a @contextmanager function: the generator written
    source = _class_source(target) if inspect.isclass(target) else None
    if source is None:
        try:
            source = inspect.getsource(target)
        except (OSError, TypeError):
            raise OSError(
                f"Python has no source for {getattr(obj, '__name__', obj)!r} (it was typed at an "
                "interactive prompt, or it is not a function or a class): write it into the "
                "exercise file directly") from None
    return textwrap.dedent(source)


def save_answer(fn: Callable, *, root: Path = REPO_ROOT) -> Path:
    """Write a function you wrote in a notebook into its exercise file, replacing the
    version there, so that `make grade` grades it. Returns the file written.

    The function (or class, or @contextmanager function) must have the exercise's name;
    its source is the cell it was written in (see `answer_source`).

    >>> save_answer(channel_means)  # doctest: +SKIP
    PosixPath('.../exercises/ch00_organism.py')
    """
    name = fn.__name__
    module_name, _ = find_exercise(name)
    path = root / "exercises" / f"{module_name}.py"
    if not path.exists():
        write_stubs(root / "exercises", root)
    new = answer_source(fn)
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
