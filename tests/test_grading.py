"""Tests that prove the graded tests: they pass on the solutions (with warnings as
errors: the checks do not warn), fail on the untouched exercises and on plausible
wrong answers, and report learner problems (hangs, slow code, errors, warnings,
syntax errors) per exercise."""

import importlib
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from interp_lib.course import checks, exercises, guard

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_MODULES = sorted(p.stem for p in (ROOT / "solutions").glob("ch*.py"))


def grade(target, *extra):
    """Grade `target` in a subprocess, as `make grade` does: (results, printed report).
    The results travel through a temporary file, never through the repository."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "results.json"
        proc = subprocess.run(
            [sys.executable, "-m", "interp_lib.course.grade", "--target", str(target), "--json",
             str(out), *extra], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        return json.loads(out.read_text()), proc.stdout


def check_module(module_name):
    return importlib.import_module(f"interp_lib.course.{module_name.split('_')[0]}")


@pytest.fixture(scope="module")
def solutions_graded():
    """The solutions graded once, with any warning raised during a check an error."""
    return grade("solutions", "--warnings-as-errors")


def test_every_graded_test_passes_on_the_solutions_with_warnings_as_errors(solutions_graded):
    results, text = solutions_graded
    assert results, "no graded tests were found"
    failed = [(r["exercise"], r["message"]) for r in results if r["status"] != "passed"]
    assert not failed
    assert not [r for r in results if r["warning"]]
    assert "Total:" in text and "warned" not in text


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """The untouched exercise files, generated from solutions/ into a temporary folder:
    the tests never read exercises/, where a learner's answers live."""
    folder = tmp_path_factory.mktemp("stubs")
    exercises.write_stubs(folder)
    return folder


def test_every_graded_test_reports_not_attempted_on_the_untouched_exercises(stubs):
    results, text = grade(stubs)
    assert results
    assert {r["status"] for r in results} == {"not attempted"}
    assert sum(r["earned"] for r in results) == 0
    assert "not attempted" in text


def test_stub_files_do_not_give_the_hints_away(stubs):
    for module in CHAPTER_MODULES:
        text = (stubs / f"{module}.py").read_text()
        for e in exercises.exercises_of(module):
            for h in e.hints:
                assert h[:40] not in text, (e.name, h)
        assert "# SOLUTION" not in text and "NotImplementedError" in text


