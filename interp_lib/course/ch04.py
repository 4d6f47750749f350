"""Checks for chapter 4, circuits."""

from __future__ import annotations

import torch
from torch import nn

from interp_lib import circuits
from interp_lib.course.checks import call, check, expect_close, expect_shape, fail
from interp_lib.hooks import run_with_cache
from interp_lib.organism.models import Architecture, ConvNet, init_weights


def _net(seed: int = 0) -> ConvNet:
    """A small organism: four 5x5 convs, max-pools after the first three."""
    net = ConvNet(Architecture((4, 6, 8, 5), 5, (1, 2, 3)))
    init_weights(net, seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.copy_(torch.linspace(-0.2, 0.2, m.bias.numel()))
    return net.eval()


@check("kernel_between")
def check_kernel_between(fn) -> None:
    net = _net()
    out = call(fn, net, "conv3", 5, 2, what="kernel_between(model, 'conv3', to_channel=5, "
                                           "from_channel=2)")
    expect_shape(out, (5, 5), "kernel_between(model, 'conv3', 5, 2)")
    w = net.conv3.weight.detach()
    if torch.equal(out, w[2, 5]):
        fail("you read weight[from_channel, to_channel]: a Conv2d's weight is (out, in, k, k), "
             "the receiving unit first.")
    if torch.equal(out, w[5, 2].T):
        fail("your kernel is transposed: entry [y, x] is row y, column x, as the weight stores it.")
    expect_close(out, w[5, 2], "weight[to_channel, from_channel] of the named convolution.")
    expect_close(call(fn, net, "conv2", 0, 3, what="kernel_between(model, 'conv2', 0, 3)"),
                 net.conv2.weight.detach()[0, 3], "read the layer you are asked for.",
                 what="kernel_between(model, 'conv2', 0, 3)")
    before = net.conv3.weight.detach().clone()
    out = fn(net, "conv3", 5, 2)
    with torch.no_grad():
        out += 1.0  # what a learner might do next with the kernel
    if not torch.equal(net.conv3.weight.detach(), before):
        fail("changing the kernel you returned changed the model's weights: you returned a "
             "view of them. Return a copy (.detach().clone()).")


@check("split_sign")
def check_split_sign(fn) -> None:
    w = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(1))
    out = call(fn, w, what="split_sign(w)")
    if not (isinstance(out, tuple) and len(out) == 2):
        fail("split_sign should return a pair (excitation, inhibition).")
    pos, neg = out
    expect_shape(pos, tuple(w.shape), "the excitation")
    expect_shape(neg, tuple(w.shape), "the inhibition")
    if (neg < 0).any() and torch.allclose(neg, w.clamp(max=0)):
        fail("your inhibition is negative: give its size, (-w).clamp(min=0), so that both parts "
             "are >= 0 and excitation - inhibition == w.")
    if torch.allclose(pos, w.abs()):
        fail("your excitation is |w|: it should be the positive part only.")
    expect_close(pos - neg, w, "excitation - inhibition must give the weights back.",
                 what="excitation - inhibition")
    if (pos < 0).any() or (neg < 0).any():
        fail("both parts must be >= 0.")
    if ((pos > 0) & (neg > 0)).any():
        fail("a weight is either excitatory or inhibitory: it cannot be in both parts.")


@check("spread_through_pool")
def check_spread_through_pool(fn) -> None:
    w = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    out = call(fn, w, what="spread_through_pool(w)")
    expect_shape(out, (2, 3, 10, 10), "spread_through_pool(w) for w (2, 3, 5, 5)")
    ref = w.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2) / 4
    if torch.allclose(out, ref * 4):
        fail("each weight was copied to all four inputs of its 2 x 2 block: an average gives "
             "each a quarter (a max-pool treated as an average, as the Circuits thread does).")
    if torch.allclose(out.sum(dim=(-2, -1)), w.sum(dim=(-2, -1))) and not torch.allclose(out, ref):
        fail("the totals are right but the weights are not where they belong: each kernel "
             "entry [y, x] becomes the 2 x 2 block [2y:2y+2, 2x:2x+2].")
    expect_close(out, ref, "each kernel entry becomes a 2 x 2 block of a quarter of it.")
    # It is what the pool does: the average-pooled map dotted with w equals the map dotted
    # with the spread weights.
    x = torch.randn(3, 10, 10, generator=torch.Generator().manual_seed(3))
    pooled = nn.functional.avg_pool2d(x[None], 2)[0]
    lhs = (w[0] * pooled).sum()
    rhs = (out[0] * x).sum()
    if not torch.isclose(lhs, rhs, atol=1e-5):
        fail("your spread weights do not give what the pooled weights give on the same map.")


