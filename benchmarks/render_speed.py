"""Speed of one feature-visualization step, side by side with the floors it could reach.

For each case (GoogLeNet with random weights at 128 px, an objective on
mixed4a; the organism conv5-s0 at 64 px, an objective on relu3, batch 1 and 16)
it prints, in seconds per optimization step:

- ours: `render` with Lucid's recipe (Fourier image, standard transforms, forward,
  backward, Adam), the work the floors and Lucent do; and the model's default recipe
  (for the organisms, pen strokes with several candidates per image);
- truncated floor: the network's forward pass stopped at the objective's layer
  plus the backward pass to the input, on an input of the size the transforms
  produce: what a step cannot avoid;
- full floor: the same with the whole network run, as Lucid and Lucent do;
- image side: what Lucid's recipe adds to the truncated floor, timed alone: the Fourier
  image (inverse FFT, colour decorrelation, sigmoid), the standard transforms, their
  backward pass and Adam's update. ours ~ truncated + image side + Python's own cost;
- Lucent: `lucent.optvis.render.render_vis` on the same model and objective,
  where torch-lucent is installed (it is not a dependency of the course:
  `pip install --no-deps torch-lucent "kornia==0.5.11" decorator`, the kornia its
  transforms were written for). At its
  defaults Lucent upsamples any image smaller than 224 px to 224 px before the
  model sees it; the column "Lucent same size" passes `fixed_image_size` so that
  it computes at our size.

    python benchmarks/render_speed.py [--threads 1] [--repeats 3]

Each figure is a step in the steady state: (time of a render of `after` steps - time of
one of `before` steps) / (after - before), each the best of `repeats` timed runs (the
least disturbed by whatever else the machine is doing). `before` is past render's first
16 steps, whose redirected ReLUs are slower than the plain ones, and past its first
step, which runs the whole network once; Lucent is timed the same way. A 256-step
render, the book's default, spends 240 of its steps in this steady state.
"""

from __future__ import annotations

import argparse
import time

import torch

from interp_lib import hooks, zoo
from interp_lib.optvis import objectives as obj
from interp_lib.optvis.render import render
from interp_lib.optvis.recipe import LUCID
from interp_lib.optvis.transforms import standard


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


BEFORE = 24  # steps timed away: the first full pass and the 16 redirected-ReLU steps


def steady(run, steps: int, repeats: int) -> float:
    """Seconds per step once a render is under way: `run(n)` renders n steps."""
    return (best_of(lambda: run(BEFORE + steps), repeats) - best_of(lambda: run(BEFORE), repeats)) / steps


def ours(model, objective, size: int, batch: int, steps: int, repeats: int, *,
         lucid: bool = True) -> float:
    """`render`'s time per step: with Lucid's recipe (a Fourier image, standard transforms: the
    work the floors and Lucent do), or with the model's own default (`lucid=False`: for the
    organisms, pen strokes, several candidates per image)."""
    def run(n):
        kw = {}
        if lucid:
            kw = dict(param=LUCID.param(model, objective, batch, size, 0, hooks.model_device(model)),
                      transforms="standard")
        render(model, objective, size=size, batch_size=batch, steps=n, progress=False, **kw)
    return steady(run, steps, repeats)


def floor(model, layer: str | None, size: int, batch: int, steps: int, repeats: int) -> float:
    """Forward (to `layer`, or the whole network when None) and backward to the input, on
    inputs of the sizes the standard transforms make, drawn as a render draws them (they
    scale the image by 0.9 to 1.1 after padding it: about 1.2 times its area on average)."""
    transform, g = standard(size), torch.Generator().manual_seed(0)
    sizes = [transform(torch.rand(1, 3, size, size), g).shape[-2:] for _ in range(steps)]
    xs = [torch.rand(batch, 3, *hw, requires_grad=True) for hw in sizes]

    def step(x):
        if layer is None:
            value = model(x).sum()
        else:
            value = hooks.run_with_cache(model, x, layer, detach=False, stop=True)[1].only().sum()
        torch.autograd.grad(value, x)

    def run():
        for x in xs:
            step(x)
    return best_of(run, repeats) / steps


