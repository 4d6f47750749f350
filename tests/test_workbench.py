"""The learner's workbench: the course as a learner works it, in Jupyter.

The README's path: `make lab` opens the chapters in JupyterLab; a chapter runs in a
plain kernel (none of the book's machinery) and shows its figures and numbers; an
answer written in a cell moves into exercises/ with `save_answer` (a function, a
class, a context manager) and is graded alone with `make grade EX=name`. Each step
is done here for real: in a Jupyter kernel (nbclient), through the Makefile, in a
temporary copy of what it writes. The whole chapters run only with --chapters
(`make test` runs them once, after the unit tests).
"""

import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from interp_lib.course import exercises
from interp_lib.course.book import BOOK_BUILD_ENV

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("ch*.ipynb"))
# Run the Makefile's targets with the installs taken as done (this venv is the one they make).
INSTALLED = ["-o", ".venv/.dev-installed", "-o", ".venv/.book-installed", "-o", ".venv/.lab-installed"]
FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)")
QUOTED = re.compile(r"\{glue(?::text)?\}`([^`]+)`")


def learner_env(**extra) -> dict:
    """The environment of a learner's Jupyter: none of what `make book` sets, no forced
    matplotlib backend (the kernel picks its inline one)."""
    drop = {BOOK_BUILD_ENV, exercises.SOLUTIONS_ENV, "MPLBACKEND"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def execute(nb, cwd: Path, env: dict, timeout: int = 600):
    """Run a notebook in a fresh python3 kernel started in `cwd` with `env`, as Jupyter
    runs it; a cell that raises fails the test with the cell and its traceback."""
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env)
    return nb


def run_cells(cells: list[str], cwd: Path, env: dict):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    return execute(nb, cwd, env).cells


def images(cell) -> list:
    return [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


def printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def make(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *INSTALLED, *args], cwd=ROOT,
                          capture_output=True, text=True, **kwargs)


# --- glue: the book's values, shown where a learner runs the chapter ---------------------

GLUE_CELLS = [
    "import matplotlib.pyplot as plt\nfrom interp_lib.course.book import glue, verdict",
    "fig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\nglue('line_fig', fig)",
    "glue('n_units', 12)\nverdict('direction', True, 'rises', 'does not rise')",
]


def test_in_a_kernel_glue_shows_each_figure_once_and_prints_each_value(tmp_path):
    _, fig_cell, value_cell = run_cells(GLUE_CELLS, tmp_path, learner_env())
    # Once: displayed by glue, and not again by the inline backend when the cell ends.
    assert len(images(fig_cell)) == 1
    assert "n_units = 12" in printed(value_cell) and "direction = rises" in printed(value_cell)
    assert "{glue:text}" in printed(value_cell)  # the first value says how to read the text
    recorded = [k for o in value_cell.outputs for k in o.get("data", {}) if "papermill" in k]
    assert not recorded  # nothing in a form Jupyter cannot display


def test_in_the_book_build_glue_records_values_and_shows_nothing_under_the_cell(tmp_path):
    _, fig_cell, value_cell = run_cells(GLUE_CELLS, tmp_path, learner_env(**{BOOK_BUILD_ENV: "1"}))
    assert not images(fig_cell)  # the figure appears where the text places it, not here
    assert not printed(value_cell)
    if importlib.util.find_spec("myst_nb"):  # the book's tools: the values are recorded
        kinds = {k for c in (fig_cell, value_cell) for o in c.outputs for k in o.get("data", {})}
        assert {"application/papermill.record/image/png",
                "application/papermill.record/text/plain"} <= kinds


# --- save_answer: from a cell to exercises/, then graded alone ---------------------------

def course_copy(tmp_path: Path) -> Path:
    """solutions/ and fresh exercises/ in a temporary folder: the learner's real files are
    never touched."""
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    exercises.write_stubs(tmp_path / "exercises", root=tmp_path)
    return tmp_path


IMPORTS = ("import torch\nfrom collections.abc import Iterator, Sequence\n"
           "from contextlib import contextmanager\nfrom pathlib import Path\n"
           "from torch import Tensor, nn\nfrom interp_lib.course.exercises import save_answer\n")
TOY = exercises._function_source("ch05_superposition", "ToyModel", solution=True)
ABLATE = exercises._function_source("ch04_circuits", "ablate_channels", solution=True)


