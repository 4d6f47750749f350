import copy
import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from interp_lib import circuits, hooks


def _kernel_view(model, layer, to_channel, from_channel):
    return model.get_submodule(layer).weight.data[to_channel, from_channel]  # a view


def _compose_conv2d(w_outer, w_inner):
    # Cross-correlation instead of convolution: pad and correlate, one kernel flipped.
    k = w_inner.shape[-1]
    return F.conv2d(F.pad(w_outer, (k - 1,) * 4), w_inner.transpose(0, 1))


def _linearise_in_place(model):
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.ReLU):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, nn.Identity())
        elif isinstance(module, nn.MaxPool2d):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, nn.AvgPool2d(2))
    return model


def _linearise_keeps_maxpool(model):
    lin = copy.deepcopy(model)
    for name, module in list(lin.named_modules()):
        if isinstance(module, nn.ReLU):
            parent, _, child = name.rpartition(".")
            setattr(lin.get_submodule(parent) if parent else lin, child, nn.Identity())
    return lin


def _linearise_drops_relu_to_leaky(model):
    lin = copy.deepcopy(model)
    for name, module in list(lin.named_modules()):
        if isinstance(module, (nn.ReLU, nn.MaxPool2d)):
            parent, _, child = name.rpartition(".")
            new = nn.LeakyReLU(0.5) if isinstance(module, nn.ReLU) else nn.AvgPool2d(2)
            setattr(lin.get_submodule(parent) if parent else lin, child, new)
    return lin


@contextmanager
def _ablate_no_finally(model, layer, channels):
    h = model.get_submodule(layer).register_forward_hook(
        lambda m, i, o: o * torch.tensor([0.0 if c in channels else 1.0
                                          for c in range(o.shape[1])]).view(1, -1, 1, 1))
    yield
    h.remove()  # skipped when the block raises


@contextmanager
def _ablate_in_place(model, layer, channels):
    def hook(m, i, o):
        o[:, list(channels)] = 0  # changes the ReLU's own output
        return o
    h = model.get_submodule(layer).register_forward_hook(hook)
    try:
        yield
    finally:
        h.remove()


@contextmanager
def _ablate_never_removed(model, layer, channels):
    def hook(m, i, o):
        out = o.clone()
        out[:, list(channels)] = 0
        return out
    model.get_submodule(layer).register_forward_hook(hook)
    yield


@contextmanager
def _ablate_all(model, layer, channels):
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    try:
        yield
    finally:
        h.remove()


def _echo(shift="half", wrap=True, guard=True):
    def echo(r):
        n = r.shape[1]
        best = r.argmax(dim=1)
        step = n // 2 if shift == "half" else n // 4
        idx = (best + step) % n if wrap else (best + step).clamp(max=n - 1)
        opp = r.gather(1, idx[:, None])[:, 0]
        peak = r.amax(dim=1)
        return opp / peak.clamp_min(1e-12) if guard else opp / peak
    return echo


def _tangent(transpose=False, offset_deg=0.0, clamp=False, degrees_bug=False, envelope=True):
    def weights(thetas, orientation, radius, k, stride):
        offs = (torch.arange(k) - k // 2).float() * stride
        ys, xs = torch.meshgrid(offs, offs, indexing="ij")
        if transpose:
            xs, ys = ys, xs
        phi = orientation if degrees_bug else math.radians(orientation)  # degrees into cos()
        cx, cy = -radius * math.cos(phi), -radius * math.sin(phi)
        tau = torch.atan2(ys - cy, xs - cx) + math.pi / 2 + math.radians(offset_deg)
        w = torch.cos(2 * (torch.deg2rad(thetas.float())[:, None, None] - tau))
        if envelope:
            w = w * torch.exp(-((torch.hypot(xs - cx, ys - cy) - radius) ** 2) / (2 * stride**2))
        return w.clamp(min=0) if clamp else w
    return weights


def _tangent_fixed_stride(thetas, orientation, radius, k, stride):
    return _tangent()(thetas, orientation, radius, k, 4)


def _spread_divides_in_place(w):
    w /= 4  # the caller's kernel is divided too
    return w.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)


