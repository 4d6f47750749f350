import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from interp_lib import circuits, hooks, plotting
from interp_lib.circuits.expanded import _geometry, _path
from interp_lib.hooks import run_with_cache
from interp_lib.organism import stimuli
from interp_lib.organism.models import Architecture, ConvNet, init_weights, tiny_net
from interp_lib.tuning import CurveTuning, LineTuning


def deep_net(seed=0):
    """Four 5x5 convs with three max-pools: the shape of a conv5 organism, smaller."""
    net = ConvNet(Architecture((4, 6, 8, 5), 5, (1, 2, 3)))
    init_weights(net, seed)
    return net.eval()


def relu_free(net):
    """The same network without ReLUs and with average pools: exactly linear (plus biases)."""
    return circuits.linearised(net)


def test_weights_is_a_copy_of_the_kernel_slice():
    net = tiny_net()
    w = circuits.weights(net, "relu2", 3, 5)
    assert torch.equal(w, net.conv2.weight[3, 5].detach())
    w += 1
    assert not torch.equal(w, net.conv2.weight[3, 5].detach())
    with pytest.raises(ValueError, match="to_channel 8 is out of range"):
        circuits.weights(net, "conv2", 8)
    with pytest.raises(ValueError, match="from_channel 6 is out of range"):
        circuits.weights(net, "conv2", 0, 6)
    with pytest.raises(ValueError, match="not a convolution"):
        circuits.weights(net, "pool1", 0)


def test_split_sign_keeps_excitation_and_inhibition_apart():
    w = torch.tensor([[0.5, -0.5], [2.0, -1.0]])
    pos, neg = circuits.split_sign(w)
    assert torch.equal(pos - neg, w) and (pos >= 0).all() and (neg >= 0).all()
    assert float(w.sum()) == 1.0 and float(pos.sum()) == 2.5  # the plain sum hides most of it


@pytest.mark.parametrize("from_layer,to_layer", [("relu1", "conv2"), ("relu1", "conv3"),
                                                 ("pool1", "conv4"), ("relu2", "relu4")])
def test_expanded_weights_by_composition_and_by_gradient_agree(from_layer, to_layer):
    net = deep_net()
    a = circuits.expanded_weights(net, from_layer, to_layer)
    b = circuits.expanded_weights_by_gradient(net, from_layer, to_layer)
    assert a.shape == b.shape
    assert (a - b).abs().max() < 1e-5


def test_expanded_weights_predict_a_relu_free_network_exactly():
    lin = relu_free(deep_net(1))
    w = circuits.expanded_weights(lin, "relu1", "conv3")  # (C3, C1, K, K)
    k = w.shape[-1]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=g)
    _, base = run_with_cache(lin, x, ["relu1", "conv3"])
    # Push relu1's activations by a random delta and read conv3's centre unit.
    delta = torch.randn(base["relu1"].shape, generator=g) * 0.1
    from interp_lib.hooks import edit
    with edit(lin, "relu1", lambda a: a + delta):
        _, moved = run_with_cache(lin, x, "conv3")
    o = moved["conv3"].shape[-1] // 2
    change = moved["conv3"][0, :, o, o] - base["conv3"][0, :, o, o]
    stride, offset = _geometry(_path(lin, "relu1", "conv3"))
    start = o * stride - offset
    window = delta[0, :, start:start + k, start:start + k]
    predicted = (w * window).sum(dim=(1, 2, 3))
    assert torch.allclose(change, predicted, atol=1e-4)


def test_image_expanded_weights_of_the_first_layer_are_its_kernels():
    net = deep_net()
    assert torch.equal(circuits.image_expanded_weights(net, "conv1", 2), net.conv1.weight[2].detach())
    assert circuits.image_expanded_weights(net, "conv2", 1).shape == (3, 14, 14)


def fingerprint(net):
    return [p.detach().clone() for p in net.parameters()], [len(m._forward_hooks) for m in net.modules()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a[0], b[0])) and a[1] == b[1]


def test_editing_hooks_restore_the_model_exactly_also_on_error():
    net = deep_net()
    x = torch.rand(2, 3, 64, 64)
    before = fingerprint(net)
    with hooks.ablate(net, "relu3", [0, 2]):
        _, acts = run_with_cache(net, x, "relu3")
        assert acts["relu3"][:, [0, 2]].abs().max() == 0
    with circuits.replace_weights(net, "conv3", 1, torch.zeros(6, 5, 5), bias=0.0):
        _, acts = run_with_cache(net, x, "conv3")
        assert acts["conv3"][:, 1].abs().max() == 0
    assert same(before, fingerprint(net))
    with pytest.raises(RuntimeError, match="boom"):
        with hooks.ablate(net, "relu2", [1]), circuits.replace_weights(net, "conv2", 0,
                                                                        torch.ones(4, 5, 5)):
            raise RuntimeError("boom")
    assert same(before, fingerprint(net))
    with pytest.raises(ValueError, match="must be shaped"):
        with circuits.replace_weights(net, "conv2", 0, torch.ones(3, 5, 5)):
            pass
    assert same(before, fingerprint(net))


