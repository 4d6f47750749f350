import torch

from interp_lib.optvis import objectives as obj
from interp_lib.optvis import param
from interp_lib.organism import generative


def _tv(square=False, only=None, reduce="mean"):
    def tv(x):
        dx = x[..., :, 1:] - x[..., :, :-1]
        dy = x[..., 1:, :] - x[..., :-1, :]
        f = (lambda d: d**2) if square else (lambda d: d.abs())
        red = (lambda d: d.mean(dim=(1, 2, 3))) if reduce == "mean" else (lambda d: d.sum(dim=(1, 2, 3)))
        if only == "x":
            return red(f(dx))
        return red(f(dx)) + red(f(dy))
    return tv


def _scale(square=False, clamp="max", columns="rfft"):
    def scale(h, w, decay_power=1.0):
        fy = torch.fft.fftfreq(h)[:, None]
        fx = (torch.fft.rfftfreq(w) if columns == "rfft" else torch.fft.fftfreq(w))[None, :]
        f = fy**2 + fx**2 if square else torch.sqrt(fy**2 + fx**2)
        if clamp == "max":
            f = f.clamp_min(1.0 / max(h, w))
        elif clamp == "min":
            f = f.clamp_min(1.0 / min(h, w))
        return 1.0 / f**decay_power
    return scale


def _tv_in_place(images):
    images.sub_(images.mean())  # "centre" the caller's images first
    return _tv()(images)


def _tv_no_grad(images):
    with torch.no_grad():
        return _tv()(images)


def _tv_squeezed(images):
    return _tv()(images).squeeze()


def _crop_far_corner(x, d, dx, dy):
    h, w = x.shape[-2:]
    return x[..., d - dy:d - dy + h - d, d - dx:d - dx + w - d]


def _crop_fixed_d(x, d, dx, dy):
    h, w = x.shape[-2:]
    return x[..., dy:dy + h - 3, dx:dx + w - 3]  # the one d the first check used to pass


def _crop_detached(x, d, dx, dy):
    h, w = x.shape[-2:]
    return x.detach()[..., dy:dy + h - d, dx:dx + w - d]


def _rgb_fixed_matrix(t, m):
    return param.to_valid_rgb(t, param.normalise_columns(param.IMAGENET_COLOUR_SQRT))


def _rgb_no_grad(t, m):
    with torch.no_grad():
        return param.to_valid_rgb(t, m)


def _line_in_place(z0, z1, n):
    w = torch.linspace(0, 1, n)[:, None]
    z1.sub_(z0)  # the direction, computed in the caller's tensor
    return z0[None] + w * z1[None]


