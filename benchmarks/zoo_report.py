"""Each organism of the zoo: held-out accuracy and its curve-tuned channels, layer by layer.

    python benchmarks/zoo_report.py [conv5-s0 ...]

For every middle layer: how many channels are curve-tuned (peak over mean at least
3), the largest gap between their preferred orientations, how many pass the
strict curve-versus-line test, and each tuned channel's figures.
"""

from __future__ import annotations

import argparse

from interp_lib import zoo
from interp_lib.organism import train
from interp_lib.tuning import curve_tuning, largest_gap


def report(models: list[str] | None = None, n_images: int = 2000) -> str:
    """Accuracy and curve-tuned channels of each organism, as printable text."""
    lines = []
    for name in models or zoo.organism_names():
        model = zoo.load(name)
        acc = train.accuracy(model, n=n_images)
        lines.append(f"{name}: held-out accuracy {acc:.1%} ({n_images} images)")
        for layer in zoo.middle_layers(model):
            t = curve_tuning(model, layer)
            tuned, strict = t.tuned(), set(t.curve_detectors())
            prefs = [float(t.preferred[c]) for c in tuned]
            strict_prefs = [float(t.preferred[c]) for c in strict]
            lines.append(f"  {layer}: {len(tuned)} curve-tuned channels (peak/mean >= 3), "
                         f"largest orientation gap {largest_gap(prefs):.1f} deg; "
                         f"{len(strict)} of them prefer curves to lines, "
                         f"gap {largest_gap(strict_prefs):.1f} deg")
            for c in sorted(tuned, key=lambda c: float(t.preferred[c])):
                lines.append(f"    channel {c:3d}: preferred {float(t.preferred[c]):5.1f} deg, "
                             f"peak/mean {float(t.peak_to_mean[c]):5.2f}, "
                             f"opposite/peak {float(t.opposite[c]):.2f}"
                             + ("" if c in strict else ", answers a line more strongly"))
    return "\n".join(lines)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="organisms (default: all)")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in zoo.organism_names()]
    if unknown:
        parser.error(f"unknown organism(s) {unknown}; choose from {zoo.organism_names()}")
    print(report(args.names or None))


if __name__ == "__main__":
    main()
