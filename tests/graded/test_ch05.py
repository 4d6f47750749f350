"""Graded tests for chapter 5: superposition."""

import pytest

from interp_lib.course import ch05

MODULE = "ch05_superposition"
CHAPTER = (5, "Polysemantic neurons and superposition")


@pytest.mark.graded(exercise="ToyModel", points=3)
def test_toy_model(chapter):
    ch05.check_ToyModel.strict(chapter.ToyModel)


@pytest.mark.graded(exercise="importance_loss", points=1)
def test_importance_loss(chapter):
    ch05.check_importance_loss.strict(chapter.importance_loss)


@pytest.mark.graded(exercise="sparse_features", points=2)
def test_sparse_features(chapter):
    ch05.check_sparse_features.strict(chapter.sparse_features)


@pytest.mark.graded(exercise="interference", points=2)
def test_interference(chapter):
    ch05.check_interference.strict(chapter.interference)


@pytest.mark.graded(exercise="dimensions_per_feature", points=1)
def test_dimensions_per_feature(chapter):
    ch05.check_dimensions_per_feature.strict(chapter.dimensions_per_feature)


@pytest.mark.graded(exercise="feature_dimensionality", points=3)
def test_feature_dimensionality(chapter):
    ch05.check_feature_dimensionality.strict(chapter.feature_dimensionality)


@pytest.mark.graded(exercise="ReluHiddenModel", points=2)
def test_relu_hidden_model(chapter):
    ch05.check_ReluHiddenModel.strict(chapter.ReluHiddenModel)


@pytest.mark.graded(exercise="neuron_polysemanticity", points=2)
def test_neuron_polysemanticity(chapter):
    ch05.check_neuron_polysemanticity.strict(chapter.neuron_polysemanticity)


@pytest.mark.graded(exercise="class_selectivity", points=2)
def test_class_selectivity(chapter):
    ch05.check_class_selectivity.strict(chapter.class_selectivity)
