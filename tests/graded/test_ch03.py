"""Graded tests for chapter 3: attribution."""

import pytest

from interp_lib.course import ch03

MODULE = "ch03_attribution"
CHAPTER = (3, "Attribution")


@pytest.mark.graded(exercise="saliency_map", points=1)
def test_saliency_map(chapter):
    ch03.check_saliency_map.strict(chapter.saliency_map)


@pytest.mark.graded(exercise="integrated_gradients_midpoint", points=3)
def test_integrated_gradients_midpoint(chapter):
    ch03.check_integrated_gradients_midpoint.strict(chapter.integrated_gradients_midpoint)


@pytest.mark.graded(exercise="completeness_delta", points=2)
def test_completeness_delta(chapter):
    ch03.check_completeness_delta.strict(chapter.completeness_delta)


@pytest.mark.graded(exercise="occlusion_map", points=2)
def test_occlusion_map(chapter):
    ch03.check_occlusion_map.strict(chapter.occlusion_map)


@pytest.mark.graded(exercise="grad_cam_map", points=3)
def test_grad_cam_map(chapter):
    ch03.check_grad_cam_map.strict(chapter.grad_cam_map)


@pytest.mark.graded(exercise="rank_correlation", points=2)
def test_rank_correlation(chapter):
    ch03.check_rank_correlation.strict(chapter.rank_correlation)