def image_side(model, objective, size: int, batch: int, steps: int, repeats: int) -> float:
    """The recipe's work outside the network: parameterization and transforms, forward and
    backward, and the optimizer's update."""
    param = LUCID.param(model, objective, batch, size, 0, hooks.model_device(model))
    transform, g = standard(size), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(param.parameters(), lr=0.05)

    def run():
        for _ in range(steps):
            opt.zero_grad()
            transform(param(), g).sum().backward()
            opt.step()
    return best_of(run, repeats) / steps


def lucent(model, layer: str, channel: int, size: int, batch: int, steps: int, repeats: int,
           same_size: bool) -> float | None:
    try:
        from lucent.optvis import param as lparam
        from lucent.optvis import render as lrender
    except ImportError:
        return None
    name = layer.replace(".", "_")

    def run(n):
        lrender.render_vis(model, f"{name}:{channel}",
                           param_f=lambda: lparam.image(size, batch=batch),
                           thresholds=(n,), preprocess=False, progress=False,
                           show_image=False, fixed_image_size=size if same_size else None)
    return steady(run, steps, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-lucent", action="store_true", help="skip Lucent's runs (the slowest)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; seconds per step "
          f"(best of {args.repeats})\n")
    googlenet = zoo.load("googlenet", pretrained=False)
    # Lucent names layers from named_modules(); the wrapper's layers sit under "net".
    cases = [
        ("googlenet (random), 128 px", googlenet, "inception4a", "net_inception4a", 128, 1, 16),
        ("conv5-s0, 64 px, batch 1", zoo.load("conv5-s0"), "relu3", "relu3", 64, 1, 64),
        ("conv5-s0, 64 px, batch 16", zoo.load("conv5-s0"), "relu3", "relu3", 64, 16, 32),
    ]
    header = (f"{'case':<28} {'ours':>8} {'truncated':>10} {'full':>8} {'ours/trunc':>10} "
              f"{'image side':>10} "
              f"{'Lucent':>8} {'Lucent same size':>17} {'Lucent/ours':>12} {'default recipe':>15}")
    print(header)
    print("-" * len(header))
    for label, model, layer, lucent_layer, size, batch, steps in cases:
        objective = obj.channel(layer, 0)
        t_ours = ours(model, objective, size, batch, steps, args.repeats)
        t_trunc = floor(model, layer, size, batch, steps, args.repeats)
        t_full = floor(model, None, size, batch, steps, args.repeats)
        t_image = image_side(model, objective, size, batch, steps, args.repeats)
        t_default = ours(model, objective, size, batch, steps, args.repeats, lucid=False)
        t_lucent = t_same = None
        if not args.no_lucent:
            t_lucent = lucent(model, lucent_layer, 0, size, batch, steps, args.repeats, False)
            t_same = lucent(model, lucent_layer, 0, size, batch, steps, args.repeats, True)
        fmt = lambda t: f"{t:8.4f}" if t is not None else f"{'n/a':>8}"  # noqa: E731
        ratio = f"{t_lucent / t_ours:11.2f}x" if t_lucent else f"{t_full / t_ours:10.2f}x*"
        print(f"{label:<28} {t_ours:8.4f} {t_trunc:10.4f} {t_full:8.4f} {t_ours / t_trunc:9.2f}x "
              f"{t_image:10.4f} "
              f"{fmt(t_lucent)} {fmt(t_same):>17} {ratio:>12} {t_default:15.4f}")
    print("\nours: render with Lucid's recipe (Fourier image, standard transforms), the work the "
          "floors and Lucent do;\ndefault recipe: render's plain call (for the organisms: pen "
          "strokes, 6 candidates per image).\n* Lucent not run: the full floor over ours, a bound "
          "on what running the whole network costs.")


if __name__ == "__main__":
    main()