def test_mean_ablation_uses_one_value_per_channel():
    net = deep_net()
    x = torch.rand(2, 3, 64, 64)
    with hooks.ablate(net, "relu2", [0, 1], value=torch.tensor([0.5, 2.0])):
        _, acts = run_with_cache(net, x, "relu2")
    assert (acts["relu2"][:, 0] == 0.5).all() and (acts["relu2"][:, 1] == 2.0).all()


def test_tangent_angles_around_a_curve():
    # A curve bulging up (270) with its centre of curvature 10 px below the midpoint.
    offsets = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    tau = circuits.tangent_angles(270.0, 10.0, offsets)
    assert torch.allclose(tau, torch.tensor([0.0, 90.0, 90.0]), atol=1e-4)



# --- curve circuits, on tunings written by hand --------------------------------------------------

ANGLES = torch.arange(8) * 22.5  # pool1's eight inputs, one line angle each


def curve_net(seed=0):
    """conv2 (4 units, 5x5) reads pool1 (8 channels, 2 pixels apart)."""
    net = ConvNet(Architecture((8, 4), 5, (1,)))
    init_weights(net, seed)
    return net.eval()


def line_tuning_of(layer, angles):
    """A LineTuning in which channel i answers lines at angles[i] only."""
    n = len(angles)
    return LineTuning(layer, torch.as_tensor(angles, dtype=torch.float32),
                      torch.eye(n).view(n, 1, n, 1, 1))


def curve_tuning_of(layer, orientations, radii):
    """A CurveTuning in which channel c answers the curve (orientations[c], radii[c]) only."""
    grid_o, grid_r = sorted(set(orientations)), sorted(set(radii))
    by_stimulus = torch.zeros(len(orientations), 1, len(grid_r), len(grid_o))
    for c, (o, r) in enumerate(zip(orientations, radii)):
        by_stimulus[c, 0, grid_r.index(r), grid_o.index(o)] = 1.0
    return CurveTuning(layer, torch.tensor(grid_o), torch.tensor(grid_r), by_stimulus,
                       line_tuning_of(layer, [0.0] * len(orientations)), (0.0, 0.0))


def test_tangent_alignment_tells_a_tangent_circuit_from_a_perpendicular_one():
    net, stride = curve_net(), 2
    tuning = curve_tuning_of("relu2", [0.0, 0.0, 90.0, 90.0], [10.0, 10.0, 8.0, 8.0])
    lines = line_tuning_of("pool1", ANGLES)
    offsets = circuits.kernel_offsets(5, stride)
    with torch.no_grad():
        net.conv2.weight[0] = circuits.tangent_rule(ANGLES, 0.0, 10.0, offsets).clamp_min(0)  # along
        net.conv2.weight[1] = circuits.tangent_rule(ANGLES + 90, 0.0, 10.0, offsets).clamp_min(0)  # across
        # Inhibition does not count: only where a unit is excited is its input's angle read.
        net.conv2.weight[2] = circuits.tangent_rule(ANGLES, 90.0, 8.0, offsets)  # along, and inhibits across
        net.conv2.weight[3] = -circuits.tangent_rule(ANGLES, 90.0, 8.0, offsets)  # across, inhibits along
    ta = circuits.tangent_alignment(net, "relu2", [0, 1, 2, 3], tuning, lines,
                                    oriented=torch.ones(8, dtype=torch.bool), stride=stride,
                                    n_shuffles=200)
    assert ta.score[0] > 0.5 and ta.score[1] < -0.5
    assert torch.allclose(ta.score[2:], ta.score[:2], atol=0.05)
    assert ta.aligned.tolist() == [True, False, True, False]
    assert ta.null.shape == (200, 4)


def test_the_curve_functions_refuse_tunings_of_the_wrong_layers():
    net = curve_net()
    tuning = curve_tuning_of("relu2", [0.0] * 4, [10.0] * 4)
    lines = line_tuning_of("pool1", ANGLES)
    everyone = torch.ones(8, dtype=torch.bool)
    with pytest.raises(ValueError, match="LineTuning of 'pool1'"):  # the detectors' own lines
        circuits.tangent_alignment(net, "relu2", [0], tuning, line_tuning_of("relu2", ANGLES),
                                   oriented=everyone, stride=2)
    with pytest.raises(ValueError, match="CurveTuning of 'relu2'"):
        circuits.hand_built_family(net, "relu2", [0], curve_tuning_of("relu1", [0.0] * 8, [5.0] * 8),
                                   lines, oriented=everyone, stride=2)
    with pytest.raises(ValueError, match="CurveTuning of 'relu2'; this one was measured on 'relu1'"):
        circuits.tangent_alignment(net, "relu2", [0], curve_tuning_of("relu1", [0.0] * 4, [5.0] * 4),
                                   lines, oriented=everyone, stride=2)
    with pytest.raises(ValueError, match="selects none"):
        circuits.hand_built_family(net, "relu2", [0], tuning, lines, oriented=~everyone, stride=2)
    with pytest.raises(ValueError, match="out of range"):
        circuits.tangent_alignment(net, "relu2", [4], tuning, lines, oriented=everyone, stride=2)


