"""The drawing parameterization and render recipes: organisms are rendered as pen strokes
where the objective can see; every other model keeps Lucid's defaults."""

import pytest
import torch

from interp_lib import hooks, zoo
from interp_lib.optvis import objectives as obj
from interp_lib.optvis.recipe import LUCID, Recipe, recipe_for, seen_region
from interp_lib.optvis.render import render
from interp_lib.optvis.strokes import DRAWING, StrokeImage
from interp_lib.organism.models import tiny_net


@pytest.fixture(scope="module")
def organism():
    return zoo.load("conv5-s0")


def test_organisms_carry_the_drawing_recipe_and_other_models_lucids(organism):
    assert recipe_for(organism) is DRAWING
    assert recipe_for(zoo.build("strided-s1")) is DRAWING  # untrained organisms too
    assert recipe_for(tiny_net()) is LUCID
    net = tiny_net()
    net.render_recipe = "strokes"
    with pytest.raises(TypeError, match="Recipe"):
        recipe_for(net)


def test_the_region_an_objective_sees_is_a_neurons_receptive_field_or_the_whole_image(organism):
    rf = hooks.receptive_field(organism, "relu3")
    centre, side = seen_region(organism, obj.neuron("relu3", 5), 1, 64)
    assert side == rf.size and centre == rf.centre
    assert seen_region(organism, obj.channel("relu3", 5), 1, 64)[1] == 64
    assert seen_region(organism, obj.class_logit(0), 1, 64)[1] == 64


def test_a_stroke_image_is_ink_of_one_tone_on_a_plain_background_inside_its_window():
    p = StrokeImage(3, 32, 32, window=((16.0, 16.0), 12), seed=1)
    images = p().detach()
    assert images.shape == (3, 3, 32, 32)
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[10:22, 10:22] = True
    for img in images[:, 0]:
        assert img[~inside].unique().numel() == 1  # outside the window: background only
        assert img[inside].std() > 0  # inside: strokes
    assert not torch.equal(images, StrokeImage(3, 32, 32, window=((16.0, 16.0), 12), seed=2)())


def test_the_plain_call_on_an_organism_draws_one_stroke_that_wins_its_competition(organism):
    result = render(organism, obj.neuron("relu3", 49), progress=False)
    assert isinstance(result.param, StrokeImage)
    weights = result.param.weights().detach()
    assert float(weights.max()) > 0.9  # one candidate took the ink
    again = render(organism, obj.neuron("relu3", 49), progress=False)
    assert torch.equal(result.images, again.images)  # the same seed, the same drawing
    rf = hooks.receptive_field(organism, "relu3")
    img = result.images[0, 0]
    top, left = round(rf.centre[1] - rf.size / 2), round(rf.centre[0] - rf.size / 2)
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[top:top + rf.size, left:left + rf.size] = False
    assert img[outside].unique().numel() == 1
    assert result.history[-1] > result.history[0]


def test_explicit_arguments_override_the_recipe(organism):
    from interp_lib.optvis import param
    p = param.image(64, device="cpu")
    result = render(organism, obj.neuron("relu3", 49), param=p, steps=2, progress=False)
    assert result.param is p
    seen = []
    render(organism, obj.neuron("relu3", 49), steps=2, progress=False,
           transforms=lambda x: (seen.append(1), x)[1])
    assert len(seen) == 2


def test_a_model_can_carry_a_recipe_of_its_own():
    net = tiny_net()
    made = []

    def factory(model, objective, batch_size, size, seed, device):
        made.append((batch_size, size, seed))
        return LUCID.param(model, objective, batch_size, size, seed, device)

    net.render_recipe = Recipe("mine", factory, None)
    render(net, obj.channel("relu2", 0), batch_size=2, size=16, steps=1, seed=3, progress=False)
    assert made == [(2, 16, 3)]
