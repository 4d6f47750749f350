"""The graded tests, one per exercise, generated from the registry of checks: every
`@check("name", points=...)` in interp_lib/course/chNN.py grades the function (or class)
`name` of the target's chNN_*.py. A new exercise needs its check and nothing else.

    python -m interp_lib.course.grade                  # what `make grade` runs
    pytest tests/graded --target solutions             # the reference solutions
"""

import pytest

from interp_lib.course.checks import CheckFailed
from interp_lib.course.grade import graded_exercises

GENERATED = True


def _case(g):
    mark = pytest.mark.graded(exercise=g.exercise, points=g.points, chapter=g.chapter, title=g.title)
    return pytest.param(g, marks=mark, id=f"ch{g.chapter:02d}-{g.exercise}")


@pytest.mark.parametrize("graded", [_case(g) for g in graded_exercises()], indirect=True)
def test_exercise(graded):
    entry, module = graded
    if entry.check is None:
        raise CheckFailed(f"the course's checks for chapter {entry.chapter} do not import "
                          f"({entry.problem}): not your code's fault; tell the course's authors.")
    answer = getattr(module, entry.exercise, None)
    if answer is None:
        raise CheckFailed(f"{entry.module}.py has no {entry.exercise}: was it renamed or deleted?")
    entry.check.strict(answer)
