"""Feature visualization by optimization: find the input that maximises an objective.

    result = render(model, obj.channel("relu3", 4))
    result.images        # (1, 3, 64, 64)

Each step: the parameterization produces the images, the transforms perturb
them, the model runs with hooks recording the objective's layers, and the
optimizer (Adam by default) takes a step up the objective's gradient with
respect to the image parameters (never the model's weights). The whole batch
is one forward pass, so `render_channels` renders many channels for little
more than the price of one.

The render runs on the model's device and leaves the model as it found it:
hooks are removed when it ends, fails or is interrupted with Ctrl-C, the
model's train/eval mode is restored, and its weights and their `.grad` are
never touched.

What plugs in, each checked on the first step with a plain-words error:

- `param`: an `optvis.param` parameterization, or any `nn.Module` whose
  forward() takes no argument and returns images (N, 3, H, W) in [0, 1]
  (its parameters are what is optimized);
- `transforms`: "default" (the model's recipe), "standard", None, a seeded
  transform `t(images, generator)` (see `optvis.transforms`), or a plain
  callable `t(images)` such as a torchvision transform or a lambda;
- `optimizer`: a factory `params -> torch.optim.Optimizer`
  (default: Adam with learning rate `lr`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from interp_lib.hooks import capture, eval_mode, forward, model_device, resolve
from interp_lib.optvis import objectives as obj
from interp_lib.optvis.param import ImageParam
from interp_lib.optvis.recipe import recipe_for
from interp_lib.optvis.transforms import SeededTransform, identity, standard

Param = nn.Module
OptimizerFactory = Callable[[list[Tensor]], torch.optim.Optimizer]


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


class RedirectCounter:
    """How many ReLU calls the redirect reached (0: the model calls none it can reach)."""

    calls = 0


@contextmanager
def redirected_relus() -> Iterator[RedirectCounter]:
    """Within the block, every call of `torch.nn.functional.relu` uses RedirectedReLU's gradient.

    That covers `nn.ReLU` modules (their forward calls it) and models that call
    the function directly, as torchvision's GoogLeNet does. A model that
    computes its ReLUs some other way (`torch.relu`, `x.clamp(min=0)`) is not
    reached: the returned counter stays at 0 and `render` says so. The
    original function is restored when the block ends, also on error.

    >>> with redirected_relus() as counter:
    ...     _ = torch.nn.ReLU()(torch.randn(3))
    >>> counter.calls, F.relu.__name__
    (1, 'relu')
    """
    original = F.relu
    counter = RedirectCounter()

    def relu(input: Tensor, inplace: bool = False) -> Tensor:
        counter.calls += 1
        # Out of place always: the redirected gradient needs the ReLU's input intact.
        return RedirectedReLU.apply(input)

    F.relu = relu
    try:
        yield counter
    finally:
        F.relu = original


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
    *,
    param: Param | None = None,
    size: int = 64,
    batch_size: int = 1,
    steps: int = 256,
    lr: float = 0.05,
    optimizer: OptimizerFactory | None = None,
    transforms: SeededTransform | Callable[[Tensor], Tensor] | str | None = "default",
    snapshots: Iterable[int] = (),
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[int, Param], None] | None = None,
    redirect_relu_steps: int = 16,
) -> RenderResult:
    """Optimize images to maximise `objective`; returns a RenderResult.

    param and transforms default to the model's render recipe
    (`optvis.recipe`): for the zoo's organisms, pen strokes drawn where the
    objective can see and no transforms (`optvis.strokes`); for every other
    model, Lucid's Fourier image with the model's decorrelated colours and its
    standard transforms. param: an image parameterization, made on the model's
    device. transforms: "default", "standard" (Lucid's set scaled to the image
    size), None, or a transform.
    optimizer: a factory `params -> optimizer` (default Adam(params, lr)).
    snapshots: steps after which to keep a copy of the images. callback(step,
    param): called after every step (chapter 2 uses it to blur).
    redirect_relu_steps: for this many first steps, ReLUs pass gradient to
    silent units (see RedirectedReLU), so that no render stays grey. The same
    seed gives the same render. Only the layers the objective reads are
    computed: once the first step shows that each of them runs once per pass,
    every later forward pass stops at the deepest of them.

    >>> from interp_lib.organism.models import tiny_net
    >>> result = render(tiny_net(), obj.channel("relu2", 3), size=16, steps=20, progress=False)
    >>> result.history[-1] > result.history[0]  # the ascent raised the channel's activation
    True
    """
    _check_request(model, objective, steps)
    device = model_device(model)
    recipe = recipe_for(model)
    if param is None:
        param = recipe.param(model, objective, batch_size, size, seed, device)
    if isinstance(transforms, str) and transforms == "default":
        transforms = recipe.transforms
    images = _images_of(param, device)
    params = _parameters_of(param)
    opt = _make_optimizer(optimizer, params, lr)
    transform = _as_transform(transforms, images.shape[-1])
    g = torch.Generator().manual_seed(seed)
    keep = set(snapshots)
    history: list[float] = []
    saved: dict[int, Tensor] = {}

    with _Forward(model, objective, redirect_relu_steps) as forward:
        for step in tqdm(range(steps), disable=not progress, desc="render", unit="step",
                         leave=False):
            if step > 0:
                images = param()
            value = forward(step, _apply(transform, images, g), images)
            _ascend(value, params, opt, objective, step, redirect_relu_steps)
            history.append(value.item())
            if callback is not None:
                callback(step, param)
            if step + 1 in keep:
                with torch.no_grad():
                    saved[step + 1] = param().detach().cpu()
    with torch.no_grad():
        final = param().detach()
    for p in params:
        p.grad = None
    return RenderResult(final, history, saved, param)


def _check_request(model: nn.Module, objective: obj.Objective, steps: int) -> None:
    if not isinstance(objective, obj.Objective):
        raise TypeError(f"objective must be an Objective (see interp_lib.optvis.objectives), "
                        f"got {type(objective).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    for layer in objective.model_layers:
        resolve(model, layer)  # an unknown layer fails here, listing the valid ones


class _Forward:
    """One render's forward passes: the model in eval mode, hooks on the objective's
    layers, the redirected ReLU for the first steps; `forward(step, x, images)` returns
    the objective's value. Everything is undone when the block ends, also on error.

    After the first (complete) pass, later passes stop at the deepest layer the
    objective reads, when that is safe: the objective does not read the model's
    output, and each of its layers ran exactly once.
    """

    def __init__(self, model: nn.Module, objective: obj.Objective, redirect_relu_steps: int):
        self.model, self.objective = model, objective
        self.redirect_relu_steps = redirect_relu_steps
        self.stack = ExitStack()

    def __enter__(self) -> _Forward:
        self.stack.enter_context(eval_mode(self.model))
        self.redirect = self.stack.enter_context(ExitStack())
        self.counter = (self.redirect.enter_context(redirected_relus())
                        if self.redirect_relu_steps > 0 else None)
        self.acts = self.stack.enter_context(
            capture(self.model, self.objective.model_layers, detach=False))
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    def __call__(self, step: int, x: Tensor, images: Tensor) -> Tensor:
        if step == self.redirect_relu_steps:
            self.redirect.close()  # back to the true ReLU gradient
        acts = self.acts
        acts.clear()
        for name in acts.calls:
            acts.calls[name] = 0
        out = forward(self.model, x, acts)
        if step == 0:
            self._after_first_pass()
        value = self.objective({**acts, obj.INPUT: images, obj.OUTPUT: out})
        if not torch.isfinite(value):
            raise FloatingPointError(
                f"the objective became {value.item()} at step {step}: the optimization "
                "diverged. Try a smaller learning rate (lr).")
        return value

    def _after_first_pass(self) -> None:
        if self.counter is not None and self.counter.calls == 0:
            warnings.warn(
                f"{type(self.model).__name__} calls no torch.nn.functional.relu (and has no "
                "nn.ReLU), so the redirected-ReLU start cannot reach it: a unit that is silent "
                "for the starting image may stay grey. Set redirect_relu_steps=0 to silence this.",
                ZeroGradientWarning, stacklevel=4)
        reads_output = obj.OUTPUT in self.objective.layers
        self.acts.stop = bool(self.objective.model_layers) and not reads_output \
            and self.acts.each_ran_once()


def _ascend(value: Tensor, params: list[Tensor], opt: torch.optim.Optimizer,
            objective: obj.Objective, step: int, redirect_relu_steps: int) -> None:
    """One optimizer step up the objective's gradient with respect to the image parameters."""
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
            ZeroGradientWarning, stacklevel=3)
    for p, gr in zip(params, grads):
        p.grad = None if gr is None else -gr  # optimizers minimise: ascend the objective
    opt.step()


