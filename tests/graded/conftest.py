"""Fixtures for graded tests: `chapter` is the module being graded."""

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def chapter(request):
    target = request.config.getoption("--target")
    return load_target(target, request.module.MODULE)
