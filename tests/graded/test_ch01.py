"""Graded tests for chapter 1: feature visualization by optimization."""

import pytest

from interp_lib.course import ch01

MODULE = "ch01_featurevis"
CHAPTER = (1, "Feature visualization by optimization")


@pytest.mark.graded(exercise="neuron_value", points=1)
def test_neuron_value(chapter):
    ch01.check_neuron_value.strict(chapter.neuron_value)


@pytest.mark.graded(exercise="channel_value", points=1)
def test_channel_value(chapter):
    ch01.check_channel_value.strict(chapter.channel_value)


@pytest.mark.graded(exercise="deepdream_value", points=1)
def test_deepdream_value(chapter):
    ch01.check_deepdream_value.strict(chapter.deepdream_value)


@pytest.mark.graded(exercise="class_probability_value", points=2)
def test_class_probability_value(chapter):
    ch01.check_class_probability_value.strict(chapter.class_probability_value)


@pytest.mark.graded(exercise="ascent_step", points=3)
def test_ascent_step(chapter):
    ch01.check_ascent_step.strict(chapter.ascent_step)


@pytest.mark.graded(exercise="diversity_value", points=3)
def test_diversity_value(chapter):
    ch01.check_diversity_value.strict(chapter.diversity_value)