def grade_one(folder: Path, name: str) -> list[tuple[str, str]]:
    proc = subprocess.run([sys.executable, "-m", "interp_lib.course.grade", "--target", str(folder),
                           "--exercise", name, "--json", str(folder / "results.json")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return [(r["exercise"], r["status"]) for r in json.loads((folder / "results.json").read_text())]


def assert_saved(folder: Path):
    """The class and the context manager as written replace their stubs, under the file's
    own @exercise decorator, and nothing else in the files changed."""
    ch05 = (folder / "exercises" / "ch05_superposition.py").read_text()
    ch04 = (folder / "exercises" / "ch04_circuits.py").read_text()
    assert 'torch.einsum("imn,bin->bim", self.W, x)' in ch05 and ch05.count("class ToyModel") == 1
    assert "handle.remove()" in ch04 and ch04.count("def ablate_channels") == 1
    assert "@contextmanager\ndef ablate_channels" in ch04  # the decorator the file had, kept once
    assert ch04.count("@contextmanager") == 1 and "@exercise(" in ch04.split("def ablate_channels")[0]
    stubs = exercises.exercise_files(folder)
    assert ch05.count(exercises.STUB) == stubs["ch05_superposition.py"].count(exercises.STUB) - 1
    assert ch04.count(exercises.STUB) == stubs["ch04_circuits.py"].count(exercises.STUB) - 1


def test_save_answer_takes_a_class_and_a_context_manager_from_a_jupyter_kernel(tmp_path):
    folder = course_copy(tmp_path)
    cells = [IMPORTS, TOY, ABLATE,
             f"print(save_answer(ToyModel, root=Path({str(folder)!r})))\n"
             f"print(save_answer(ablate_channels, root=Path({str(folder)!r})))"]
    *_, saved = run_cells(cells, tmp_path, learner_env())
    assert "ch05_superposition.py" in printed(saved) and "ch04_circuits.py" in printed(saved)
    assert_saved(folder)
    assert grade_one(folder / "exercises", "ToyModel") == [("ToyModel", "passed")]


def test_save_answer_takes_a_class_and_a_context_manager_from_a_python_script(tmp_path):
    folder = course_copy(tmp_path)
    script = tmp_path / "answers.py"
    script.write_text(f"{IMPORTS}\n\n{TOY}\n\n{ABLATE}\n\n"
                      f"save_answer(ToyModel, root=Path({str(folder)!r}))\n"
                      f"save_answer(ablate_channels, root=Path({str(folder)!r}))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_saved(folder)
    assert grade_one(folder / "exercises", "ablate_channels") == [("ablate_channels", "passed")]


def test_save_answer_says_plainly_when_python_kept_no_source(tmp_path):
    folder = course_copy(tmp_path)
    namespace = {}
    exec("class ToyModel:\n    pass\n", namespace)  # no file, and no method to find it by
    with pytest.raises(OSError, match="write it into the exercise file directly"):
        exercises.save_answer(namespace["ToyModel"], root=folder)
    assert not exercises.out_of_sync(folder)  # nothing was written


# --- the Makefile's learner commands ----------------------------------------------------

def test_make_hint_without_an_exercise_or_past_the_last_hint_prints_the_usage_and_succeeds():
    for args in (["hint"], ["hint", "EX=channel_means", "N=3"]):
        proc = make(*args)
        assert proc.returncode == 0 and "usage: make hint EX=" in proc.stdout, args
        assert "Error" not in proc.stderr and "no exercise called '1'" not in proc.stdout


def test_make_targets_pass_their_options_through():
    assert "--exercise channel_means" in make("-n", "grade", "EX=channel_means").stdout
    assert "--force" in make("-n", "exercises", "FORCE=1").stdout
    assert "--force" not in make("-n", "exercises").stdout
    book = make("-n", "book", "SOLUTIONS=0").stdout
    assert f"{BOOK_BUILD_ENV}=1" in book and f"{exercises.SOLUTIONS_ENV}=0" in book
    assert f"{exercises.SOLUTIONS_ENV}=1" in make("-n", "book").stdout  # self-study: shown
    assert "/lab/tree/book/ch03_attribution.ipynb" in make("-n", "lab", "CH=3").stdout
    assert "/lab/tree/book/ch07_probes.ipynb" in make("-n", "lab", "CH=7").stdout
    assert "chapters are 0 to 7" in make("-n", "lab", "CH=9").stderr


def test_make_exercises_keeps_answers_unless_forced_and_then_backs_them_up(tmp_path, monkeypatch, capsys):
    from interp_lib.course.__main__ import main
    folder = course_copy(tmp_path)
    monkeypatch.setattr(exercises, "REPO_ROOT", folder)
    monkeypatch.setattr(exercises, "make_exercises", functools.partial(exercises.make_exercises, folder))
    mine = folder / "exercises" / "ch00_organism.py"
    answer = mine.read_text().replace(exercises.STUB, "return acts.mean(dim=(0, 2, 3))", 1)
    mine.write_text(answer)
    assert main(["make-exercises"]) == 0
    out = capsys.readouterr().out
    assert "kept exercises/ch00_organism.py: it holds your answers (channel_means)" in out
    assert "make exercises FORCE=1" in out and mine.read_text() == answer
    assert main(["make-exercises", "--force"]) == 0
    out = capsys.readouterr().out
    backups = list((folder / ".exercises_backup").glob("*/ch00_organism.py"))
    assert "wrote exercises/ch00_organism.py" in out and ".exercises_backup/" in out
    assert len(backups) == 1 and backups[0].read_text() == answer
    assert exercises.STUB in mine.read_text().split("def top_activating")[0]


def test_the_package_metadata_builds_without_a_license_warning(tmp_path):
    """What pip builds at install: an SPDX licence and its file, no deprecation warning
    (current setuptools warned about the old `license = {text = ...}` table)."""
    for name in ("pyproject.toml", "LICENSE", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "interp_lib", tmp_path / "interp_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
    (tmp_path / "out").mkdir()
    proc = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                           "print(b.prepare_metadata_for_build_wheel('out'))"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "license" not in proc.stderr.lower(), proc.stderr
    metadata = (tmp_path / "out" / proc.stdout.split()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata


def test_every_make_command_of_the_readme_workflow_is_a_target():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Working an exercise", 1)[1].split("\n## ", 1)[0]
    # In the order a learner meets them: `make ...` in the text, and lines of the code block.
    commands = [(m.group(1) or m.group(2)).split()[1:]
                for m in re.finditer(r"(?m)`(make [^`]+)`|^(make [^#\n]+)", section)]
    assert commands and commands[0][0] == "lab"  # the workflow starts by opening the chapters
    for args in commands:
        proc = make("-n", *args)
        assert proc.returncode == 0, (args, proc.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                    reason="JupyterLab is not installed here (`make lab` installs it)")
def test_make_lab_serves_jupyterlab_open_on_the_chapter(tmp_path):
    port, token = free_port(), "workbench-test"
    as_root = " --allow-root" if os.geteuid() == 0 else ""  # Jupyter refuses root unless told
    env = learner_env(JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path))
    lab = subprocess.Popen(
        ["make", *INSTALLED, "lab", "CH=3",
         f"LAB_ARGS=--no-browser --port={port} --IdentityProvider.token={token}{as_root}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                assert lab.poll() is None, lab.stdout.read().decode()
                assert time.monotonic() < deadline, "JupyterLab did not start within 90 s"
                time.sleep(1)
        page = urllib.request.urlopen(f"{base}/?token={token}", timeout=10)
        assert page.geturl().split("?")[0].endswith("/lab/tree/book/ch03_attribution.ipynb")
        assert "JupyterLab" in page.read().decode()
        # The server sees the whole course (book/ and exercises/), not only the book.
        listing = json.load(urllib.request.urlopen(f"{base}/api/contents/exercises?token={token}"))
        assert "ch00_organism.py" in {item["name"] for item in listing["content"]}
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=60)


# --- whole chapters, as a learner runs them (make test) ----------------------------------

@pytest.mark.chapter
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_in_a_plain_kernel_shows_its_figures_and_numbers(path):
    """The chapter runs without error in a learner's kernel; every figure the text shows
    ({glue:figure}) is displayed under the cell that glues it (or the cell before, which drew
    it), and every value the text
    quotes ({glue:text}) is printed as `name = value`."""
    nb = execute(nbformat.read(path, as_version=4), path.parent, learner_env(), timeout=900)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    figures = FIGURE.findall(markdown)
    assert figures, "no {glue:figure} in the chapter: the pattern is out of date"
    glued_in = {}
    for name in figures:
        cell = next(c for c in code if re.search(rf"glue\(\s*['\"]{re.escape(name)}['\"]", c.source))
        glued_in.setdefault(id(cell), (cell, []))[1].append(name)
    position = {id(c): i for i, c in enumerate(code)}
    for cell, names in glued_in.values():
        # Under the cell that glues them, or, where a hidden cell glues what the visible cell
        # before it drew, under that cell (glue does not show a figure twice).
        before = code[position[id(cell)] - 1] if position[id(cell)] > 0 else None
        shown_here = len(images(cell)) + (len(images(before)) if before is not None else 0)
        assert shown_here >= len(names), f"{names}: not displayed under the cell that makes or glues them"
    shown = "".join(printed(c) for c in code)
    missing = sorted(n for n in set(QUOTED.findall(markdown)) if f"{n} = " not in shown)
    assert not missing, f"values the text quotes that the kernel never printed: {missing}"
