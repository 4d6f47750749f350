"""Chapter 7's measurements on every shipped classifier (about a minute each on two cores).

For each model:

probes     held-out probe scores, layer by layer (pixels, then every ReLU), for class,
           curved, polarity (accuracy), orientation of arcs and size (R^2), in the
           trained network and in an untrained twin (same architecture, He-initialised
           from seed 0); in brackets the trained network's selectivity (real task
           minus a control task with random labels per drawing type).
tcav       at the last ReLU, relative CAVs (arcs and waves against corners and
           zigzags: "curved"; two-tone against one-tone drawings: the control),
           eight per concept: TCAV score and two-sided t-test p-value for circle,
           spiral and square.
amnesic    at the last ReLU, twelve INLP directions of curvature and of size
           removed inside the network (each component set to its mean): accuracy
           and curved-or-straight accuracy, against five draws of twelve random
           directions; the share of the layer's variance each removal takes.
units      at the curve layer (the middle ReLU with the most curve detectors), the
           curvature probe's cosines with the curve family: how many are positive,
           the family's share of the direction's squared length against its share
           of the units, and whether the largest cosine is a family member's.

    python benchmarks/probes.py                 # all six organisms
    python benchmarks/probes.py conv5-s0        # one
"""

from __future__ import annotations

import argparse
import time

import torch

from interp_lib import hooks, probes, zoo
from interp_lib.organism import data
from interp_lib.organism.models import init_weights
from interp_lib.tuning import curve_tuning

POOL_SEED, TEST_SEED = data.FIT_SEED, data.TEST_SEED  # the chapter's
PROPERTIES = ("class", "curved", "polarity", "orientation", "size")


def measure(name: str, pool: data.ShapeBatch, test: data.ShapeBatch) -> None:
    model = zoo.load(name)
    twin = zoo.build(name)
    init_weights(twin, seed=0)
    relus = [n for n in hooks.layer_names(model) if n.startswith("relu")]
    layers = [probes.PIXELS, *relus]
    truth = probes.ground_truth(pool)
    features = {"trained": probes.layer_features(model, pool.images, layers),
                "untrained": probes.layer_features(twin.eval(), pool.images, layers)}
    table = probes.probe_layers(features, truth, types=probes.shape_types(pool))
    print(f"\n{name}   layers: {' '.join(layers)}")
    for prop in PROPERTIES:
        trained = " ".join(f"{table.scores[('trained', prop, layer)]:5.2f}"
                           f"({table.selectivity('trained', prop, layer):+.2f})" for layer in layers)
        untrained = " ".join(f"{v:5.2f}" for v in table.row("untrained", prop))
        print(f"  probes  {prop:<11} trained {trained}   untrained {untrained}   "
              f"chance {table.chance[prop]:.2f}")

    last = relus[-1]
    names = pool.class_names
    curved = torch.tensor([n in ("arc", "wave") for n in names])
    cornered = torch.tensor([n in ("corner", "zigzag") for n in names])
    two_tone = pool.params["two_tone"] > 0

    def negatives(images: torch.Tensor) -> list[torch.Tensor]:
        return [images[i * 45:(i + 1) * 45] for i in range(8)]

    concepts = {"curved": probes.concept_cavs(model, pool.images[curved][:100],
                                              negatives(pool.images[cornered]), last),
                "two-tone": probes.concept_cavs(model, pool.images[two_tone][:100],
                                                negatives(pool.images[~two_tone]), last)}
    for concept, cavs in concepts.items():
        parts = []
        for cls in ("circle", "spiral", "square"):
            k = data.CLASSES.index(cls)
            r = probes.tcav(model, test.images[test.labels == k][:60], k, cavs)
            parts.append(f"{cls} {r.score:.2f} (p {r.p_value:.2g})")
        print(f"  tcav    {last} {concept:<9} " + "   ".join(parts))

    train = probes.train_split(len(pool))
    feats = features["trained"][last]
    removed = {prop: probes.inlp(feats, truth[prop], train=train, n_iterations=12, tolerance=None,
                                 mean=feats.mean(dim=0)).directions for prop in ("curved", "size")}
    am = probes.amnesic_effect(model, test.images[:500], test.labels[:500], last, removed, n_random=5)
    groups = torch.tensor([c in data.CURVED for c in data.CLASSES]).long()
    rand, rand_g = am.random_accuracy("curved"), am.random_accuracy("curved", groups=groups)
    print(f"  amnesic {last} intact {am.accuracy():.2f}/{am.accuracy(groups=groups):.2f}   " + "   ".join(
        f"without {prop} {am.accuracy(prop):.2f}/{am.accuracy(prop, groups=groups):.2f} "
        f"(var {am.variance[prop]:.0%})" for prop in removed)
        + f"   random {rand.min():.2f}-{rand.max():.2f}/{rand_g.min():.2f}-{rand_g.max():.2f} "
        f"(var {am.random_variance['curved'].min():.0%}-{am.random_variance['curved'].max():.0%})")

    tunings = {layer: curve_tuning(model, layer) for layer in zoo.middle_layers(model)}
    layer = max(tunings, key=lambda n: len(tunings[n].family()))
    family = tunings[layer].family()
    if not family:
        print(f"  units   {layer}: no curve detectors")
        return
    cos = probes.unit_cosines(table.directions[("trained", "curved", layer)][0])
    top = int(cos.abs().argmax())
    print(f"  units   {layer}: {int((cos[family] > 0).sum())} of {len(family)} family cosines positive; "
          f"family share {float((cos[family] ** 2).sum()):.0%} of the direction, "
          f"{len(family) / len(cos):.0%} of the units; largest |cosine| unit {top} "
          f"({'family' if top in family else 'not family'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=zoo.organism_names())
    args = parser.parse_args()
    pool = data.make_batch(2000, seed=POOL_SEED)
    test = data.make_batch(900, seed=TEST_SEED)
    for name in args.models:
        start = time.time()
        measure(name, pool, test)
        print(f"  ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