@check("compose_through_conv")
def check_compose_through_conv(fn) -> None:
    net = _net(1)
    outer, inner = net.conv3.weight.detach(), net.conv2.weight.detach()
    out = call(fn, outer, inner, what="compose_through_conv(w_outer, w_inner)")
    expect_shape(out, (8, 4, 9, 9), "compose_through_conv for kernels (8, 6, 5, 5) and "
                 "(6, 4, 5, 5)")
    ref = nn.functional.conv_transpose2d(outer, inner)
    flipped = nn.functional.conv_transpose2d(outer, inner.flip(-1, -2))
    if torch.allclose(out, flipped, atol=1e-5):
        fail("one kernel is flipped relative to the other: a composition is a full "
             "convolution (sum over p + q = r), which F.conv2d, a cross-correlation, is not.")
    expect_close(out, ref, "the composed weight at offset r sums w_outer[p] * w_inner[q] over "
                 "the middle channels and over p + q = r.", atol=1e-5)
    # The composition is what a linear (ReLU-free) pair of convolutions computes.
    lin = circuits.linearised(net)
    path = nn.Sequential(lin.conv2, lin.relu2, lin.conv3)
    x = torch.randn(1, 4, 9, 9, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        bias = path(torch.zeros_like(x))
        got = (path(x) - bias)[0, :, 4, 4]  # the centre unit sees exactly the 9 x 9 window
    if not torch.allclose((out * x).sum(dim=(1, 2, 3)), got, atol=1e-4):
        fail("your expanded weights do not predict what the two convolutions compute.")


@check("linearise")
def check_linearise(fn) -> None:
    net = _net(2)
    before = [type(m) for m in net.modules()]
    lin = call(fn, net, what="linearise(model)")
    if lin is net:
        fail("you changed the model you were given and returned it: work on a copy "
             "(copy.deepcopy(model)).")
    if [type(m) for m in net.modules()] != before:
        fail("you replaced the layers of the model you were given: work on a copy.")
    if not isinstance(lin, nn.Module):
        fail("linearise should return a model (an nn.Module).")
    kinds = [type(m) for m in lin.modules()]
    if nn.ReLU in kinds:
        fail("a ReLU is left in your copy: replace each with nn.Identity().")
    if nn.MaxPool2d in kinds:
        fail("a max-pool is left in your copy: replace each with nn.AvgPool2d of the same size.")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    ref = circuits.linearised(net)
    with torch.no_grad():
        expect_close(lin(x), ref(x), "ReLU -> identity, max-pool -> average-pool, weights "
                     "unchanged.", what="the linearised model's output", atol=1e-5)
        # Linear (plus bias): f(a + b) - f(0) = (f(a) - f(0)) + (f(b) - f(0)).
        zero = lin(torch.zeros_like(x))
        if not torch.allclose(lin(x + x.flip(0)) - zero, (lin(x) - zero) + (lin(x.flip(0)) - zero),
                              atol=1e-4):
            fail("your linearised model is not linear.")


@check("ablate_channels")
def check_ablate_channels(fn) -> None:
    net = _net(3)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))

    def hooks() -> int:
        return sum(len(m._forward_hooks) for m in net.modules())

    with torch.no_grad():
        clean = net(x)
    with fn(net, "relu3", [1, 4]):
        _, acts = run_with_cache(net, x, ["relu3", "relu2"])
        if acts["relu3"][:, [1, 4]].abs().max() != 0:
            fail("inside the block, channels 1 and 4 of relu3 should be 0.")
        others = [c for c in range(8) if c not in (1, 4)]
        _, plain = run_with_cache(net, x, "relu3")
        if acts["relu3"][:, others].abs().max() == 0:
            fail("you silenced every channel: only the listed ones go to 0.")
        # Back-propagation must still work through the edited layer.
        xg = x.clone().requires_grad_(True)
        try:
            (grad,) = torch.autograd.grad(net(xg)[:, 0].sum(), xg)
        except RuntimeError as e:
            fail(f"back-propagation through the ablated layer fails ({str(e).split('.')[0]}): "
                 "build a new tensor in the hook (output.clone()) rather than changing the "
                 "layer's output in place.")
    if hooks() != 0:
        fail("a hook is left on the model after the block: remove it when the block ends.")
    with torch.no_grad():
        if not torch.equal(net(x), clean):
            fail("after the block the model does not compute what it did before.")
    try:
        with fn(net, "relu2", [0]):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    if hooks() != 0:
        fail("when the block raises, the hook stays on the model: remove it in a finally "
             "clause (try: yield / finally: handle.remove()).")


