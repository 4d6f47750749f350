"""Teaching copy: every public function and class of the library says what it does,
with a runnable example (run by `make test` as a doctest)."""

import importlib
import inspect
import pkgutil

import interp_lib

# Command-line entry points and chapter checks are documented by their modules.
EXEMPT_MODULES = ("interp_lib.course.ch",)
EXEMPT_NAMES = {"main", "setup"}


def public_modules():
    for info in pkgutil.walk_packages(interp_lib.__path__, "interp_lib."):
        if not info.name.startswith(EXEMPT_MODULES) and not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def public_functions():
    for module in public_modules():
        for name, fn in vars(module).items():
            if (name.startswith("_") or name in EXEMPT_NAMES or not inspect.isfunction(fn)
                    or fn.__module__ != module.__name__):
                continue
            yield f"{module.__name__}.{name}", fn


def test_every_module_has_a_docstring():
    missing = [m.__name__ for m in public_modules() if not (m.__doc__ or "").strip()]
    assert not missing, missing


def test_every_public_function_has_a_docstring_with_an_example():
    missing = [name for name, fn in public_functions() if ">>>" not in (fn.__doc__ or "")]
    assert not missing, f"{len(missing)} public functions without a runnable example: {missing}"
