"""The search for readable curve-detector renders: a sweep of render levers over the zoo.

For every shipped organism, the layer with the most curve detectors, its curve
family and as many non-detector channels of the same layer (the control), each
lever setting renders all of them at once and measures each render the way
`render_readability.py` does: the normalised correlation (high-passed luminance,
inside the receptive field) with the best-matching arc and the best line, the
best arc's orientation against the tuning curve's peak, and the activation the
render reaches over the channel's best activation on 2000 drawings.

    python benchmarks/render_sweep.py --out sweep.jsonl [--device cuda] [--workers 8]

One JSON line per (organism, setting), with every unit's figures, so the
summary can be recomputed; `--crops crops.npz` also keeps each detector's render,
cropped to its receptive field, as 8-bit luminance.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing as mp
import sys
import time

import torch
from torch import nn

from interp_lib import hooks, zoo
from interp_lib.optvis import objectives as obj
from interp_lib.optvis import param as P
from interp_lib.optvis import transforms as T
from interp_lib.optvis.image_stats import match_stimuli
from interp_lib.optvis.objective_algebra import Objective
from interp_lib.optvis.render import render
from interp_lib.organism import data
from interp_lib.tuning import curve_tuning

LUMINANCE = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]])  # one channel drives R, G and B


class InkImage(nn.Module):
    """A drawing: ink of one grey on a plain background of another (both learned), the ink's
    coverage a sigmoid of a Fourier field, as the organism's data is drawn."""

    def __init__(self, n: int, size: int = 64, *, decay: float = 1.0, offset: float = 2.0,
                 seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.field = P.FourierImage(n, size, size, None, decay_power=decay, generator=g)
        self.offset = offset
        self.tones = nn.Parameter(torch.randn(n, 2, generator=g) * 0.5)

    def forward(self):
        fg, bg = torch.sigmoid(self.tones)[:, :, None, None, None].unbind(1)
        cover = torch.sigmoid(self.field.raw()[:, :1] * 8.0 - self.offset)
        return (bg + (fg - bg) * cover).expand(-1, 3, -1, -1)


def make_param(kind: str, n: int, model, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if kind == "colour":
        p = P.image(64, batch_size=n, colour_sqrt=P.colour_sqrt_for(model), seed=seed)
    elif kind == "luminance":
        p = P.FourierImage(n, 64, 64, LUMINANCE, generator=g)
    elif kind == "luminance-d1.5":
        p = P.FourierImage(n, 64, 64, LUMINANCE, decay_power=1.5, generator=g)
    elif kind == "lowres2":
        p = P.LowResImage(n, 64, 64, LUMINANCE, factor=2, generator=g)
    elif kind == "ink":
        p = InkImage(n, seed=seed)
    else:
        raise ValueError(kind)
    return p.to(device)


def make_transforms(kind: str):
    return {"standard": "standard", "none": None,
            "light": T.compose(T.pad(2), T.jitter(2)),
            "jitter1": T.compose(T.pad(1), T.jitter(1))}[kind]


def ramped(objective: Objective, warm: int) -> Objective:
    state = {"calls": 0}

    def fn(acts):
        state["calls"] += 1
        return objective(acts) * min(1.0, state["calls"] / warm)
    return Objective(fn, objective.layers, f"ramped({objective.name})")


def ink(weights: torch.Tensor) -> Objective:
    """sum over images i of weights[i] times the mean absolute difference of image i's
    luminance from its median (its background): how much ink each image uses."""
    def fn(acts):
        x = acts[obj.INPUT].mean(dim=1)
        med = x.flatten(1).median(dim=1).values
        per_image = (x - med[:, None, None]).abs().mean(dim=(1, 2))
        return (per_image * weights.to(per_image)).sum()
    return Objective(fn, [obj.INPUT], "ink")


def unit_objective(shape: str, layer: str, channel: int, i: int, scale: float) -> Objective:
    n = obj.neuron(layer, channel, batch=i)
    if shape == "plain":
        return n
    if shape == "normed":
        return n / scale
    if shape == "capped":  # saturates at the channel's best activation on real drawings
        return Objective(lambda acts: torch.tanh(n(acts) / scale), n.layers, f"capped({n.name})")
    raise ValueError(shape)


# Settings that share a parameterization, transforms and learning rate render as one batch,
# each variant (objective shape, penalty) on its own images.
GROUPS = {
    "param": ["colour", "luminance", "luminance-d1.5", "lowres2", "ink"],
    "transforms": ["standard", "light", "none"],
    "lr": [0.05, 0.02],
}
VARIANTS = [("plain", 0.0), ("capped", 0.0)] + [
    (shape, pen) for shape in ("normed", "capped") for pen in (1.0, 3.0, 10.0)]


def grid() -> list[dict]:
    return [dict(zip(GROUPS, values)) for values in itertools.product(*GROUPS.values())]


def setting_name(s: dict) -> str:
    return f"{s['param']}|{s['shape']}|pen{s['penalty']:g}|{s['transforms']}|lr{s['lr']:g}"


def prepare(name: str, device) -> dict:
    model = zoo.load(name, device=device)
    tunings = {layer: curve_tuning(model, layer, n_orientations=72)
               for layer in zoo.middle_layers(model)}
    layer = max(tunings, key=lambda layer: len(tunings[layer].curve_detectors()))
    t = tunings[layer]
    family = t.family()
    tuned = set(t.tuned())
    peak = t.responses.amax(1)
    alive = [c for c in range(len(peak)) if c not in tuned and peak[c] > 0.05 * peak.max()]
    g = torch.Generator().manual_seed(0)
    controls = [alive[i] for i in torch.randperm(len(alive), generator=g)[:len(family)].tolist()]
    pool = data.make_batch(2000, seed=data.EXAMPLES_SEED).images
    best = hooks.layer_activations(model, pool, layer, reduce=lambda a: a.amax(dim=(2, 3))).amax(0)
    rf = hooks.receptive_field(model, layer)
    return dict(model=model, layer=layer, tuning=t, family=family, controls=controls,
                best=best, rf=rf)


def run_group(prep: dict, group: dict, device, steps: int) -> list[tuple[dict, torch.Tensor]]:
    model, layer, t, rf = prep["model"], prep["layer"], prep["tuning"], prep["rf"]
    units = prep["family"] + prep["controls"]
    n, nf = len(units), len(prep["family"])
    terms, weights = [], []
    for v, (shape, penalty) in enumerate(VARIANTS):
        terms += [unit_objective(shape, layer, c, v * n + i, float(prep["best"][c]))
                  for i, c in enumerate(units)]
        weights += [penalty] * n
    objective = sum(terms) - ramped(ink(torch.tensor(weights)), 64)
    start = time.perf_counter()
    result = render(model, objective, param=make_param(group["param"], n * len(VARIANTS), model,
                                                       device),
                    transforms=make_transforms(group["transforms"]), lr=group["lr"], steps=steps,
                    progress=False)
    seconds = time.perf_counter() - start
    all_images = result.images
    with torch.no_grad():
        acts = hooks.run_with_cache(model, all_images, layer, stop=True)[1].only()
    h, w = acts.shape[2:]
    half = rf.size / 2
    top, left = max(0, round(rf.centre[1] - half)), max(0, round(rf.centre[0] - half))
    out = []
    for v, (shape, penalty) in enumerate(VARIANTS):
        s = {**group, "shape": shape, "penalty": penalty}
        images = all_images[v * n:(v + 1) * n]
        matches = match_stimuli(images, rf.centre, min(rf.size, 64))
        reach = [float(acts[v * n + i, c, h // 2, w // 2] / prep["best"][c])
                 for i, c in enumerate(units)]
        row = {
            "setting": setting_name(s), **s, "layer": layer,
            "seconds": round(seconds / len(VARIANTS), 2), "units": units, "n_family": nf,
            "preferred": [float(t.preferred[c]) for c in units],
            "arc": [round(m.arc_score, 4) for m in matches],
            "line": [round(m.line_score, 4) for m in matches],
            "arc_orientation": [m.arc_orientation for m in matches],
            "arc_radius": [m.arc_radius for m in matches],
            "best_kind": [m.best_kind for m in matches],
            "reach": [round(r, 3) for r in reach],
        }
        crops = images[:nf, :, top:top + rf.size, left:left + rf.size].mean(dim=1)
        out.append((row, (crops.clamp(0, 1) * 255).round().to(torch.uint8).cpu()))
    return out


def worker(args) -> None:
    index, jobs, device, steps, out, crops_out = args
    torch.set_num_threads(1)
    current, prep = None, None
    crops = {}
    with open(f"{out}.{index}", "w") as f:
        for name, group in jobs:
            if name != current:
                prep, current = prepare(name, device), name
            try:
                results = run_group(prep, group, device, steps)
            except Exception as e:  # a failed group is reported, not fatal
                results = [({"setting": str(group), "error": repr(e)[:300]}, None)]
            for row, crop in results:
                row["model"] = name
                f.write(json.dumps(row) + "\n")
                if crop is not None and crops_out:
                    crops[f"{name}|{row['setting']}"] = crop.numpy()
            f.flush()
            if crops_out:  # saved as it goes: a run cut short keeps what it made
                import numpy as np
                np.savez_compressed(f"{crops_out}.{index}.npz", **crops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--crops", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--models", nargs="*", default=zoo.organism_names())
    parser.add_argument("--limit", type=int, default=None, help="only the first N groups")
    args = parser.parse_args()
    settings = grid()[:args.limit]
    jobs = [(name, s) for name in args.models for s in settings]
    per = math.ceil(len(jobs) / args.workers)
    chunks = [(i, jobs[i * per:(i + 1) * per], args.device, args.steps, args.out, args.crops)
              for i in range(args.workers) if jobs[i * per:(i + 1) * per]]
    print(f"{len(jobs)} renders in {len(chunks)} workers", file=sys.stderr)
    if len(chunks) == 1:
        worker(chunks[0])
    else:
        with mp.get_context("spawn").Pool(len(chunks)) as pool:
            pool.map(worker, chunks)


if __name__ == "__main__":
    main()
