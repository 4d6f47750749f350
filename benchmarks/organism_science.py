"""Does the organism show Zoom In's three claims? Measured on every shipped classifier.

For each model, in its best curve layer (the middle layer with the most curve
detectors), this prints the measures of issue "Organism 2":

features   strict curve detectors (peak/mean >= 3 over orientations, peak >= 5%
           of the layer's largest, preferred curve >= 1.5x the best straight
           line); the largest gap between their preferred orientations; the
           share answering the opposite contrast polarity at >= 50%; the share
           with a single-lobed tuning curve (one run of orientations above half
           the peak).
visuals    each detector's neuron is rendered (the library's default render);
           the render is compared, inside the receptive field, with arcs and
           lines (normalized cross-correlation of high-passed luminance): the
           share whose best match is an arc within 30 degrees of the detector's
           preferred orientation, the median score of the best arc, and the
           median of best arc over best line.
circuits   the share of detectors whose excitatory inputs lie along their
           curve's tangent more than with shuffled input orientations (and the
           permutation p-value); Spearman correlation between the summed
           weight from one curve-tuned unit to another in the next layer and
           the cosine of their orientation difference.
universal  the share of detectors whose best-correlated unit in another model
           is a curve detector within 22.5 degrees (other seed, same
           architecture; other architecture); the share of layers whose
           highest-linear-CKA partner in the other seed is the same layer.

    python benchmarks/organism_science.py                    # the shipped zoo
    python benchmarks/organism_science.py --weights my_dir   # retrained weights
    python benchmarks/organism_science.py --model exp:conv5:runs/exp.safetensors
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import dataclass, field

import torch

from interp_lib import circuits, hooks, similarity, zoo
from interp_lib.hooks import layer_names, receptive_field
from interp_lib.optvis import objectives as obj
from interp_lib.optvis.image_stats import match_stimuli
from interp_lib.optvis.render import render
from interp_lib.organism import data, train
from interp_lib.tuning import CurveTuning, curve_tuning, largest_gap, line_tuning

N_ORIENTATIONS = 36
MAX_RENDERED = 24


@dataclass
class ModelScience:
    name: str
    arch: str
    accuracy: float
    layer: str = ""
    tunings: dict[str, CurveTuning] = field(default_factory=dict)
    detectors: list[int] = field(default_factory=list)
    row: dict[str, object] = field(default_factory=dict)


def angle_diff(a: float, b: float, period: float = 360.0) -> float:
    d = abs(a - b) % period
    return min(d, period - d)


def measure_model(name: str, arch: str, model, renders: bool) -> ModelScience:
    s = ModelScience(name, arch, train.accuracy(model, n=2000))
    for layer in zoo.middle_layers(model):
        s.tunings[layer] = curve_tuning(model, layer, n_orientations=N_ORIENTATIONS)
    s.layer = max(s.tunings, key=lambda layer: len(s.tunings[layer].curve_detectors()))
    t = s.tunings[s.layer]
    s.detectors = t.family()
    d = s.detectors
    row = s.row
    row["layer"] = s.layer
    row["detectors"] = len(d)
    row["gap"] = largest_gap(t.preferred[d].tolist())
    row["polarity>=50%"] = _share([float(t.polarity_ratio[c]) >= 0.5 for c in d])
    row["single-lobed"] = _share([int(t.lobes(0.5)[c]) == 1 for c in d])
    row["echo (median)"] = statistics.median([float(t.echo[c]) for c in d]) if d else float("nan")
    if renders and d:
        row.update(_visual_measures(model, s.layer, t, d[:MAX_RENDERED]))
    row.update(_circuit_measures(model, s))
    return s


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def _visual_measures(model, layer: str, t: CurveTuning, detectors: list[int]) -> dict:
    objective = sum(obj.neuron(layer, c, batch=i) for i, c in enumerate(detectors))
    images = render(model, objective, batch_size=len(detectors), steps=256, seed=0,
                    progress=False).images
    rf = receptive_field(model, layer)
    matches = match_stimuli(images, rf.centre, min(rf.size, 64))
    hits = [m.best_kind == "arc" and angle_diff(m.arc_orientation, float(t.preferred[c])) <= 30
            for m, c in zip(matches, detectors)]
    return {
        "vis arc within 30": _share(hits),
        "vis arc NCC (median)": statistics.median(m.arc_score for m in matches),
        "vis arc/line (median)": statistics.median(m.arc_score / max(m.line_score, 1e-9)
                                                   for m in matches),
    }


def _circuit_measures(model, s: ModelScience) -> dict:
    t, d = s.tunings[s.layer], s.detectors
    out: dict[str, object] = {}
    if d:
        source = circuits.input_layer(model, s.layer)
        lines = line_tuning(model, source)
        peak = lines.responses.amax(dim=1)
        oriented = (lines.selectivity >= 0.3) & (peak >= 0.05 * peak.max())
        ta = circuits.tangent_alignment(model, s.layer, d, t, lines, oriented=oriented,
                                        stride=receptive_field(model, source).stride)
        out["tangent aligned"] = float(ta.aligned.float().mean())
        out["tangent p"] = ta.p_value
        out["oriented inputs"] = int(oriented.sum())
    # Detector-to-detector weights between consecutive middle layers around the best layer.
    layers = list(s.tunings)
    i = layers.index(s.layer)
    best = None
    for lo, hi in ((i - 1, i), (i, i + 1)):
        if lo < 0 or hi >= len(layers):
            continue
        a_t, b_t = s.tunings[layers[lo]], s.tunings[layers[hi]]
        a_units = a_t.tuned() if lo != i else d
        b_units = b_t.tuned() if hi != i else d
        if len(a_units) < 3 or len(b_units) < 3:
            continue
        w = circuits.family_weights(model, layers[hi], b_units, a_units)  # (B, A)
        rho, p = circuits.orientation_weight_correlation(w, b_t.preferred[b_units],
                                                         a_t.preferred[a_units])
        pairs = len(a_units) * len(b_units)
        out[f"rho {layers[lo]}->{layers[hi]}"] = f"{rho:+.2f} (p={p:.1g}, {pairs} pairs)"
        if best is None or pairs > best[2]:
            best = (rho, p, pairs)
    if best is not None:
        out["weight~cos rho"], out["weight~cos p"] = best[0], best[1]
    return out


def partner_share(a: ModelScience, b: ModelScience, acts: dict[str, dict]) -> float:
    """Share of A's detectors whose best-correlated unit of B (its best curve layer)
    is one of B's curve detectors within 22.5 degrees of the same orientation."""
    if not a.detectors:
        return float("nan")
    xa, xb = acts[a.name][a.layer], acts[b.name][b.layer]
    grid = (min(xa.shape[2], xb.shape[2]), min(xa.shape[3], xb.shape[3]))
    corr = similarity.unit_correlations(similarity.resample(xa[:, a.detectors], grid),
                                        similarity.resample(xb, grid))
    ta, tb = a.tunings[a.layer], b.tunings[b.layer]
    tuned_b = set(b.detectors)
    hits = []
    for row, c in zip(corr, a.detectors):
        partner = int(row.argmax())
        hits.append(partner in tuned_b and angle_diff(float(tb.preferred[partner]),
                                                      float(ta.preferred[c])) <= 22.5)
    return _share(hits)