def _parameters_of(param: Param) -> list[Tensor]:
    """The tensors to optimize: the parameterization's trainable parameters."""
    if not isinstance(param, nn.Module):
        raise TypeError(
            f"param must be an nn.Module whose forward() returns images (N, 3, H, W) in [0, 1] "
            f"(see interp_lib.optvis.param); got {type(param).__name__}. Wrap a function and its "
            "tensors in a module, with the tensors as nn.Parameter.")
    # A prior's frozen weights (LatentImage) are not optimized: only what requires grad.
    params = [p for p in param.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"the parameterization {type(param).__name__} has no trainable "
                         "parameters: nothing to optimize")
    return params


def _images_of(param: Param, device: torch.device) -> Tensor:
    """The first images of a parameterization, checked against what render needs."""
    images = param()
    name = type(param).__name__
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"the parameterization {name} must return images shaped (N, 3, H, W); "
                         f"it returned {got}")
    if images.device != device:
        raise ValueError(f"the parameterization {name} makes images on {images.device}, but the "
                         f"model is on {device}: create it there (for example with device=)")
    with torch.no_grad():
        low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"the parameterization {name} must return images in [0, 1]; its values "
                         f"run from {low:.3g} to {high:.3g}. Squash them, for example with a "
                         "sigmoid.")
    return images


