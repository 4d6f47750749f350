"""Graded tests for chapter 4: circuits."""

import pytest

from interp_lib.course import ch04

MODULE = "ch04_circuits"
CHAPTER = (4, "Circuits")


@pytest.mark.graded(exercise="kernel_between", points=1)
def test_kernel_between(chapter):
    ch04.check_kernel_between.strict(chapter.kernel_between)


@pytest.mark.graded(exercise="split_sign", points=1)
def test_split_sign(chapter):
    ch04.check_split_sign.strict(chapter.split_sign)


@pytest.mark.graded(exercise="spread_through_pool", points=2)
def test_spread_through_pool(chapter):
    ch04.check_spread_through_pool.strict(chapter.spread_through_pool)


@pytest.mark.graded(exercise="compose_through_conv", points=3)
def test_compose_through_conv(chapter):
    ch04.check_compose_through_conv.strict(chapter.compose_through_conv)


@pytest.mark.graded(exercise="linearise", points=2)
def test_linearise(chapter):
    ch04.check_linearise.strict(chapter.linearise)


@pytest.mark.graded(exercise="ablate_channels", points=2)
def test_ablate_channels(chapter):
    ch04.check_ablate_channels.strict(chapter.ablate_channels)


@pytest.mark.graded(exercise="echo_ratio", points=1)
def test_echo_ratio(chapter):
    ch04.check_echo_ratio.strict(chapter.echo_ratio)


@pytest.mark.graded(exercise="tangent_weights", points=3)
def test_tangent_weights(chapter):
    ch04.check_tangent_weights.strict(chapter.tangent_weights)
