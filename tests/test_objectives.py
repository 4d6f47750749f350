import pytest
import torch

from interp_lib.optvis import objectives as obj


def acts(seed=0, n=3):
    g = torch.Generator().manual_seed(seed)
    return {
        "relu3": torch.rand(n, 5, 4, 6, generator=g),
        "relu2": torch.rand(n, 2, 8, 8, generator=g),
        obj.INPUT: torch.rand(n, 3, 10, 10, generator=g),
        obj.OUTPUT: torch.randn(n, 4, generator=g),
    }


def test_neuron_channel_layer_values():
    a = acts()
    r = a["relu3"]
    assert torch.allclose(obj.neuron("relu3", 2)(a), r[:, 2, 2, 3].sum())
    assert torch.allclose(obj.neuron("relu3", 2, x=1, y=0)(a), r[:, 2, 0, 1].sum())
    assert torch.allclose(obj.channel("relu3", 2)(a), r[:, 2].mean(dim=(1, 2)).sum())
    assert torch.allclose(obj.channel("relu3", 2, batch=1)(a), r[1, 2].mean())
    assert torch.allclose(obj.layer("relu3")(a), (r**2).mean(dim=(1, 2, 3)).sum())


def test_direction_equals_channel_for_a_basis_vector():
    a = acts()
    e = torch.zeros(5)
    e[3] = 1
    assert torch.allclose(obj.direction("relu3", e)(a), obj.channel("relu3", 3)(a))
    with pytest.raises(ValueError, match=r"needs shape \(5,\)"):
        obj.direction("relu3", torch.ones(4))(a)


def test_logit_and_probability():
    a = acts()
    logits = a[obj.OUTPUT]
    assert torch.allclose(obj.class_logit(1)(a), logits[:, 1].sum())
    assert torch.allclose(obj.class_probability(1, batch=0)(a), torch.softmax(logits[0], 0)[1])


def test_algebra():
    a = acts()
    c, t = obj.channel("relu3", 1), obj.total_variation()
    assert torch.allclose((c - 0.5 * t)(a), c(a) - 0.5 * t(a))
    assert torch.allclose((-c)(a), -c(a))
    assert torch.allclose((c * t)(a), c(a) * t(a))
    assert torch.allclose((2 * c + 1)(a), 2 * c(a) + 1)
    assert torch.allclose((c / 4)(a), c(a) / 4)
    total = sum(obj.channel("relu3", i, batch=i) for i in range(3))
    assert torch.allclose(total(a), sum(a["relu3"][i, i].mean() for i in range(3)))
    assert set((c + obj.channel("relu2", 0) - t).layers) == {"relu3", "relu2", obj.INPUT}
    with pytest.raises(TypeError, match="combine"):
        c + "relu3"


def test_diversity_measures_how_alike_the_images_are():
    same = {"relu3": torch.rand(1, 5, 4, 4).expand(3, 5, 4, 4).clone()}
    diff = {"relu3": torch.zeros(3, 5, 4, 4)}
    for i in range(3):
        diff["relu3"][i, i] = 1.0  # each image uses a different channel
    d = obj.diversity("relu3")
    assert torch.allclose(d(same), torch.tensor(1.0))  # Lucid's sign: alike is high
    assert torch.allclose(d(diff), torch.tensor(0.0))
    acts = {"relu3": torch.rand(4, 5, 3, 3, generator=torch.Generator().manual_seed(0))}
    assert torch.allclose(d(acts), gram_similarity(acts["relu3"]))
    with pytest.raises(ValueError, match="at least 2"):
        d({"relu3": torch.rand(1, 5, 4, 4)})


def gram_similarity(a):
    """Mean cosine similarity of the flattened Gram matrices of different batch elements,
    written out pair by pair."""
    grams = [(x.flatten(1) @ x.flatten(1).T).flatten() for x in a]
    sims = [torch.nn.functional.cosine_similarity(grams[i], grams[j], dim=0)
            for i in range(len(a)) for j in range(len(a)) if i != j]
    return torch.stack(sims).mean()


def test_subtracting_diversity_spreads_a_batched_render_apart():
    # Lucent's tests/optvis/test_objectives.py, test_diversity: a few Adam steps on
    # `channel - 100 * diversity` for a batch must improve the objective. Lucid's own
    # notebooks write the term the same way, so it must measure likeness: here the
    # images' Gram similarity must fall compared with a render of the channel alone.
    from interp_lib.hooks import run_with_cache
    from interp_lib.optvis.render import render
    from interp_lib.organism.models import tiny_net

    net = tiny_net()
    kw = dict(size=32, batch_size=3, steps=30, transforms=None, seed=1, progress=False)
    plain = render(net, obj.channel("relu2", 3), **kw)
    diverse = render(net, obj.channel("relu2", 3) - 10 * obj.diversity("relu2"), **kw)
    assert diverse.history[-1] > diverse.history[0]

    def similarity(images):
        return float(gram_similarity(run_with_cache(net, images, "relu2")[1].only()))

    assert similarity(plain.images) > 0.99  # without the term the three renders agree
    assert similarity(diverse.images) < similarity(plain.images) - 0.2


def test_channel_interpolate_weights_run_from_one_channel_to_the_other():
    a = {"relu3": torch.zeros(5, 5, 2, 2)}
    a["relu3"][:, 0] = 1.0  # channel 0 on everywhere, channel 1 off
    # weights (1 - w) for channel 0: 1, .75, .5, .25, 0 -> sum 2.5
    assert torch.allclose(obj.channel_interpolate("relu3", 0, "relu3", 1)(a), torch.tensor(2.5))