def _make_optimizer(factory: OptimizerFactory | None, params: list[Tensor], lr: float
                    ) -> torch.optim.Optimizer:
    if factory is None:
        return torch.optim.Adam(params, lr=lr)
    opt = factory(params)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a factory that takes the list of parameters and "
                        f"returns a torch.optim.Optimizer, for example "
                        f"lambda params: torch.optim.SGD(params, lr=0.5); it returned "
                        f"{type(opt).__name__}")
    return opt


def _n_positional(fn: Callable) -> int | None:
    """How many positional arguments a callable takes (None when it cannot be told)."""
    target = fn.forward if isinstance(fn, nn.Module) else fn
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values()):
        return 1  # torchvision's transforms take *inputs: call them with the images alone
    return sum(p.kind in kinds for p in sig.parameters.values())


def _as_transform(transforms, size: int) -> SeededTransform:
    """Turn the `transforms` argument into a seeded transform `t(images, generator)`.

    "standard" gives the standard set for this image size; None, no transform; a
    callable of two arguments is used as it is, one of one argument (a
    torchvision transform, a lambda) is called without the generator.
    """
    if transforms is None:
        return identity
    if isinstance(transforms, str):
        if transforms == "standard":
            return standard(size)
        raise ValueError(f"transforms must be 'default', 'standard', None or a transform, got "
                         f"{transforms!r}")
    if not callable(transforms):
        raise ValueError(f"transforms must be 'default', 'standard', None or a transform, got "
                         f"{transforms!r}")
    n = _n_positional(transforms)
    if n == 1 or n is None:
        return lambda x, g: transforms(x)
    if n == 2:
        return transforms
    raise TypeError(f"a transform is called as t(images) or t(images, generator); "
                    f"{transforms!r} takes {n} positional arguments")


def _apply(transform: SeededTransform, images: Tensor, g: torch.Generator) -> Tensor:
    out = transform(images, g)
    if not isinstance(out, Tensor) or out.ndim != 4 or out.shape[:2] != images.shape[:2]:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"a transform must map images (N, 3, H, W) to images (N, 3, H', W'); "
                         f"given {tuple(images.shape)} it returned {got}")
    return out


def channels_objective(layer: str, channels: Sequence[int]) -> obj.Objective:
    """One channel per batch element: element i maximises channel channels[i].

    >>> channels_objective("relu3", [4, 7])
    Objective(channel('relu3', 4, batch=0) + channel('relu3', 7, batch=1))
    """
    if len(channels) == 0:
        raise ValueError("channels is empty: name at least one channel to render")
    return sum(obj.channel(layer, int(c), batch=i) for i, c in enumerate(channels))


