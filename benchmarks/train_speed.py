"""Training speed of the organisms on this machine, and the time a full recipe takes.

Times `--steps` training steps (fresh data, adversarial replays, as in the
recipe) of each architecture after a short warm-up, and extrapolates to the
recipe's steps. `python -m interp_lib.zoo train NAME` runs the real thing.

    python benchmarks/train_speed.py
"""

from __future__ import annotations

import argparse
import time

import torch

from interp_lib import zoo
from interp_lib.organism.train import Recipe, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"{'architecture':<13} {'steps/s':>8} {'recipe steps':>13} {'estimated minutes':>18}")
    for arch_name, arch in zoo.ARCHITECTURES.items():
        recipe = Recipe(seed=0)
        train(arch, Recipe(seed=0, steps=4), progress=False)  # warm-up
        start = time.perf_counter()
        train(arch, Recipe(seed=0, steps=args.steps), progress=False)
        rate = args.steps / (time.perf_counter() - start)
        print(f"{arch_name:<13} {rate:>8.2f} {recipe.steps:>13} {recipe.steps / rate / 60:>18.1f}")


if __name__ == "__main__":
    main()
