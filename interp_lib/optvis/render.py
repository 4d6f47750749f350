"""Feature visualization by optimization: find the input that maximises an objective.

    result = render(model, objectives.channel("relu3", 4))
    result.images        # (1, 3, 64, 64)

Each step: the parameterization produces the images, the transforms perturb
them, the model runs with hooks recording the objective's layers, and Adam
takes a step up the objective's gradient with respect to the image
parameters (never the model's weights). The whole batch is one forward pass,
so `render_channels` renders many channels for little more than the price of one.

Hooks live only for the duration of a render: they are removed when it ends,
fails or is interrupted with Ctrl-C.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from interp_lib.optvis import objectives as obj
from interp_lib.optvis import param as P
from interp_lib.optvis import transforms as T
from interp_lib.hooks import capture, resolve


class ZeroGradientWarning(UserWarning):
    """The objective's gradient with respect to the image is exactly zero."""


class RedirectedReLU(torch.autograd.Function):
    """ReLU forward; a gradient that can wake up a silent unit (Lucid's fix for grey renders).

    A ReLU passes no gradient where its input is negative, so a unit that is
    silent for the starting image can never be pushed on. Where an image's
    ordinary ReLU gradient is zero everywhere, this passes the gradient on
    anyway, except where it would push an already-negative input lower.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        relu_grad = torch.where(x < 0, torch.zeros_like(grad), grad)
        # grad is d(objective)/d(output): negative means "lower this unit".
        redirected = torch.where((x < 0) & (grad < 0), torch.zeros_like(grad), grad)
        dead = relu_grad.flatten(1).norm(dim=1) == 0
        return torch.where(dead.view(-1, *[1] * (x.ndim - 1)), redirected, relu_grad)


@contextmanager
def redirected_relus(model: nn.Module) -> Iterator[None]:
    """Within the block, every nn.ReLU of the model uses RedirectedReLU's gradient."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    inplace = [m.inplace for m in relus]
    handles = []
    try:
        for m in relus:
            m.inplace = False  # the hook needs the ReLU's input intact
            handles.append(m.register_forward_hook(lambda mod, inp, out: RedirectedReLU.apply(inp[0])))
        yield
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(relus, inplace):
            m.inplace = flag


@dataclass
class RenderResult:
    """images: (N, 3, H, W) in [0, 1]; history: the objective before each step;
    snapshots: step -> images (N, 3, H, W) after that many steps."""

    images: Tensor
    history: list[float]
    snapshots: dict[int, Tensor] = field(default_factory=dict)
    param: nn.Module | None = None