MUTANTS = {
    "total_variation_value": [
        ("horizontal only", _tv(only="x")),
        ("squared differences", _tv(square=True)),
        ("sum instead of mean", _tv(reduce="sum")),
        ("side effect: centres the caller's images in place", _tv_in_place),
        ("no gradient: computed under torch.no_grad()", _tv_no_grad),
        ("edge: squeeze breaks a batch of one", _tv_squeezed),
    ],
    "jitter_crop": [
        ("dx and dy swapped", lambda x, d, dx, dy: x[..., dx:dx + x.shape[-2] - d,
                                                        dy:dy + x.shape[-1] - d]),
        ("crop one pixel too large", lambda x, d, dx, dy: x[..., dy:dy + x.shape[-2] - d + 1,
                                                              dx:dx + x.shape[-1] - d + 1]),
        ("ignores the offsets", lambda x, d, dx, dy: x[..., :x.shape[-2] - d, :x.shape[-1] - d]),
        ("measured from the far corner", _crop_far_corner),
        ("hard-coded: ignores d", _crop_fixed_d),
        ("no gradient: detached", _crop_detached),
    ],
    "frequency_scale": [
        ("no clamp (infinite DC)", _scale(clamp=None)),
        ("squared frequencies", _scale(square=True)),
        ("clamp at 1 / min(h, w)", _scale(clamp="min")),
        ("full fftfreq on columns", _scale(columns="fft")),
        ("hard-coded: square images only", lambda h, w, decay_power=1.0: _scale()(h, h, decay_power)[
            :, :w // 2 + 1]),
    ],
    "decorrelated_to_rgb": [
        ("transposed matrix", lambda t, m: param.to_valid_rgb(t, m.T)),
        ("no sigmoid", lambda t, m: torch.einsum("nchw,dc->ndhw", t, m)),
        ("sigmoid before mixing", lambda t, m: torch.einsum("nchw,dc->ndhw", torch.sigmoid(t), m)),
        ("hard-coded: ImageNet's matrix, whatever is given", _rgb_fixed_matrix),
        ("no gradient: computed under torch.no_grad()", _rgb_no_grad),
    ],
    "interpolation_weights": [
        ("reversed", lambda n: torch.linspace(1, 0, n)),
        ("last image never reaches 1", lambda n: torch.arange(n) / n),
        ("divides by zero for one image", lambda n: torch.arange(n) / (n - 1)),
        ("edge: hard-coded for n > 2", lambda n: torch.linspace(0, 1, n) if n > 2 else torch.zeros(n)),
    ],
    "latent_line": [
        ("reversed", lambda z0, z1, n: z1[None] + torch.linspace(0, 1, n)[:, None] * (z0 - z1)[None]),
        ("excludes the end", lambda z0, z1, n: z0[None] + (torch.arange(n) / n)[:, None]
         * (z1 - z0)[None]),
        ("weights on the wrong code", lambda z0, z1, n: torch.linspace(0, 1, n)[:, None] * z0[None]
         + (1 - torch.linspace(0, 1, n)[:, None]) * z1[None]),
        ("side effect: turns the caller's z1 into the direction", _line_in_place),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _rgb_per_pixel(t, colour_sqrt):
    out = torch.empty_like(t)
    for n in range(t.shape[0]):
        for y in range(t.shape[2]):
            for x in range(t.shape[3]):
                out[n, :, y, x] = torch.sigmoid(colour_sqrt @ t[n, :, y, x])
    return out


MUTANTS["total_variation_value"] += [
    ("[learner] the library's objectives.total_variation", lambda images: torch.stack(
        [obj.total_variation(batch=i)({obj.INPUT: images}) for i in range(len(images))]),
     "objectives.total_variation"),
]
MUTANTS["frequency_scale"] += [
    ("[learner] the library's param.spectrum_scale", lambda h, w, decay_power=1.0: param.spectrum_scale(
        h, w, decay_power), "param.spectrum_scale"),
]
MUTANTS["decorrelated_to_rgb"] += [
    ("[cost] a Python loop over pixels", _rgb_per_pixel, "slower than the reference"),
    ("[learner] the library's param.to_valid_rgb", lambda t, m: param.to_valid_rgb(t, m),
     "param.to_valid_rgb"),
]
MUTANTS["latent_line"] += [
    ("[learner] the library's generative.interpolate", lambda z0, z1, n: generative.interpolate(z0, z1, n),
     "generative.interpolate"),
]


# Fresh wrong answers from an independent author (issue 21's audit), now told what they did.
def _latent_line_rescaled(z0, z1, n):
    points = z0[None] + torch.linspace(0, 1, n)[:, None] * (z1 - z0)[None]
    return points / points.norm(dim=1, keepdim=True) * z0.norm()


MUTANTS["latent_line"] += [
    ("[fresh] every point rescaled to z0's length", _latent_line_rescaled, "z0's length"),
]


# Fresh wrong answers, round 3 (issue 21), now caught.
def _latent_line_step(z0, z1, n):
    step = (z1 - z0) / (n - 1)  # NaN for n = 1
    return z0[None] + torch.arange(n)[:, None] * step[None]


MUTANTS["latent_line"] += [
    ("[fresh] a step of (z1 - z0) / (n - 1): NaN for one point", _latent_line_step, "NaN"),
]