@check("echo_ratio")
def check_echo_ratio(fn) -> None:
    g = torch.Generator().manual_seed(7)
    responses = torch.rand(5, 16, generator=g) * 0.2
    responses[0, 3] = 2.0
    responses[0, 11] = 1.0  # an echo at half the peak, 180 degrees away
    responses[1, 14] = 3.0
    responses[1, 6] = 0.6  # 180 degrees from 14 is 14 + 8 = 22 = 6 around the circle
    responses[2] = 0.0  # a silent channel
    out = call(fn, responses, what="echo_ratio(responses)")
    expect_shape(out, (5,), "echo_ratio(responses) for responses (5, 16)")
    if not torch.isfinite(out).all():
        fail("your result has NaN or infinity: a silent channel (all 0) should give 0.")
    n = 16
    best = responses.argmax(dim=1)
    expected = responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0] / \
        responses.amax(dim=1).clamp_min(1e-12)
    quarter = responses.gather(1, ((best + n // 4) % n)[:, None])[:, 0] / \
        responses.amax(dim=1).clamp_min(1e-12)
    if torch.allclose(out, quarter, atol=1e-6):
        fail("you read the response 90 degrees away: the echo is 180 degrees away (O // 2 steps).")
    expect_close(out, expected, "response at (preferred + O // 2) % O over the peak.", atol=1e-6)
    eight = responses[:, ::2]  # 8 orientations: the echo is 4 steps away
    expect_close(call(fn, eight, what="echo_ratio for 8 orientations"),
                 eight.gather(1, ((eight.argmax(1) + 4) % 8)[:, None])[:, 0]
                 / eight.amax(1).clamp_min(1e-12),
                 "the echo is O // 2 steps away for any even O.",
                 what="echo_ratio(responses (5, 8))", atol=1e-6)


def _tangent_reference(thetas, orientation, radius, k, stride, *, envelope=True):
    return circuits.tangent_rule(thetas, orientation, radius, circuits.kernel_offsets(k, stride),
                                 width=stride if envelope else None)


@check("tangent_weights")
def check_tangent_weights(fn) -> None:
    thetas = torch.arange(8) * 22.5
    out = call(fn, thetas, 0.0, 10.0, 5, 4, what="tangent_weights(angles, 0, 10, k=5, stride=4)")
    expect_shape(out, (8, 5, 5), "tangent_weights for 8 inputs, k=5")
    ref = _tangent_reference(thetas, 0.0, 10.0, 5, 4)
    if torch.allclose(out, ref.transpose(-1, -2), atol=1e-5) and not torch.allclose(out, ref, atol=1e-5):
        fail("rows and columns are swapped: entry [y, x] is row y (down), column x (right).")
    if torch.allclose(out, -ref, atol=1e-5):
        fail("you excite inputs perpendicular to the tangent and inhibit those along it: the "
             "tangent is at 90 degrees to the radius p - c, and inputs along it get +1.")
    if torch.allclose(out, ref.clamp(min=0), atol=1e-5):
        fail("you kept only the excitation: inputs across the tangent are inhibited "
             "(cos(2 (theta - tau)) down to -1), which is what keeps straight lines out.")
    no_envelope = _tangent_reference(thetas, 0.0, 10.0, 5, 4, envelope=False)
    if torch.allclose(out, no_envelope, atol=1e-5):
        fail("every position of the window gets weights: only those near the curve should "
             "(times exp(-d^2 / (2 stride^2)), d the distance to the curve's circle).")
    expect_close(out, ref, "cos(2 (input angle - tangent angle)) times exp(-d^2 / (2 stride^2)) "
                 "at each kernel offset (x, y) = ((col - k // 2) * stride, (row - k // 2) * stride).",
                 atol=1e-5)
    other = call(fn, thetas, 135.0, 6.0, 3, 2, what="tangent_weights(angles, 135, 6, k=3, stride=2)")
    expect_close(other, _tangent_reference(thetas, 135.0, 6.0, 3, 2),
                 "use the orientation, radius, k and stride you are given.",
                 what="tangent_weights(angles, 135, 6, k=3, stride=2)", atol=1e-5)
