"""Graded tests for chapter 0: the model organism."""

import pytest

from interp_lib.course import ch00

MODULE = "ch00_organism"
CHAPTER = (0, "The model organism")


@pytest.mark.graded(exercise="channel_means", points=2)
def test_channel_means(chapter):
    ch00.check_channel_means.strict(chapter.channel_means)


@pytest.mark.graded(exercise="top_activating", points=3)
def test_top_activating(chapter):
    ch00.check_top_activating.strict(chapter.top_activating)


@pytest.mark.graded(exercise="peak_to_mean", points=2)
def test_peak_to_mean(chapter):
    ch00.check_peak_to_mean.strict(chapter.peak_to_mean)