def _echo_normalises_in_place(responses):
    n = responses.shape[1]
    best = responses.argmax(dim=1)
    responses /= responses.amax(dim=1, keepdim=True).clamp_min(1e-12)  # the caller's curves
    return responses.gather(1, ((best + n // 2) % n)[:, None])[:, 0]


MUTANTS = {
    "kernel_between": [
        ("from and to swapped", lambda m, layer, t, f: m.get_submodule(layer).weight[f, t].detach()),
        ("transposed kernel", lambda m, layer, t, f: m.get_submodule(layer).weight[t, f].detach().T),
        ("side effect: returns a view of the weights", _kernel_view),
        ("hard-coded: always conv3", lambda m, layer, t, f: m.conv3.weight[t, f].detach().clone()),
    ],
    "split_sign": [
        ("inhibition left negative", lambda w: (w.clamp(min=0), w.clamp(max=0))),
        ("excitation is |w|", lambda w: (w.abs(), (-w).clamp(min=0))),
        ("side effect: clamps the caller's weights", lambda w: (w.clamp_(min=0), (-w).clamp(min=0))),
    ],
    "spread_through_pool": [
        ("side effect: divides the caller's kernel by 4", _spread_divides_in_place),
        ("max-pool left as a copy (no quarter)", lambda w: w.repeat_interleave(2, -1)
         .repeat_interleave(2, -2)),
        ("weights placed in the wrong blocks", lambda w: w.repeat(1, 1, 2, 2) / 4),
        ("bilinear upsampling", lambda w: F.interpolate(w, scale_factor=2, mode="bilinear") / 4),
    ],
    "compose_through_conv": [
        ("cross-correlation: one kernel flipped", _compose_conv2d),
        ("inner kernel flipped", lambda a, b: F.conv_transpose2d(a, b.flip(-1, -2))),
        ("middle channels paired in the wrong order", lambda a, b: F.conv_transpose2d(a.flip(1), b)),
    ],
    "linearise": [
        ("side effect: replaces the layers of the caller's model", _linearise_in_place),
        ("max-pool left in place", _linearise_keeps_maxpool),
        ("ReLU replaced by a leaky ReLU", _linearise_drops_relu_to_leaky),
    ],
    "ablate_channels": [
        ("side effect: hook stays when the block raises", _ablate_no_finally),
        ("edge: output changed in place breaks back-propagation", _ablate_in_place),
        ("side effect: hook never removed", _ablate_never_removed),
        ("silences the whole layer", _ablate_all),
    ],
    "echo_ratio": [
        ("side effect: normalises the caller's tuning curves", _echo_normalises_in_place),
        ("90 degrees instead of 180", _echo(shift="quarter")),
        ("edge: no wrap around the circle", _echo(wrap=False)),
        ("edge: NaN for a silent channel", _echo(guard=False)),
        ("hard-coded: 8 steps away (16 orientations only)", lambda r: r.gather(
            1, ((r.argmax(1) + 8) % r.shape[1])[:, None])[:, 0] / r.amax(1).clamp_min(1e-12)),
    ],
    "tangent_weights": [
        ("rows and columns swapped", _tangent(transpose=True)),
        ("perpendicular to the tangent", _tangent(offset_deg=90.0)),
        ("excitation only (negative weights dropped)", _tangent(clamp=True)),
        ("no envelope: the whole window weighted", _tangent(envelope=False)),
        ("degrees passed to cos()", _tangent(degrees_bug=True)),
        ("hard-coded: stride 4", _tangent_fixed_stride),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _spread_loop(w):
    out = w.new_zeros(*w.shape[:2], 2 * w.shape[2], 2 * w.shape[3])
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            for y in range(w.shape[2]):
                for x in range(w.shape[3]):
                    for dy in range(2):
                        for dx in range(2):
                            out[o, i, 2 * y + dy, 2 * x + dx] = w[o, i, y, x] / 4
    return out


def _spread_corner(w):
    out = w.new_zeros(*w.shape[:2], 2 * w.shape[2], 2 * w.shape[3])
    out[..., ::2, ::2] = w
    return out


def _compose_loop(a, b):
    k1, k2 = a.shape[-1], b.shape[-1]
    out = a.new_zeros(a.shape[0], b.shape[1], k1 + k2 - 1, k1 + k2 - 1)
    for o in range(a.shape[0]):
        for py in range(k1):
            for px in range(k1):
                for qy in range(k2):
                    for qx in range(k2):
                        out[o, :, py + qy, px + qx] += a[o, :, py, px] @ b[:, :, qy, qx]
    return out


def _linearise_top_level(model):
    lin = copy.deepcopy(model)
    for name, module in list(lin.named_children()):  # misses everything inside a Sequential
        if isinstance(module, nn.ReLU):
            setattr(lin, name, nn.Identity())
        elif isinstance(module, nn.MaxPool2d):
            setattr(lin, name, nn.AvgPool2d(module.kernel_size, module.stride))
    return lin


def _linearise_with(make_pool):
    def linearise(model):
        lin = copy.deepcopy(model)
        for name, module in list(lin.named_modules()):
            if isinstance(module, (nn.ReLU, nn.MaxPool2d)):
                parent, _, child = name.rpartition(".")
                new = nn.Identity() if isinstance(module, nn.ReLU) else make_pool(module)
                setattr(lin.get_submodule(parent) if parent else lin, child, new)
        return lin
    return linearise


@contextmanager
def _ablate_getattr(model, layer, channels):
    def hook(m, i, o):
        out = o.clone()
        out[:, list(channels)] = 0
        return out
    handle = getattr(model, layer).register_forward_hook(hook)  # no dotted names
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def _ablate_library(model, layer, channels):
    with hooks.ablate(model, layer, channels):
        yield


def _echo_by(denominator="peak", pick="opposite"):
    def echo(r):
        n = r.shape[1]
        best = r.argmax(dim=1)
        opp = r.gather(1, ((best + n // 2) % n)[:, None])[:, 0] if pick == "opposite" else r.amin(1)
        peak = r.mean(dim=1) if denominator == "mean" else r.amax(dim=1)
        if denominator == "inverted":
            return torch.where(opp > 0, peak / opp.clamp_min(1e-12), torch.zeros_like(opp))
        return torch.where(peak > 0, opp / peak.clamp_min(1e-12), torch.zeros_like(opp))
    return echo


def _tangent_convention(behind=True, y_down=True, degrees=True, width=None):
    def weights(thetas, orientation, radius, k, stride):
        offs = (torch.arange(k) - k // 2).float() * stride
        ys, xs = torch.meshgrid(offs, offs, indexing="ij")
        ys = ys if y_down else -ys
        phi = math.radians(orientation)
        sign = -1.0 if behind else 1.0
        cx, cy = sign * radius * math.cos(phi), sign * radius * math.sin(phi)
        tau = torch.atan2(ys - cy, xs - cx) + math.pi / 2
        theta = torch.deg2rad(thetas.float()) if degrees else thetas.float()
        w = width or stride
        near = torch.exp(-((torch.hypot(xs - cx, ys - cy) - radius) ** 2) / (2 * w**2))
        return torch.cos(2 * (theta[:, None, None] - tau)) * near
    return weights


MUTANTS["kernel_between"] += [
    ("[detached] a copy that still requires grad",
     lambda m, layer, t, f: m.get_submodule(layer).weight[t, f].clone(), "still attached"),
    ("[network] getattr: no dotted layer names",
     lambda m, layer, t, f: getattr(m, layer).weight[t, f].detach().clone(), "could not find layer"),
    ("[network] looked up among the top-level children",
     lambda m, layer, t, f: dict(m.named_children())[layer].weight[t, f].detach().clone(),
     "could not find layer"),
    ("[learner] the library's circuits.weights", lambda m, layer, t, f: circuits.weights(m, layer, t, f),
     "circuits.weights"),
    ("[message] kernel rotated 180 degrees (a convolution's flip)",
     lambda m, layer, t, f: m.get_submodule(layer).weight[t, f].detach().flip(-1, -2).clone(),
     "rotated by 180"),
]
MUTANTS["split_sign"] += [
    ("[learner] the library's circuits.split_sign", lambda w: circuits.split_sign(w),
     "circuits.split_sign"),
    ("[message] parts in the wrong order", lambda w: ((-w).clamp(min=0), w.clamp(min=0)), "comes first"),
]
MUTANTS["spread_through_pool"] += [
    ("[cost] Python loop over the kernel's entries", _spread_loop, "slower than the reference"),
    ("[message] a half for each input", lambda w: w.repeat_interleave(2, -1).repeat_interleave(2, -2) / 2,
     "times the right ones"),
    ("[message] all of it to one corner of each block", _spread_corner, "one input of its 2 x 2 block"),
]
MUTANTS["compose_through_conv"] += [
    ("[cost] Python loop over kernel positions", _compose_loop, "a Python loop over kernel positions"),
    ("[message] one kernel transposed", lambda a, b: F.conv_transpose2d(a, b.transpose(-1, -2)),
     "transposed"),
    ("[message] averaged over the middle channels", lambda a, b: F.conv_transpose2d(a, b) / a.shape[1],
     "times the right ones"),
]
MUTANTS["linearise"] += [
    ("[network] replaces top-level modules only", _linearise_top_level, "are left in your copy"),
    ("[network] pools rebuilt without their stride", _linearise_with(lambda m: nn.AvgPool2d(m.kernel_size)),
     "instead of 6 x 6"),
    ("[network] 2 x 2 average-pools hard-coded", _linearise_with(lambda m: nn.AvgPool2d(2)),
     "max-pool's own kernel_size"),
    ("[message] max-pool replaced by the identity", _linearise_with(lambda m: nn.Identity()),
     "became nn.Identity"),
    ("[learner] the library's circuits.linearised", lambda m: circuits.linearised(m),
     "circuits.linearised"),
]
MUTANTS["ablate_channels"] += [
    ("[network] looks the layer up with getattr", _ablate_getattr, "could not find the layer"),
    ("[learner] the library's hooks.ablate", _ablate_library, "hooks.ablate"),
]
MUTANTS["echo_ratio"] += [
    ("[message] the smallest response", _echo_by(pick="smallest"), "smallest response"),
    ("[message] peak over echo", _echo_by(denominator="inverted"), "upside down"),
    ("[message] divided by the mean response", _echo_by(denominator="mean"), "mean response"),
]
MUTANTS["tangent_weights"] += [
    ("[learner] the library's circuits.tangent_rule", lambda th, o, r, k, s: circuits.tangent_rule(
        th, o, r, circuits.kernel_offsets(k, s), width=s), "circuits.tangent_rule"),
    ("[message] centre of curvature in front of the curve", _tangent_convention(behind=False), "in front"),
    ("[message] y axis up", _tangent_convention(y_down=False), "y axis points up"),
    ("[message] input angles taken as radians", _tangent_convention(degrees=False), "in degrees"),
    ("[message] envelope 1 pixel wide", _tangent_convention(width=1.0), "width is 1 pixel"),
]


# Fresh wrong answers from an independent author (issue 21's audit), now caught.
@contextmanager
def _ablate_input_channels(model, layer, channels):
    def hook(_module, inputs):  # zeroes what the layer reads, not what it writes
        x = inputs[0].clone()
        x[:, list(channels)] = 0
        return (x,)

    handle = model.get_submodule(layer).register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


MUTANTS["ablate_channels"] += [
    ("[fresh] a pre-hook: the layer's input channels zeroed", _ablate_input_channels, "OUTPUT"),
]


# Fresh wrong answers, round 3 (issue 21), now caught.
def _split_sign_threshold(w):
    return (torch.where(w > 1e-3, w, torch.zeros_like(w)), torch.where(w < -1e-3, -w, torch.zeros_like(w)))


MUTANTS["split_sign"] += [
    ("[fresh] weights below 1e-3 in size treated as zero", _split_sign_threshold, "small weights"),
]