def render_channels(model: nn.Module, layer: str, channels: Sequence[int], **kwargs
                    ) -> RenderResult:
    """Render several channels of a layer as one batch: image i shows channels[i].

    kwargs are `render`'s. Returns a RenderResult whose images are (len(channels), 3, H, W).

    >>> from interp_lib.hooks import layer_activations
    >>> from interp_lib.organism.models import tiny_net
    >>> net = tiny_net()
    >>> images = render_channels(net, "relu2", [2, 6], size=16, steps=10, progress=False).images
    >>> means = layer_activations(net, images, "relu2", reduce=lambda a: a.mean(dim=(2, 3)))  # (2, 8)
    >>> bool(means[0, 2] > means[1, 2]) and bool(means[1, 6] > means[0, 6])  # each its own channel
    True
    """
    return render(model, channels_objective(layer, channels), batch_size=len(channels), **kwargs)


def blur_every(every: int, sigma: float) -> Callable[[int, ImageParam], None]:
    """A render callback that blurs the image every `every` steps: frequency
    penalization by blurring (pass it as `render(..., callback=blur_every(4, 0.5))`).

    >>> from interp_lib.organism.models import tiny_net
    >>> result = render(tiny_net(), obj.channel("relu2", 0), size=16, steps=4,
    ...                 callback=blur_every(2, 0.5), progress=False)
    """
    if every < 1:
        raise ValueError(f"every must be at least 1 step, got {every}")

    def callback(step: int, param: ImageParam) -> None:
        if (step + 1) % every == 0:
            param.blur_(sigma)
    return callback


@dataclass
class Comparison:
    """One row per setting: the final images, the objective reached on them (without
    transforms or penalties) and their high-frequency energy fraction."""

    results: dict[str, RenderResult]
    objective: dict[str, float]
    high_frequency: dict[str, float]

    def table(self) -> str:
        width = max(len(k) for k in self.results)
        rows = [f"{'setting':<{width}}  {'objective':>9}  {'high-freq energy':>16}"]
        rows += [f"{k:<{width}}  {self.objective[k]:>9.2f}  {self.high_frequency[k]:>16.1%}"
                 for k in self.results]
        return "\n".join(rows)


def evaluate(model: nn.Module, objective: obj.Objective, images: Tensor) -> float:
    """The objective's value on fixed images (no transforms, no gradient).

    Use it to report a render's result on its final images, the way a reader sees them.

    >>> from interp_lib.organism.models import tiny_net
    >>> evaluate(tiny_net(), obj.channel("relu2", 0), torch.zeros(1, 3, 16, 16)) >= 0
    True
    """
    with torch.no_grad(), eval_mode(model), capture(model, objective.model_layers) as acts:
        images = images.to(model_device(model))
        out = model(images)
        return float(objective({**acts, obj.INPUT: images, obj.OUTPUT: out}))


def compare(model: nn.Module, objective: obj.Objective, settings: dict[str, dict],
            **common) -> Comparison:
    """Render the same objective under several settings, at equal steps and seed.

    settings: name -> keyword arguments of `render` for that setting (param,
    transforms, callback, an extra `penalty` objective to subtract...). common:
    arguments shared by all (steps, seed, size...). Each result is judged on
    the untransformed images: the objective without penalties, and the share
    of spectral energy above 0.25 cycles per pixel.

    >>> from interp_lib.organism.models import tiny_net
    >>> c = compare(tiny_net(), obj.channel("relu2", 0), {"plain": {}, "no transforms":
    ...             {"transforms": None}}, size=16, steps=3)
    >>> list(c.objective)
    ['plain', 'no transforms']
    """
    from interp_lib.optvis.image_stats import high_frequency_fraction

    results, values, hf = {}, {}, {}
    for name, kwargs in settings.items():
        kwargs = dict(kwargs)
        penalty = kwargs.pop("penalty", None)
        target = objective - penalty if penalty is not None else objective
        result = render(model, target, **{"progress": False, **common, **kwargs})
        results[name] = result
        values[name] = evaluate(model, objective, result.images)
        hf[name] = float(high_frequency_fraction(result.images).mean())
    return Comparison(results, values, hf)