def cka_identification(a, b, layers: list[str], images: torch.Tensor) -> float:
    xa = hooks.activations(a, images, layers)
    xb = hooks.activations(b, images, layers)
    right = 0
    for la in layers:
        scores = {lb: similarity.linear_cka(xa[la], xb[lb]) for lb in layers}
        right += max(scores, key=scores.get) == la
    return right / len(layers)


def load_models(args) -> list[tuple[str, str, torch.nn.Module]]:
    from safetensors.torch import load_file
    from interp_lib.organism.models import ConvNet

    models = []
    for spec in args.model or []:
        label, arch, path = spec.split(":", 2)
        m = ConvNet(zoo.ARCHITECTURES[arch])
        m.load_state_dict(load_file(path))
        models.append((label, arch, m.eval()))
    if not args.model:
        for name in args.names or zoo.organism_names():
            models.append((name, zoo.ORGANISMS[name][0], zoo.load(name, weights_dir=args.weights)))
    return models


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 or v != v else f"{v:.1f}"
    return str(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="zoo organisms (default: all)")
    parser.add_argument("--weights", default=None, help="weights folder (default: the package's)")
    parser.add_argument("--model", action="append", help="LABEL:ARCH:FILE.safetensors (repeatable)")
    parser.add_argument("--no-renders", action="store_true", help="skip the visualization measures")
    parser.add_argument("--images", type=int, default=400, help="images for correlations and CKA")
    args = parser.parse_args()
    torch.manual_seed(0)
    start = time.time()
    models = load_models(args)
    results = [measure_model(label, arch, m, not args.no_renders) for label, arch, m in models]
    images = data.make_batch(args.images, data.ANALYSIS_SEED).images
    acts = {s.name: hooks.activations(m, images, s.layer) for s, (_, _, m) in zip(results, models)}
    for s in results:
        same = [o for o in results if o is not s and o.arch == s.arch]
        other = [o for o in results if o.arch != s.arch]
        s.row["partner other seed"] = (statistics.mean(partner_share(s, o, acts) for o in same)
                                       if same else float("nan"))
        s.row["partner other arch"] = (statistics.mean(partner_share(s, o, acts) for o in other)
                                       if other else float("nan"))
    for (sa, (_, _, ma)), (sb, (_, _, mb)) in itertools.combinations(zip(results, models), 2):
        if sa.arch == sb.arch:
            relus = [n for n in layer_names(ma) if n.startswith("relu")]
            share = cka_identification(ma, mb, relus, images[:300])
            sa.row.setdefault("CKA same layer", share)
            sb.row.setdefault("CKA same layer", share)
    keys = list(dict.fromkeys(k for s in results for k in s.row))
    width = max(len(k) for k in keys + ["accuracy"])
    print(f"{'measure':<{width}}  " + "  ".join(f"{s.name:>12}" for s in results))
    print(f"{'accuracy':<{width}}  " + "  ".join(f"{s.accuracy:>12.1%}" for s in results))
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{fmt(s.row.get(k, '-')):>12}" for s in results))
    print(f"\n({time.time() - start:.0f} s; tuning at {N_ORIENTATIONS} orientations, "
          f"{args.images} images for correlations)")


if __name__ == "__main__":
    main()
