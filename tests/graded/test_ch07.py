"""Graded tests for chapter 7: probes and concept directions."""

import pytest

from interp_lib.course import ch07

MODULE = "ch07_probes"
CHAPTER = (7, "Probes and concepts")


@pytest.mark.graded(exercise="held_out_accuracy", points=2)
def test_held_out_accuracy(chapter):
    ch07.check_held_out_accuracy.strict(chapter.held_out_accuracy)


@pytest.mark.graded(exercise="control_labels", points=2)
def test_control_labels(chapter):
    ch07.check_control_labels.strict(chapter.control_labels)


@pytest.mark.graded(exercise="selectivity", points=1)
def test_selectivity(chapter):
    ch07.check_selectivity.strict(chapter.selectivity)


@pytest.mark.graded(exercise="concept_activation_vector", points=2)
def test_concept_activation_vector(chapter):
    ch07.check_concept_activation_vector.strict(chapter.concept_activation_vector)


@pytest.mark.graded(exercise="tcav_score", points=3)
def test_tcav_score(chapter):
    ch07.check_tcav_score.strict(chapter.tcav_score)


@pytest.mark.graded(exercise="remove_directions", points=2)
def test_remove_directions(chapter):
    ch07.check_remove_directions.strict(chapter.remove_directions)


@pytest.mark.graded(exercise="unit_cosines", points=1)
def test_unit_cosines(chapter):
    ch07.check_unit_cosines.strict(chapter.unit_cosines)
