"""Fixtures for graded tests. The tests themselves are generated (test_exercises.py) from
the registry of checks; `graded` hands a test its exercise and the target's answer to it.
A hand-written test file (one with MODULE and CHAPTER, using the `chapter` fixture) still
works; where it grades an exercise the registry also has, the generated test is dropped."""

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_LOADED: dict[tuple[str, str], object] = {}  # (target, module) -> the module, or its import error


def load_target(target: str, module: str):
    """Import `module` (e.g. "ch00_organism") from exercises/, solutions/ or a folder."""
    if target in ("exercises", "solutions"):
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        return importlib.import_module(f"{target}.{module}")
    path = Path(target) / f"{module}.py"
    if not path.exists():
        raise FileNotFoundError(f"no {module}.py in {target}")
    spec = importlib.util.spec_from_file_location(f"graded_{module}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load_once(target: str, module: str):
    """Each chapter file is imported once per run; one that does not import fails every
    exercise in it, each with the same error."""
    key = (target, module)
    if key not in _LOADED:
        try:
            _LOADED[key] = load_target(target, module)
        except Exception as e:
            _LOADED[key] = e
    if isinstance(_LOADED[key], Exception):
        raise _LOADED[key]
    return _LOADED[key]


@pytest.fixture
def graded(request):
    """(the exercise's Graded entry, the target's chapter module)."""
    entry = request.param
    if entry.check is None:
        return entry, None
    return entry, _load_once(request.config.getoption("--target"), entry.module)


@pytest.fixture(scope="module")
def chapter(request):
    target = request.config.getoption("--target")
    return _load_once(target, request.module.MODULE)


def pytest_collection_modifyitems(config, items):
    written = {m.kwargs["exercise"] for i in items if not getattr(i.module, "GENERATED", False)
               and (m := i.get_closest_marker("graded")) is not None}
    twice = [i for i in items if getattr(i.module, "GENERATED", False)
             and i.get_closest_marker("graded").kwargs["exercise"] in written]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [i for i in items if i not in twice]
