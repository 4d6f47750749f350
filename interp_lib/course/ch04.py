"""Checks for chapter 4, circuits.

Each check that takes a model runs on two: a small organism (flat, 2 x 2 pools) and
a narrow network laid out as torchvision's AlexNet (nested Sequentials, dotted layer
names, 3 x 3 stride-2 pools), where code written for the organism's layout alone
breaks. Weight algebra is also timed on the chapter's real sizes (conv5-s0's relu1
to conv3).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from interp_lib import circuits
from interp_lib.course.checks import (call, check, constant_factor, expect_close, expect_detached,
                                      expect_fast, expect_shape, fail)
from interp_lib.course.wild import DOTTED_NAMES, call_nested, torchvision_shaped_net
from interp_lib.hooks import run_with_cache
from interp_lib.organism.models import Architecture, ConvNet, init_weights

TITLE = "Circuits"


def _net(seed: int = 0) -> ConvNet:
    """A small organism: four 5x5 convs, max-pools after the first three."""
    net = ConvNet(Architecture((4, 6, 8, 5), 5, (1, 2, 3)))
    init_weights(net, seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.copy_(torch.linspace(-0.2, 0.2, m.bias.numel()))
    return net.eval()


# The chapter's real sizes: conv5-s0's conv3 spread through pool2, then composed with conv2.
_CONV3, _CONV2 = (96, 24, 5, 5), (24, 16, 5, 5)


def _real_weights(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.1


@check("kernel_between", points=1, twins=["interp_lib.circuits.weights"])
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
    if torch.equal(out, w[5, 2].flip(-1, -2)):
        fail("your kernel is rotated by 180 degrees: a Conv2d cross-correlates (no flip), so "
             "weight[..., y, x] is the weight at that offset, as stored.")
    expect_close(out, w[5, 2], "weight[to_channel, from_channel] of the named convolution.")
    expect_detached(out, "the kernel kernel_between returns", "Return a copy cut off from the "
                    "model: .detach().clone().")
    out = call(fn, net, "conv2", 0, 3, what="kernel_between(model, 'conv2', 0, 3)")
    if isinstance(out, torch.Tensor) and out.shape == (5, 5) and torch.equal(out, w[0, 3]):
        fail("asked for conv2 you read conv3: read the layer named by `layer` "
             "(model.get_submodule(layer)).")
    expect_close(out, net.conv2.weight.detach()[0, 3], "read the layer you are asked for.",
                 what="kernel_between(model, 'conv2', 0, 3)")
    before = net.conv3.weight.detach().clone()
    out = fn(net, "conv3", 5, 2)
    with torch.no_grad():
        out += 1.0  # what a learner might do next with the kernel
    if not torch.equal(net.conv3.weight.detach(), before):
        fail("changing the kernel you returned changed the model's weights: you returned a "
             "view of them. Return a copy (.detach().clone()).")
    wild = torchvision_shaped_net(1)
    what = "kernel_between(alexnet_like, 'features.8', 3, 5)"
    expect_close(call_nested(fn, wild, "features.8", 3, 5, what=what),
                 wild.features[8].weight.detach()[3, 5], "in a nested network too, the named "
                 "layer's weight[to_channel, from_channel].", what=what)


@check("split_sign", points=1)
def check_split_sign(fn) -> None:
    w = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(1))
    out = call(fn, w, what="split_sign(w)")
    if not (isinstance(out, tuple) and len(out) == 2):
        fail("split_sign should return a pair (excitation, inhibition).")
    pos, neg = out
    expect_shape(pos, tuple(w.shape), "the excitation")
    expect_shape(neg, tuple(w.shape), "the inhibition")
    if torch.allclose(pos, (-w).clamp(min=0)) and torch.allclose(neg, w.clamp(min=0)):
        fail("you returned (inhibition, excitation): the excitation, w.clamp(min=0), comes first.")
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
    small = w * 1e-3  # trained kernels hold many weights this small
    pos, neg = call(fn, small, what="split_sign(w) for small weights")
    if not torch.allclose(pos - neg, small, rtol=1e-5, atol=1e-10):
        fail("for small weights (w * 0.001) excitation - inhibition is not w: the sign alone "
             "decides which part a weight goes to; do not treat small weights as zero.")


def _spread(w: torch.Tensor) -> torch.Tensor:
    return w.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2) / 4


@check("spread_through_pool", points=2)
def check_spread_through_pool(fn) -> None:
    w = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    out = call(fn, w, what="spread_through_pool(w)")
    expect_shape(out, (2, 3, 10, 10), "spread_through_pool(w) for w (2, 3, 5, 5)")
    ref = _spread(w)
    if torch.allclose(out, ref * 4):
        fail("each weight was copied to all four inputs of its 2 x 2 block: an average gives "
             "each a quarter (a max-pool treated as an average, as the Circuits thread does).")
    corner = torch.zeros_like(ref)
    corner[..., ::2, ::2] = w
    if any(torch.allclose(out, c) for c in (corner, corner / 4)):
        fail("each weight went to one input of its 2 x 2 block (as if the max-pool's winner were "
             "always the top-left one): treated as an average, all four inputs get w / 4.")
    factor = constant_factor(out, ref)
    if factor is not None:
        fail(f"your weights are {factor:.3g} times the right ones: each of the four inputs of a "
             "2 x 2 block gets a quarter of the weight (w / 4).")
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
    expect_fast(fn, _spread, _real_weights(_CONV3, 10), what="spread_through_pool",
                on="conv5-s0's conv3 (96 x 24 kernels of 5 x 5)",
                cause="a Python loop over the kernel's entries? repeat_interleave (or a transposed "
                      "convolution) spreads them all at once.")


@check("compose_through_conv", points=3)
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
    if any(torch.allclose(out, t, atol=1e-5) for t in (
            nn.functional.conv_transpose2d(outer, inner.transpose(-1, -2)),
            nn.functional.conv_transpose2d(outer.transpose(-1, -2), inner))):
        fail("one kernel is transposed (rows and columns swapped): entry [y, x] is row y, "
             "column x, in both kernels and in the result.")
    if torch.allclose(out, nn.functional.conv_transpose2d(outer.flip(1), inner), atol=1e-5):
        fail("the middle channels are paired in the wrong order: channel m of w_outer (its dim 1) "
             "goes with channel m of w_inner (its dim 0).")
    factor = constant_factor(out, ref)
    if factor is not None:
        fail(f"your composed weights are {factor:.3g} times the right ones: the composition is "
             "a plain sum over the middle channels and over p + q = r, not an average.")
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
    expect_fast(fn, nn.functional.conv_transpose2d, _spread(_real_weights(_CONV3, 11)),
                _real_weights(_CONV2, 12), what="compose_through_conv",
                on="relu1 -> conv3 of conv5-s0 (kernels 96 x 24 x 10 x 10 and 24 x 16 x 5 x 5)",
                cause="a Python loop over kernel positions? F.conv_transpose2d(w_outer, w_inner) "
                      "composes every position at once.")


def _size(x) -> tuple[int, int]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)


def _check_linear(lin: nn.Module, x: torch.Tensor) -> None:
    # Linear (plus bias): f(a + b) - f(0) = (f(a) - f(0)) + (f(b) - f(0)).
    with torch.no_grad():
        zero = lin(torch.zeros_like(x))
        if not torch.allclose(lin(x + x.flip(0)) - zero, (lin(x) - zero) + (lin(x.flip(0)) - zero),
                              atol=1e-4):
            fail("your linearised model is not linear.")


@check("linearise", points=2, twins=["interp_lib.circuits.linearised"])
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
    if any(isinstance(lin.get_submodule(name), nn.Identity) for name, m in net.named_modules()
           if isinstance(m, nn.MaxPool2d)):
        fail("a max-pool became nn.Identity: the pooling still halves the grid in the linear "
             "network; replace it with nn.AvgPool2d of the same size and stride.")
    for name, m in net.named_modules():
        new = lin.get_submodule(name)
        if isinstance(m, nn.ReLU) and not isinstance(new, nn.Identity):
            fail(f"{name}, a ReLU, became {type(new).__name__} in your copy: the linear network "
                 "passes every value through unchanged, nn.Identity().")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expect_close(lin(x), circuits.linearised(net)(x), "ReLU -> identity, max-pool -> "
                     "average-pool, weights unchanged.", what="the linearised model's output",
                     atol=1e-5)
    _check_linear(lin, x)
    # torchvision's layout: ReLUs inside Sequentials, 3 x 3 pools of stride 2.
    wild = torchvision_shaped_net(2)
    lin = call(fn, wild, what="linearise(alexnet_like)")
    left = [name for name, m in lin.named_modules() if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
    if left:
        fail(f"on a network laid out as torchvision's AlexNet, {len(left)} ReLUs or max-pools "
             f"are left in your copy ({', '.join(left[:3])}, ...): they sit inside nested "
             "Sequentials. Walk the copy's named_modules(), which visits every submodule, and "
             "replace each on its parent: setattr(copy.get_submodule(parent), child, new).")
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(15))
    for name, m in wild.named_modules():
        new = lin.get_submodule(name)
        if isinstance(m, nn.MaxPool2d) and isinstance(new, nn.AvgPool2d) and (
                _size(new.kernel_size), _size(new.stride)) != (_size(m.kernel_size), _size(m.stride)):
            with torch.no_grad():
                side = tuple(lin.features(x).shape[-2:])
            shrunk = f" Features come out {side[0]} x {side[1]} instead of 6 x 6." if side != (6, 6) else ""
            fail(f"your average-pool {name} has kernel {_size(new.kernel_size)[0]} and stride "
                 f"{_size(new.stride)[0]}, the max-pool it replaces {_size(m.kernel_size)[0]} and "
                 f"{_size(m.stride)[0]}: give nn.AvgPool2d the max-pool's own kernel_size and "
                 f"stride (its stride defaults to its kernel size).{shrunk}")
    with torch.no_grad():
        expect_close(lin(x), circuits.linearised(wild)(x), "every ReLU, at any depth, the "
                     "identity; every max-pool an average-pool of the same size and stride.",
                     what="the linearised AlexNet-like network's output", atol=1e-4)
    _check_linear(lin, x)


def _forward_hooks(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())


@check("ablate_channels", points=2, twins=["interp_lib.hooks.ablate"])
def check_ablate_channels(fn) -> None:
    net = _net(3)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        clean = net(x)
    with fn(net, "relu3", [1, 4]):
        _, acts = run_with_cache(net, x, ["relu3", "relu2"])
        if acts["relu3"][:, [1, 4]].abs().max() != 0:
            fail("inside the block, channels 1 and 4 of relu3 should be 0.")
        others = [c for c in range(8) if c not in (1, 4)]
        if acts["relu3"][:, others].abs().max() == 0:
            fail("you silenced every channel: only the listed ones go to 0.")
        # Back-propagation must still work through the edited layer.
        xg = x.clone().requires_grad_(True)
        try:
            torch.autograd.grad(net(xg)[:, 0].sum(), xg)
        except RuntimeError as e:
            fail(f"back-propagation through the ablated layer fails ({str(e).split('.')[0]}): "
                 "build a new tensor in the hook (output.clone()) rather than changing the "
                 "layer's output in place.")
    if _forward_hooks(net) != 0:
        fail("a hook is left on the model after the block: remove it when the block ends.")
    # A convolution: its output channel goes to 0, bias and all (the chapter ablates relu3,
    # but the exercise is about any layer).
    with fn(net, "conv3", [2]):
        _, acts = run_with_cache(net, x, "conv3")
    if acts["conv3"][:, 2].abs().max() != 0 or acts["conv3"][:, 0].abs().max() == 0:
        fail("ablate_channels(model, 'conv3', [2]): channel 2 of conv3's OUTPUT should be 0 inside "
             "the block, and the others not. Edit the layer's output in a forward hook: a "
             "pre-hook changes the layer's input channels, and zeroing the weights leaves the bias.")
    if sum(len(m._forward_pre_hooks) for m in net.modules()) != 0 or _forward_hooks(net) != 0:
        fail("a hook is left on the model after the block: remove it when the block ends.")
    with torch.no_grad():
        if not torch.equal(net(x), clean):
            fail("after the block the model does not compute what it did before.")
    try:
        with fn(net, "relu2", [0]):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    if _forward_hooks(net) != 0:
        fail("when the block raises, the hook stays on the model: remove it in a finally "
             "clause (try: yield / finally: handle.remove()).")
    # A dotted name, and a ReLU that works in place, as in torchvision's AlexNet.
    wild = torchvision_shaped_net(3)
    x = torch.rand(2, 3, 127, 127, generator=torch.Generator().manual_seed(16))
    try:
        with fn(wild, "features.9", [0, 2]):
            _, acts = run_with_cache(wild, x, "features.9")
    except (AttributeError, LookupError, StopIteration):
        fail(f"ablate_channels(alexnet_like, 'features.9', [0, 2]) could not find the layer: "
             f"{DOTTED_NAMES}")
    if acts["features.9"][:, [0, 2]].abs().max() != 0 or acts["features.9"][:, 1].abs().max() == 0:
        fail("in a nested network, channels 0 and 2 of features.9 (a ReLU inside a Sequential) "
             "should be 0 inside the block, and the others not.")
    if _forward_hooks(wild) != 0:
        fail("a hook is left on the AlexNet-like network after the block.")


@check("echo_ratio", points=1)
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
    peak = responses.amax(dim=1).clamp_min(1e-12)
    expected = responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0] / peak
    quarter = responses.gather(1, ((best + n // 4) % n)[:, None])[:, 0] / peak
    if torch.allclose(out, quarter, atol=1e-6):
        fail("you read the response 90 degrees away: the echo is 180 degrees away (O // 2 steps).")
    if torch.allclose(out, responses.amin(dim=1) / peak, atol=1e-6):
        fail("you read each channel's smallest response: the echo is the response 180 degrees "
             "from the preferred orientation, whatever its size.")
    if torch.allclose(out[[0, 1, 3, 4]], (1 / expected)[[0, 1, 3, 4]], rtol=1e-4):
        fail("your ratio is upside down: the echo's response over the peak, at most 1.")
    by_mean = responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0] / responses.mean(1).clamp_min(1e-12)
    if torch.allclose(out[[0, 1, 3, 4]], by_mean[[0, 1, 3, 4]], rtol=1e-4):
        fail("you divided by the mean response: the echo is compared with the peak (amax).")
    unwrapped = responses.gather(1, (best + n // 2).clamp(max=n - 1)[:, None])[:, 0] / peak
    if torch.allclose(out, unwrapped, atol=1e-6):
        fail("past the last orientation your count stops: go round the circle, "
             "(preferred + O // 2) % O.")
    expect_close(out, expected, "response at (preferred + O // 2) % O over the peak.", atol=1e-6)
    eight = responses[:, ::2]  # 8 orientations: the echo is 4 steps away
    got = call(fn, eight, what="echo_ratio for 8 orientations")
    if isinstance(got, torch.Tensor) and got.shape == (5,) and torch.allclose(
            got[[0, 1, 3, 4]], torch.ones(4)):
        fail("for 8 orientations every channel is its own echo in your code: you moved a fixed "
             "8 steps, right for 16 orientations only. The echo is O // 2 steps away.")
    expect_close(got,
                 eight.gather(1, ((eight.argmax(1) + 4) % 8)[:, None])[:, 0]
                 / eight.amax(1).clamp_min(1e-12),
                 "the echo is O // 2 steps away for any even O.",
                 what="echo_ratio(responses (5, 8))", atol=1e-6)


def _tangent_reference(thetas, orientation, radius, k, stride, *, envelope=True):
    return circuits.tangent_rule(thetas, orientation, radius, circuits.kernel_offsets(k, stride),
                                 width=stride if envelope else None)


def _tangent_variant(thetas, orientation, radius, k, stride, *, behind=True, y_down=True,
                     degrees=True, orientation_degrees=True, width=None):
    """The tangent rule written out, with one convention changed: where a mistake lands."""
    offsets = (torch.arange(k) - k // 2).float() * stride
    ys, xs = torch.meshgrid(offsets, offsets, indexing="ij")
    ys = ys if y_down else -ys
    phi = math.radians(orientation) if orientation_degrees else orientation
    sign = -1.0 if behind else 1.0
    cx, cy = sign * radius * math.cos(phi), sign * radius * math.sin(phi)
    tangent = torch.atan2(ys - cy, xs - cx) + math.pi / 2
    width = stride if width is None else width
    near = torch.exp(-((torch.hypot(xs - cx, ys - cy) - radius) ** 2) / (2 * width**2))
    theta = (torch.deg2rad(thetas.float()) if degrees else thetas.float())[:, None, None]
    return torch.cos(2 * (theta - tangent)) * near


@check("tangent_weights", points=3, twins=["interp_lib.circuits.tangent_rule"])
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
    other = (thetas, 135.0, 6.0, 3, 2)  # an orientation off the axes shows every convention
    mistakes = [
        ({"behind": False}, "the centre of curvature is in front of the curve: it lies "
         "`radius` pixels *behind* the midpoint, c = -radius * (cos, sin)(orientation), so "
         "that the curve bulges towards `orientation`."),
        ({"y_down": False}, "your y axis points up: in an image y (the row) grows downwards, "
         "and orientations are measured clockwise from 'right'."),
        ({"degrees": False}, "the input orientations are in degrees: convert them "
         "(torch.deg2rad) before taking cos(2 (theta - tangent))."),
        ({"orientation_degrees": False}, "the curve's orientation is in degrees: take "
         "math.radians(orientation) before its cos and sin."),
        ({"width": 1.0}, "your envelope's width is 1 pixel: it is the stride, exp(-d^2 / "
         "(2 stride^2)), so that it spans the gap between input positions."),
        ({"width": 2.0 ** 0.5}, "your envelope divides by 2 stride, not 2 stride^2: exp(-d^2 / "
         "(2 stride^2))."),
    ]
    got = call(fn, *other, what="tangent_weights(angles, 135, 6, k=3, stride=2)")
    expect_shape(got, (8, 3, 3), "tangent_weights for 8 inputs, k=3")
    for variant, message in mistakes:
        wrong = _tangent_variant(*other, **variant)
        if torch.allclose(got, wrong, atol=1e-5) and not torch.allclose(
                wrong, _tangent_reference(*other), atol=1e-5):
            fail(message)
    for i, label in ((1, "orientation"), (2, "radius"), (4, "stride")):
        first = (thetas, 0.0, 10.0, 3, 4)  # the first call's values, in a window of 3
        kept = tuple(first[j] if j == i else other[j] for j in range(5))
        if torch.allclose(got, _tangent_reference(*kept), atol=1e-5):
            fail(f"your weights do not change with the {label}: use the {label} you are given "
                 "(a value from the first example is fixed in your code).")
    expect_close(out, ref, "cos(2 (input angle - tangent angle)) times exp(-d^2 / (2 stride^2)) "
                 "at each kernel offset (x, y) = ((col - k // 2) * stride, (row - k // 2) * stride).",
                 atol=1e-5)
    expect_close(got, _tangent_reference(*other), "use the orientation, radius, k and stride you "
                 "are given.", what="tangent_weights(angles, 135, 6, k=3, stride=2)", atol=1e-5)
