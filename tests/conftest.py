"""Test configuration.

Graded exercise tests (tests/graded) are collected only when a target is
named, because they grade someone's code rather than test the course:

    python -m interp_lib.course.grade                      # what `make grade` runs
    pytest tests/graded --target solutions          # the reference solutions
    INTERP_GRADE_TARGET=exercises pytest tests/graded

Tests marked `chapter` execute a whole chapter notebook (minutes each) and run
only with --chapters, as `make test` runs them once, after the unit tests:

    pytest tests/test_workbench.py --chapters -m chapter -k ch03
"""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--target", default=os.environ.get("INTERP_GRADE_TARGET"),
        help="what graded tests grade: exercises, solutions, or a folder of chNN_*.py files",
    )
    parser.addoption("--chapters", action="store_true",
                     help="also run the tests marked `chapter` (each executes a chapter notebook)")


def pytest_configure(config):
    config.addinivalue_line("markers", "chapter: executes a whole chapter notebook (needs --chapters)")


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "graded" and not config.getoption("--target"):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    if config.getoption("--chapters"):
        return
    skip = pytest.mark.skip(reason="executes a whole chapter: run with --chapters (make test does)")
    for item in items:
        if item.get_closest_marker("chapter"):
            item.add_marker(skip)