def test_hand_built_family_recovers_detectors_that_follow_the_tangent_rule():
    net, stride = curve_net(), 2
    tuning = curve_tuning_of("relu2", [0.0, 45.0, 180.0, 270.0], [10.0, 8.0, 10.0, 6.0])
    lines = line_tuning_of("pool1", ANGLES)
    oriented = torch.ones(8, dtype=torch.bool)
    oriented[5] = False  # an unoriented input: the rule gives it no weight
    planted = {0: (0.5, -0.1), 2: (2.0, 0.3)}  # unit -> (scale, bias); units 1 and 3 stay random
    offsets = circuits.kernel_offsets(5, stride)
    with torch.no_grad():
        for c, (scale, bias) in planted.items():
            rule = circuits.tangent_rule(ANGLES, float(tuning.preferred[c]),
                                         float(tuning.preferred_radius[c]), offsets, width=stride)
            net.conv2.weight[c] = scale * rule * oriented[:, None, None]
            net.conv2.bias[c] = bias
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    hand = circuits.hand_built_family(net, "relu2", [0, 1, 2, 3], tuning, lines, oriented=oriented,
                                      stride=stride, images=images)
    for c, (scale, bias) in planted.items():
        assert hand.fit[c] > 0.999
        assert hand.scales[c] == pytest.approx(scale, rel=1e-3)
        assert hand.biases[c] == pytest.approx(bias, abs=1e-3)
        assert torch.allclose(hand.weights[c], net.conv2.weight[c].detach(), atol=1e-4)
        assert hand.weights[c][5].abs().max() == 0
    assert max(hand.fit[1], hand.fit[3]) < 0.9  # random units are not what the rule describes


def composite_net():
    """relu2's unit 3 answers red images; unit 1 answers every image, more strongly."""
    net = ConvNet(Architecture((5, 4), 3, ()))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.conv1.weight[0, 0] = 1.0  # relu1 channel 0: red
        net.conv1.weight[4] = 1.0  # relu1 channel 4: brightness
        net.conv2.weight[3, 0] = 1.0
        net.conv2.weight[1, 4] = 2.0
    return net.eval()


def test_composite_reading_finds_the_selective_unit_and_reads_the_planted_members():
    net = composite_net()
    family = [2, 1, 3]  # channels of relu1, in the order their indices are read
    plan = torch.tensor([[0, 1, 2], [2, -1, 0], [1, 1, 0]])  # index into family, -1: none excites
    value = torch.tensor([[0.9, 0.2, 0.4], [0.3, -0.5, 0.6], [0.7, 0.1, 0.8]])
    with torch.no_grad():
        for y in range(3):
            for x in range(3):
                for i, c in enumerate(family):
                    chosen = i == int(plan[y, x])
                    net.conv2.weight[3, c, y, x] = value[y, x] if chosen or plan[y, x] < 0 else -0.05
    colours = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = torch.tensor([3, 3, 5, 5, 6, 6])  # class 3 is drawn red, the others green and blue
    images = colours[torch.tensor([0, 0, 1, 1, 2, 2])][:, :, None, None].expand(6, 3, 8, 8)
    reading = circuits.composite_reading(net, "relu2", family, images=images, labels=labels,
                                         class_index=3)
    assert reading.channel == 3 and reading.layer == "conv2"
    assert torch.equal(reading.best, plan)
    assert torch.allclose(reading.weight, value)
    with pytest.raises(ValueError, match="of that class and of others"):
        circuits.composite_reading(net, "relu2", family, images=images, labels=labels, class_index=0)

    orientations = torch.tensor([0.0, 90.0, 200.0])
    fig = plotting.composite_reading(reading, orientations)
    cells = fig.axes
    assert [len(ax.images) for ax in cells] == [0 if m < 0 else 1 for m in plan.flatten().tolist()]
    # Each cell draws its member's arc, faded by its weight over the largest (0.9).
    for cell, member, weight in ((0, 0, 0.9), (2, 2, 0.4)):
        glyph = stimuli.curves(float(orientations[member]), radius=7.0, size=24, width=3.0)[0]
        expected = torch.as_tensor(plotting.to_numpy_image(1 - weight / 0.9 * glyph))
        drawn = torch.as_tensor(np.asarray(cells[cell].images[0].get_array()))
        assert torch.allclose(drawn, expected, atol=1e-5)
    plt.close(fig)