def test_regularizers():
    flat = {obj.INPUT: torch.full((2, 3, 8, 8), 0.5)}
    assert obj.total_variation()(flat) == 0 and obj.l1()(flat) == 0
    assert torch.allclose(obj.l2()(flat), torch.tensor(0.0), atol=1e-5)
    noisy = {obj.INPUT: torch.rand(2, 3, 8, 8)}
    assert obj.total_variation()(noisy) > 0.3
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., ::2] = 1.0  # vertical stripes: every horizontal neighbour differs by 1
    assert torch.allclose(obj.total_variation()({obj.INPUT: stripes}), torch.tensor(1.0))


def test_bad_input_is_explained():
    a = acts()
    with pytest.raises(ValueError, match=r"channel 9 is out of range: 'relu3' has 5 channels \(0 to 4\)"):
        obj.channel("relu3", 9)(a)
    with pytest.raises(ValueError, match="outside 'relu3'"):
        obj.neuron("relu3", 0, x=10)(a)
    with pytest.raises(ValueError, match="batch=5 is out of range"):
        obj.channel("relu3", 0, batch=5)(a)
    with pytest.raises(ValueError, match="class 7 is out of range"):
        obj.class_logit(7)(a)
    with pytest.raises(ValueError, match="convolutional layer"):
        obj.channel(obj.OUTPUT, 0)(a)


def test_channel_and_neuron_weights_are_weighted_sums():
    a = acts(3)
    r = a["relu3"]
    w = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.25])
    expected = sum(w[c] * obj.channel("relu3", c)(a) for c in range(5))
    assert torch.allclose(obj.channel_weight("relu3", w)(a), expected)
    assert torch.allclose(obj.neuron_weight("relu3", w, x=4, y=1)(a),
                          (r[:, :, 1, 4] * w).sum())
    with pytest.raises(ValueError, match=r"needs shape \(5,\)"):
        obj.channel_weight("relu3", torch.ones(3))(a)


def test_direction_with_cosine_similarity_prefers_aligned_activations():
    v = torch.tensor([1.0, 0.0])
    along = {"r": torch.tensor([2.0, 0.0]).view(1, 2, 1, 1)}
    oblique = {"r": torch.tensor([2.0, 2.0]).view(1, 2, 1, 1)}  # same dot product, 45 degrees off
    plain = obj.direction("r", v)
    assert torch.isclose(plain(along), plain(oblique))
    cos = obj.direction("r", v, cossim_pow=2)
    assert torch.isclose(cos(along), torch.tensor(2.0))
    assert torch.isclose(cos(oblique), torch.tensor(2.0 * 0.5))  # times cos^2 = 1/2
    a = acts(4)
    e = torch.zeros(5)
    e[1] = 1
    assert torch.allclose(obj.direction_neuron("relu3", e)(a), obj.neuron("relu3", 1)(a))


def test_alignment_penalises_differences_between_neighbouring_frames():
    same = {"r": torch.ones(5, 2, 3, 3)}
    assert obj.alignment("r")(same) == 0
    frames = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 2, 3, 3)
    # Frames i and i + d differ by d everywhere: sum over d of (count * d^2) / 2^d.
    expected = -sum((5 - d) * d**2 / 2**d for d in range(1, 5))
    assert torch.isclose(obj.alignment("r")({"r": frames}), torch.tensor(float(expected)))


def test_objectives_are_named_from_their_arguments():
    assert obj.channel("relu3", 4, batch=1).name == "channel('relu3', 4, batch=1)"
    assert obj.neuron("relu3", 4, x=2).name == "neuron('relu3', 4, x=2)"
    assert (obj.channel("relu3", 4) - 0.5 * obj.total_variation()).name == \
        "channel('relu3', 4) + -(0.5 * total_variation())"


def test_the_objective_decorator_names_objectives_and_finds_their_layers():
    # Lucid's wrap_objective names an objective from its function and arguments.
    @obj.objective
    def contrast(layer1, channel1, layer2, channel2, *, weight=1.0, batch=None):
        def fn(acts):
            return acts[layer1][:, channel1].mean() - weight * acts[layer2][:, channel2].mean()
        return fn

    c = contrast("relu3", 1, "relu2", 0, weight=2.0)
    assert c.name == "contrast('relu3', 1, 'relu2', 0, weight=2.0)"
    assert c.layers == ("relu3", "relu2")
    assert contrast("relu3", 1, "relu2", 0, weight=1.0, batch=None).name == \
        "contrast('relu3', 1, 'relu2', 0)"  # arguments at their defaults are left out
    a = acts()
    assert torch.allclose((c - 0.5 * obj.l1())(a),
                          a["relu3"][:, 1].mean() - 2 * a["relu2"][:, 0].mean() - 0.5 * obj.l1()(a))
    assert (c + obj.class_logit(0)).layers == ("relu3", "relu2", obj.OUTPUT)
    with pytest.raises(TypeError, match="names a layer"):
        contrast(3, 1, "relu2", 0)

    @obj.objective(reads=[obj.INPUT])
    def brightness():
        return lambda acts: acts[obj.INPUT].mean()

    assert brightness().name == "brightness()" and brightness().layers == (obj.INPUT,)
    # Every built-in objective is made by it, so the names follow the one rule.
    assert obj.direction("relu3", [1.0, 0.0], cossim_pow=2).name == \
        "direction('relu3', [1.0, 0.0], cossim_pow=2)"
    assert obj.direction("relu3", torch.ones(5)).name == "direction('relu3', ...)"
    assert obj.channel_interpolate("relu2", 0, "relu3", 4).layers == ("relu2", "relu3")
    assert obj.total_variation().layers == (obj.INPUT,) and obj.l2(0.5).name == "l2()"
