"""Test configuration.

Graded exercise tests (tests/graded) are collected only when a target is
named, because they grade someone's code rather than test the course:

    python -m interp_lib.course.grade                      # what `make grade` runs
    pytest tests/graded --target solutions          # the reference solutions
    INTERP_GRADE_TARGET=exercises pytest tests/graded
"""

import os


def pytest_addoption(parser):
    parser.addoption(
        "--target", default=os.environ.get("INTERP_GRADE_TARGET"),
        help="what graded tests grade: exercises, solutions, or a folder of chNN_*.py files",
    )


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "graded" and not config.getoption("--target"):
        return True
    return None