def render(
    model: nn.Module,
    objective: obj.Objective,
    size: int = 64,
    batch: int = 1,
    param: P.ImageParam | None = None,
    steps: int = 256,
    lr: float = 0.05,
    transforms: T.Transform | str | None = "standard",
    snapshots: Iterable[int] = (),
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    callback: Callable[[int, P.ImageParam], None] | None = None,
    redirect_relu_steps: int = 16,
) -> RenderResult:
    """Optimize images to maximise `objective`.

    size, batch: of the images, when `param` is not given (the default is a
    Fourier parameterization with colour decorrelated by the model's data
    statistics). transforms: "standard" (Lucid's set scaled to `size`), None,
    or a transform. snapshots: steps after which to keep a copy of the images.
    callback(step, param): called after every step (chapter 2 uses it to blur).
    redirect_relu_steps: for this many first steps, ReLUs (nn.ReLU modules) pass
    gradient to silent units (see RedirectedReLU), so that no render stays grey.
    The same seed gives the same render.
    """
    if not isinstance(objective, obj.Objective):
        raise TypeError(f"objective must be an Objective (see interp_lib.objectives), "
                        f"got {type(objective).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    for layer in objective.model_layers:
        resolve(model, layer)  # an unknown layer fails here, listing the valid ones
    model = model.to(device).eval()
    if param is None:
        param = P.image(size, batch=batch, colour_sqrt=P.colour_sqrt_for(model), seed=seed,
                        device=device)
    param = param.to(device)
    transform = _as_transform(transforms, param.shape[-1])
    params = [p for p in param.parameters() if p.requires_grad]  # not a generator's weights
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    keep = set(snapshots)
    history: list[float] = []
    saved: dict[int, Tensor] = {}

    # The redirect hooks go on first, so that the capture hooks (which run after them)
    # record the redirected outputs that the objective differentiates.
    with ExitStack() as early:
        if redirect_relu_steps > 0:
            early.enter_context(redirected_relus(model))
        with capture(model, objective.model_layers, detach=False) as acts:
            for step in tqdm(range(steps), disable=not progress, desc="render", unit="step",
                             leave=False):
                if step == redirect_relu_steps:
                    early.close()  # back to the true ReLU gradient
                images = param()
                out = model(transform(images, g))
                value = objective({**acts, obj.INPUT: images, obj.OUTPUT: out})
                if not torch.isfinite(value):
                    raise FloatingPointError(
                        f"the objective became {value.item()} at step {step}: the optimization "
                        f"diverged. Try a smaller learning rate (lr={lr}).")
                grads = torch.autograd.grad(value, params, allow_unused=True)
                if all(gr is None for gr in grads):
                    raise ValueError(f"{objective.name} does not depend on the image: its gradient "
                                     "with respect to the image is missing. Does it read a layer "
                                     "the model actually computes from its input?")
                if step == redirect_relu_steps and all(gr is None or not gr.any() for gr in grads):
                    warnings.warn(
                        f"the gradient of {objective.name} is exactly zero at step {step}: the unit "
                        "may be silent (behind a ReLU) for these images, and the image will not "
                        "change. Try another seed, a different unit, or the pre-ReLU layer.",
                        ZeroGradientWarning, stacklevel=2)
                for p, gr in zip(params, grads):
                    p.grad = None if gr is None else -gr  # Adam minimises: ascend the objective
                opt.step()
                history.append(value.item())
                if callback is not None:
                    callback(step, param)
                if step + 1 in keep:
                    saved[step + 1] = param().detach().cpu()
    with torch.no_grad():
        final = param().detach()
    return RenderResult(final, history, saved, param)


def _as_transform(transforms: T.Transform | str | None, size: int) -> T.Transform:
    """"standard" -> the standard set for this image size; None -> no transform."""
    if transforms is None:
        return T.identity
    if transforms == "standard":
        return T.standard(size)
    if not callable(transforms):
        raise ValueError(f"transforms must be 'standard', None or a transform, got {transforms!r}")
    return transforms


def channels_objective(layer: str, channels: Sequence[int]) -> obj.Objective:
    """One channel per batch element: element i maximises channel channels[i]."""
    if len(channels) == 0:
        raise ValueError("channels is empty: name at least one channel to render")
    return sum(obj.channel(layer, int(c), batch=i) for i, c in enumerate(channels))


def render_channels(model: nn.Module, layer: str, channels: Sequence[int], **kwargs) -> RenderResult:
    """Render several channels of a layer as one batch: image i shows channels[i]."""
    return render(model, channels_objective(layer, channels), batch=len(channels), **kwargs)


def blur_every(every: int, sigma: float) -> Callable[[int, P.ImageParam], None]:
    """A render callback that blurs the image every `every` steps: frequency
    penalization by blurring (pass it as `render(..., callback=blur_every(4, 0.5))`)."""
    if every < 1:
        raise ValueError(f"every must be at least 1 step, got {every}")

    def callback(step: int, param: P.ImageParam) -> None:
        if (step + 1) % every == 0:
            param.blur_(sigma)
    return callback


@dataclass
class Comparison:
    """One row per setting: the final images, the objective reached on them (without
    transforms) and their high-frequency energy fraction."""

    results: dict[str, RenderResult]
    objective: dict[str, float]
    high_frequency: dict[str, float]

    def table(self) -> str:
        width = max(len(k) for k in self.results)
        rows = [f"{'setting':<{width}}  {'objective':>9}  {'high-freq energy':>16}"]
        rows += [f"{k:<{width}}  {self.objective[k]:>9.2f}  {self.high_frequency[k]:>16.1%}"
                 for k in self.results]
        return "\n".join(rows)


def compare(model: nn.Module, objective: obj.Objective, settings: dict[str, dict],
            **common) -> Comparison:
    """Render the same objective under several settings, at equal steps and seed.

    settings: name -> keyword arguments of `render` for that setting (param,
    transforms, callback, an extra `penalty` objective to subtract...). common:
    arguments shared by all (steps, seed, size, device...). Each result is judged
    on the untransformed images: the objective without penalties, and the share
    of spectral energy above 0.25 cycles per pixel.
    """
    from interp_lib.optvis.image_stats import high_frequency_fraction

    results, values, hf = {}, {}, {}
    for name, kwargs in settings.items():
        kwargs = dict(kwargs)
        penalty = kwargs.pop("penalty", None)
        target = objective - penalty if penalty is not None else objective
        result = render(model, target, **{"progress": False, **common, **kwargs})
        results[name] = result
        with torch.no_grad(), capture(model, objective.model_layers) as acts:
            images = result.images
            out = model(images)
            values[name] = float(objective({**acts, obj.INPUT: images, obj.OUTPUT: out}))
        hf[name] = float(high_frequency_fraction(result.images).mean())
    return Comparison(results, values, hf)
