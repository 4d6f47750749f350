"""Do curve detectors' renders show their curves? Measured on every shipped organism.

For each organism: the layer with the most curve detectors, its curve family,
and as many non-detector channels of the same layer (alive, not curve-tuned)
as a control. Each is rendered with the plain call a learner writes,
`render(model, obj.neuron(layer, c))` (batched: one image per unit), and, for
comparison, with Lucid's defaults (`param=` a Fourier image, standard
transforms). Each render is measured inside its receptive field
(`image_stats.readability`):

- arc: the normalised correlation of its high-passed luminance with the
  best-matching arc (radii 5 to 15 px, 72 orientations), median over units;
- arc/line: that over the best line's, median;
- bend: the share of units whose best arc lies within 30 degrees of the
  tuning curve's peak;
- reach: the activation the render reaches at the centre neuron over the
  channel's best activation on 2000 drawings (any position), median.

Targets (issue 19): arc >= 0.35 and at least 0.10 above the control; arc/line
>= 1.5; bend >= 80%; reach >= 1.

    python benchmarks/render_readability.py [conv5-s0 ...] [--steps 256]
"""

from __future__ import annotations

import argparse
import time

import torch

from interp_lib import hooks, zoo
from interp_lib.optvis import objectives as obj
from interp_lib.optvis.image_stats import readability
from interp_lib.optvis.recipe import LUCID
from interp_lib.optvis.render import render
from interp_lib.organism import data
from interp_lib.tuning import curve_tuning


def family_and_control(model, n_orientations: int = 72):
    tunings = {layer: curve_tuning(model, layer, n_orientations=n_orientations)
               for layer in zoo.middle_layers(model)}
    layer = max(tunings, key=lambda name: len(tunings[name].curve_detectors()))
    t = tunings[layer]
    family = t.family()
    peak = t.responses.amax(dim=1)
    # Non-detectors: channels that answer the probes at all, but fail the curve-detector test.
    alive = [c for c in range(len(peak)) if c not in family and peak[c] > 0.05 * peak.max()]
    g = torch.Generator().manual_seed(0)
    control = [alive[i] for i in torch.randperm(len(alive), generator=g)[:len(family)].tolist()]
    return layer, t, family, control


def measure(model, layer, t, units, best, *, lucid: bool, steps: int) -> dict:
    objective = sum(obj.neuron(layer, c, batch=i) for i, c in enumerate(units))
    kwargs = {}
    if lucid:
        kwargs = {"param": LUCID.param(model, objective, len(units), 64, 0, torch.device("cpu")),
                  "transforms": LUCID.transforms}
    start = time.perf_counter()
    images = render(model, objective, batch_size=len(units), steps=steps, progress=False,
                    **kwargs).images
    seconds = time.perf_counter() - start
    rf = hooks.receptive_field(model, layer)
    r = readability(images, t.preferred[units], rf.centre, min(rf.size, 64))
    a = hooks.run_with_cache(model, images, layer, stop=True)[1].only()
    h, w = a.shape[2:]
    reach = torch.stack([a[i, c, h // 2, w // 2] / best[c] for i, c in enumerate(units)])
    return {"arc": float(r.arc.median()), "ratio": float(r.arc_over_line.median()),
            "bend": float(r.bends_right(30).float().mean()), "reach": float(reach.median()),
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=zoo.organism_names())
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--no-lucid", action="store_true", help="skip Lucid's defaults")
    args = parser.parse_args()
    pool = data.make_batch(2000, seed=data.EXAMPLES_SEED).images
    print(f"{'organism':<11} {'layer':<6} {'n':>3} {'recipe':<8} {'arc':>5} {'control':>7} "
          f"{'gap':>6} {'arc/line':>8} {'bend<=30':>8} {'reach':>6} {'s':>5}")
    for name in args.names:
        model = zoo.load(name)
        layer, t, family, control = family_and_control(model)
        best = hooks.layer_activations(model, pool, layer,
                                       reduce=lambda a: a.amax(dim=(2, 3))).amax(dim=0)
        if not family or not control:
            print(f"{name:<11} {layer:<6} {len(family):>3} (no family or no control to compare)")
            continue
        for lucid in ([False] if args.no_lucid else [True, False]):
            d = measure(model, layer, t, family, best, lucid=lucid, steps=args.steps)
            c = measure(model, layer, t, control, best, lucid=lucid, steps=args.steps)
            label = "Lucid" if lucid else "plain"
            print(f"{name:<11} {layer:<6} {len(family):>3} {label:<8} {d['arc']:5.2f} "
                  f"{c['arc']:7.2f} {d['arc'] - c['arc']:+6.2f} {d['ratio']:8.2f} "
                  f"{d['bend']:8.0%} {d['reach']:6.2f} {d['seconds'] + c['seconds']:5.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
