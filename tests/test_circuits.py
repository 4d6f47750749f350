import pytest
import torch
from torch import nn

from interp_lib import circuits
from interp_lib.hooks import run_with_cache
from interp_lib.organism.models import Architecture, ConvNet, init_weights, tiny_net


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


@pytest.mark.parametrize("source,target", [("relu1", "conv2"), ("relu1", "conv3"),
                                           ("pool1", "conv4"), ("relu2", "relu4")])
def test_expanded_weights_by_composition_and_by_gradient_agree(source, target):
    net = deep_net()
    a = circuits.expanded_weights(net, source, target)
    b = circuits.expanded_weights_by_gradient(net, source, target)
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
    stride, offset = circuits._geometry(circuits._path(lin, "relu1", "conv3"))
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
    with circuits.ablate(net, "relu3", [0, 2]):
        _, acts = run_with_cache(net, x, "relu3")
        assert acts["relu3"][:, [0, 2]].abs().max() == 0
    with circuits.replace_weights(net, "conv3", 1, torch.zeros(6, 5, 5), bias=0.0):
        _, acts = run_with_cache(net, x, "conv3")
        assert acts["conv3"][:, 1].abs().max() == 0
    assert same(before, fingerprint(net))
    with pytest.raises(RuntimeError, match="boom"):
        with circuits.ablate(net, "relu2", [1]), circuits.replace_weights(net, "conv2", 0,
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
    with circuits.ablate(net, "relu2", [0, 1], value=torch.tensor([0.5, 2.0])):
        _, acts = run_with_cache(net, x, "relu2")
    assert (acts["relu2"][:, 0] == 0.5).all() and (acts["relu2"][:, 1] == 2.0).all()


def test_tangent_angles_around_a_curve():
    # A curve bulging up (270) with its centre of curvature 10 px below the midpoint.
    offsets = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    tau = circuits.tangent_angles(270.0, 10.0, offsets)
    assert torch.allclose(tau, torch.tensor([0.0, 90.0, 90.0]), atol=1e-4)


def test_tangent_alignment_tells_a_tangent_circuit_from_a_perpendicular_one():
    k, stride = 5, 4
    thetas = torch.arange(8) * 22.5  # eight oriented input units
    net = nn.Module()
    net.conv = nn.Conv2d(8, 2, k, padding=2)
    grid = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    tau = circuits.tangent_angles(0.0, 10.0, torch.stack([xs, ys], dim=-1))
    with torch.no_grad():
        for i, th in enumerate(thetas):
            net.conv.weight[0, i] = torch.cos(2 * torch.deg2rad(th - tau)).clamp_min(0)  # along
            net.conv.weight[1, i] = torch.cos(2 * torch.deg2rad(th - tau - 90)).clamp_min(0)  # across
    ta = circuits.tangent_alignment(net, "conv", [0, 1], [0.0, 0.0], [10.0, 10.0], thetas,
                                    torch.ones(8, dtype=torch.bool), stride=stride, n_shuffles=200)
    assert ta.score[0] > 0.5 and ta.score[1] < -0.5
    assert bool(ta.aligned[0]) and not bool(ta.aligned[1])