def test_hints_come_one_at_a_time_from_the_command_line():
    out = subprocess.run([sys.executable, "-m", "interp_lib.course", "hint", "channel_means", "1"],
                         capture_output=True, text=True, cwd=ROOT)
    first, second = exercises.exercises_of("ch00_organism")[0].hints
    assert out.returncode == 0 and first in out.stdout and second not in out.stdout
    out = subprocess.run([sys.executable, "-m", "interp_lib.course", "hint", "chanel_means"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1 and "channel_means" in out.stdout and "Traceback" not in out.stderr


def test_hint_mistakes_print_the_usage_and_are_not_errors(capsys):
    from interp_lib.course.__main__ import main
    for args in ([], ["channel_means", "3"], ["channel_means", "0"], ["channel_means", "x"]):
        assert main(["hint", *args]) == 0, args
        out = capsys.readouterr().out
        assert "usage: make hint EX=" in out and "Hint " not in out, args
    assert main(["hint"]) == 0 and "ch05_superposition: ToyModel" in capsys.readouterr().out
    assert main(["hint", "channel_means", "3"]) == 0
    assert "channel_means has 2 hints: N is 1 to 2" in capsys.readouterr().out
    assert main(["hint", "channel_means", "2"]) == 0
    assert capsys.readouterr().out.startswith("Hint 2 of 2 for channel_means")


def test_one_exercise_is_graded_alone(stubs):
    results, text = grade(stubs, "--exercise", "peak_to_mean")
    assert [(r["exercise"], r["status"]) for r in results] == [("peak_to_mean", "not attempted")]
    assert "channel_means" not in text and "Total: 0 / 2 points" in text
    results, _ = grade("solutions", "--exercise", "peak_to_mean")
    assert [(r["exercise"], r["status"]) for r in results] == [("peak_to_mean", "passed")]
    proc = subprocess.run([sys.executable, "-m", "interp_lib.course.grade", "--exercise", "peak_to_men"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "Did you mean peak_to_mean" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_save_answer_moves_a_notebook_function_into_the_exercise_file(tmp_path):
    import shutil
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    exercises.write_stubs(tmp_path / "exercises", root=tmp_path)
    namespace = {}
    exec(compile("import torch\ndef channel_means(acts):\n    return acts.mean(dim=(0, 2, 3))\n",
                 str(tmp_path / "cell.py"), "exec"), namespace)
    (tmp_path / "cell.py").write_text("import torch\ndef channel_means(acts):\n"
                                      "    return acts.mean(dim=(0, 2, 3))\n")
    path = exercises.save_answer(namespace["channel_means"], root=tmp_path)
    text = path.read_text()
    assert "return acts.mean(dim=(0, 2, 3))" in text
    assert text.count("def channel_means") == 1 and "@exercise(" in text
    results, _ = grade(tmp_path / "exercises", "--chapter", "0")
    status = {r["exercise"]: r["status"] for r in results}
    assert status == {"channel_means": "passed", "top_activating": "not attempted",
                      "peak_to_mean": "not attempted"}


def test_every_exercise_has_a_graded_test_and_metadata(solutions_graded):
    results, _ = solutions_graded
    graded = [r["exercise"] for r in results]
    declared = {e.name for m in CHAPTER_MODULES for e in exercises.exercises_of(m)}
    assert set(graded) == declared
    assert len(graded) == len(set(graded)), "an exercise is graded twice"
    for m in CHAPTER_MODULES:
        for e in exercises.exercises_of(m):
            assert e.hints and e.minutes > 0, e.name


# The families of wrong answers a mutant's description may start with, in brackets.
FAMILIES = {"network", "detached", "cost", "distribution", "learner", "wild", "message",
            "fresh"}  # fresh: written by an independent author who had not read these files


def _mutants(module_name):
    return importlib.import_module(f"tests.mutants.{module_name.split('_')[0]}").MUTANTS


def _checks(module_name):
    cm = check_module(module_name)
    return {obj.exercise: obj for obj in vars(cm).values() if hasattr(obj, "exercise")}


@pytest.mark.parametrize("module_name", CHAPTER_MODULES)
def test_plausible_wrong_answers_fail(module_name):
    """Each wrong answer fails its check; a [cost] one as too slow; where a mutant names a
    phrase (its third item), the message holds it: the check says what the mistake is."""
    mutants, the_checks = _mutants(module_name), _checks(module_name)
    declared = {e.name for e in exercises.exercises_of(module_name)}
    assert set(mutants) == declared, "every exercise needs at least one wrong answer"
    for name, wrongs in mutants.items():
        assert wrongs
        for description, wrong, *phrase in wrongs:
            if description.startswith("["):
                assert description[1:description.index("]")] in FAMILIES, description
            status, message = checks.outcome(the_checks[name].strict, wrong)
            expected = {"too slow"} if description.startswith("[cost]") else {"failed"}
            assert status in expected, f"{name}: the mistake '{description}' gave {status}: {message}"
            assert message
            assert not phrase or phrase[0] in message, (name, description, message)


@pytest.mark.parametrize("module_name", CHAPTER_MODULES)
def test_answers_that_call_the_library_fail_only_because_its_twin_is_unavailable(
        module_name, monkeypatch):
    """The [learner] answers that use the library's own version of the exercise are right in
    every other way: with the twins available, they pass."""
    monkeypatch.setattr(guard, "find_twins", lambda exercise, named=(): [])
    the_checks = _checks(module_name)
    for name, wrongs in _mutants(module_name).items():
        for description, wrong, *_ in wrongs:
            if description.startswith("[learner]") and "library's" in description:
                status, message = checks.outcome(the_checks[name].strict, wrong)
                assert status == "passed", (name, description, message)


def test_learner_problems_are_reported_per_exercise(tmp_path):
    src = (ROOT / "solutions" / "ch00_organism.py").read_text()
    src = src.replace("    return acts.mean(dim=(0, 2, 3))", textwrap.indent(textwrap.dedent("""
        import warnings
        warnings.warn("a harmless warning")
        print("debug print")
        return acts.mean(dim=(0, 2, 3))"""), "    "))
    src = src.replace("    peak = responses.amax(dim=1)", "    while True:\n        pass")
    src = src.replace("    scores = acts[layer][:, channel].mean(dim=(1, 2))",
                      "    scores = acts[layer][:, channel].mean(dim=(1, 2, 3))")
    (tmp_path / "ch00_organism.py").write_text(src)
    results, text = grade(tmp_path, "--chapter", "0", "--timeout", "3")
    status = {r["exercise"]: r for r in results}
    assert status["channel_means"]["status"] == "passed"  # warnings and prints cost nothing
    assert "a harmless warning" in status["channel_means"]["warning"]  # ... but are reported
    assert "your code warned: UserWarning: a harmless warning" in text
    assert not status["peak_to_mean"]["warning"]
    assert status["peak_to_mean"]["status"] == "timed out"
    assert "hard limit of 3 s" in status["peak_to_mean"]["message"]
    assert status["top_activating"]["status"] == "failed"
    assert "IndexError" in status["top_activating"]["message"]
    assert "Traceback" not in text
    assert "Total: 2 / 7" in text


def test_a_module_that_does_not_import_fails_every_exercise_cleanly(tmp_path):
    (tmp_path / "ch00_organism.py").write_text("def channel_means(acts:\n    pass\n")
    results, text = grade(tmp_path, "--chapter", "0")
    assert results and {r["status"] for r in results} == {"failed"}
    assert all("could not load your module" in r["message"] for r in results)
    assert "SyntaxError" in text


def test_strip_solutions_keeps_signature_docstring_and_hints():
    src = textwrap.dedent('''
        @exercise(difficulty=1, importance=1, minutes=1, hints=["h"])
        def f(x):
            """Doc."""
            # SOLUTION
            return x + 1
            # END SOLUTION
        ''')
    out = exercises.strip_solutions(src)
    assert 'hints=["h"]' in out and '"""Doc."""' in out and "def f(x):" in out
    assert "return x + 1" not in out and "raise NotImplementedError" in out
    with pytest.raises(ValueError, match="never closed"):
        exercises.strip_solutions("# SOLUTION\nx = 1\n")


def test_notebook_check_prints_instead_of_raising(capsys):
    from interp_lib.course.ch00 import check_channel_means
    assert check_channel_means(lambda a: a.mean(dim=(0, 2, 3))) is True
    assert check_channel_means(lambda a: a.mean(dim=1)) is False
    out = capsys.readouterr().out
    assert "passed" in out and "failed" in out and "shape" in out
    import warnings
    assert check_channel_means(lambda a: (warnings.warn("careful", stacklevel=1), a.mean(dim=(0, 2, 3)))[1])
    assert "your code warned: UserWarning: careful" in capsys.readouterr().out


def test_exercise_box_folds_hints_and_solution_and_shows_the_generated_stub(tmp_path):
    html = exercises.exercise_html("ch00_organism", "channel_means")
    shown, folded = html.split("<details>", 1)
    hint = exercises.exercises_of("ch00_organism")[0].hints[0]
    assert "channel_means" in shown and "NotImplementedError" in shown
    assert "difficulty" in shown and "importance" in shown and "minutes" in shown
    assert "acts.mean" not in shown and "axis is dimension 1" not in shown  # nothing given away
    assert hint.split(".")[0] in folded and "acts.mean(dim=(0, 2, 3))" in folded


def test_slow_code_is_told_how_much_slower_and_endless_code_meets_the_hard_limit(tmp_path):
    src = (ROOT / "solutions" / "ch04_circuits.py").read_text()
    loop = textwrap.indent(textwrap.dedent("""
        out = w_outer.new_zeros(w_outer.shape[0], w_inner.shape[1], w_outer.shape[-1] + w_inner.shape[-1] - 1,
                                w_outer.shape[-1] + w_inner.shape[-1] - 1)
        for o in range(w_outer.shape[0]):
            for py in range(w_outer.shape[-1]):
                for px in range(w_outer.shape[-1]):
                    for qy in range(w_inner.shape[-1]):
                        for qx in range(w_inner.shape[-1]):
                            out[o, :, py + qy, px + qx] += w_outer[o, :, py, px] @ w_inner[:, :, qy, qx]
        return out"""), "    ")
    src = src.replace("    return F.conv_transpose2d(w_outer, w_inner)", loop)
    src = src.replace("    return w.clamp(min=0), (-w).clamp(min=0)", "    while True:\n        pass")
    (tmp_path / "ch04_circuits.py").write_text(src)
    results, text = grade(tmp_path, "--exercise", "compose_through_conv")
    (r,) = results
    assert r["status"] == "too slow" and r["earned"] == 0
    assert "slower than the reference on relu1 -> conv3" in r["message"]
    assert "a Python loop over kernel positions?" in r["message"] and "too slow:" in text
    results, _ = grade(tmp_path, "--exercise", "split_sign", "--timeout", "3")
    assert [(r["status"], "hard limit" in r["message"]) for r in results] == [("timed out", True)]


def test_a_warning_is_the_learners_only_when_their_code_raised_it():
    from interp_lib.course.ch01 import check_ascent_step

    def step(image, score_fn, lr):  # the reference, with a softmax that warns (no dim given)
        x = image.detach().requires_grad_(True)
        torch.nn.functional.softmax(x.flatten(1))
        (grad,) = torch.autograd.grad(score_fn(x), x)
        return (x + lr * grad).clamp(0, 1).detach()

    status, message = checks.outcome(check_ascent_step.strict, step)
    assert status == "passed" and "your code warned: UserWarning: Implicit dimension" in message
    assert f"of {Path(__file__).name})" in message  # placed at the learner's own line
    # The check itself raises no warning (its scores were once converted with a graph).
    solution = importlib.import_module("solutions.ch01_featurevis").ascent_step
    assert checks.outcome(check_ascent_step.strict, solution) == ("passed", "all checks passed")
    with guard.warnings_as_errors():
        assert checks.outcome(check_ascent_step.strict, solution)[0] == "passed"
        assert checks.outcome(check_ascent_step.strict, step)[0] == "failed"


def test_the_graded_tests_are_the_registry_of_checks():
    """The graded tests come from the registry: a check module's @check is all it takes."""
    from interp_lib.course import grade as grading
    entries = grading.graded_exercises()
    registered = {(m, ex) for m, by in checks.REGISTRY.items() for ex in by}
    assert {(f"interp_lib.course.ch{g.chapter:02d}", g.exercise) for g in entries} == registered
    assert all(g.points > 0 and g.title for g in entries)
