"""Graded tests for chapter 2: regularization, preconditioning, learned priors, interpolation."""

import pytest

from interp_lib.course import ch02

MODULE = "ch02_regularization"
CHAPTER = (2, "Regularization, preconditioning, learned priors and interpolation")


@pytest.mark.graded(exercise="total_variation_value", points=2)
def test_total_variation_value(chapter):
    ch02.check_total_variation_value.strict(chapter.total_variation_value)


@pytest.mark.graded(exercise="jitter_crop", points=1)
def test_jitter_crop(chapter):
    ch02.check_jitter_crop.strict(chapter.jitter_crop)


@pytest.mark.graded(exercise="frequency_scale", points=3)
def test_frequency_scale(chapter):
    ch02.check_frequency_scale.strict(chapter.frequency_scale)


@pytest.mark.graded(exercise="decorrelated_to_rgb", points=2)
def test_decorrelated_to_rgb(chapter):
    ch02.check_decorrelated_to_rgb.strict(chapter.decorrelated_to_rgb)


@pytest.mark.graded(exercise="interpolation_weights", points=1)
def test_interpolation_weights(chapter):
    ch02.check_interpolation_weights.strict(chapter.interpolation_weights)


@pytest.mark.graded(exercise="latent_line", points=2)
def test_latent_line(chapter):
    ch02.check_latent_line.strict(chapter.latent_line)
