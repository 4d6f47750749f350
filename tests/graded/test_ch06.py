"""Graded tests for chapter 6: universality."""

import pytest

from interp_lib.course import ch06

MODULE = "ch06_universality"
CHAPTER = (6, "Universality")


@pytest.mark.graded(exercise="centre_gram", points=1)
def test_centre_gram(chapter):
    ch06.check_centre_gram.strict(chapter.centre_gram)


@pytest.mark.graded(exercise="linear_cka", points=2)
def test_linear_cka(chapter):
    ch06.check_linear_cka.strict(chapter.linear_cka)


@pytest.mark.graded(exercise="unbiased_hsic", points=3)
def test_unbiased_hsic(chapter):
    ch06.check_unbiased_hsic.strict(chapter.unbiased_hsic)


@pytest.mark.graded(exercise="random_orthogonal", points=2)
def test_random_orthogonal(chapter):
    ch06.check_random_orthogonal.strict(chapter.random_orthogonal)


@pytest.mark.graded(exercise="best_partners", points=1)
def test_best_partners(chapter):
    ch06.check_best_partners.strict(chapter.best_partners)


@pytest.mark.graded(exercise="one_to_one", points=2)
def test_one_to_one(chapter):
    ch06.check_one_to_one.strict(chapter.one_to_one)


@pytest.mark.graded(exercise="stitch_step", points=2)
def test_stitch_step(chapter):
    ch06.check_stitch_step.strict(chapter.stitch_step)
