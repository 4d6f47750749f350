"""Speed of feature visualization on the CPU.

Prints optimization steps per second for an organism at 64 px and for
GoogLeNet (InceptionV1, random weights) at 128 px, at batch 1 and 16, and the
time to render 16 channels of a layer as one batch versus 16 separate renders.

    python benchmarks/render_speed.py
"""

from __future__ import annotations

import time

import torch

from interp_lib.optvis import objectives as obj
from interp_lib import zoo
from interp_lib.optvis.render import render, render_channels


def steps_per_second(model, objective, size: int, batch: int, steps: int) -> float:
    render(model, objective, size=size, batch_size=batch, steps=2, progress=False)  # warm-up
    start = time.perf_counter()
    render(model, objective, size=size, batch_size=batch, steps=steps, progress=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"{'model':<22} {'size':>5} {'batch':>6} {'steps/s':>8} {'images/s':>9}")
    cases = [
        ("conv5-s0", zoo.load("conv5-s0"), obj.channel("relu3", 0), 64, 64),
        ("googlenet (random)", zoo.load("googlenet", pretrained=False),
         obj.channel("mixed4a", 0), 128, 8),
    ]
    for name, model, objective, size, steps in cases:
        for batch in (1, 16):
            sps = steps_per_second(model, objective, size, batch, steps)
            print(f"{name:<22} {size:>5} {batch:>6} {sps:>8.1f} {sps * batch:>9.1f}")

    model = zoo.load("conv5-s0")
    channels = list(range(16))
    steps = 64
    start = time.perf_counter()
    render_channels(model, "relu3", channels, steps=steps, progress=False)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for c in channels:
        render(model, obj.channel("relu3", c), steps=steps, progress=False)
    separate = time.perf_counter() - start
    print(f"\n16 channels of conv5-s0 relu3, {steps} steps each:")
    print(f"  one batched render: {batched:6.1f} s")
    print(f"  16 separate renders: {separate:6.1f} s")
    print(f"  speed-up: {separate / batched:.1f}x")


if __name__ == "__main__":
    main()
