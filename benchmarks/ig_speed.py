"""Speed of integrated gradients: internal batching versus one pass per step and image.

Integrated gradients needs the gradient at n_steps points for every image.
Sending all of them through the model in large batches uses the CPU's
vector units far better than one forward/backward pass per point.

    python benchmarks/ig_speed.py
"""

from __future__ import annotations

import time

import torch

from interp_lib import zoo
from interp_lib.organism import data
from interp_lib.attribution import integrated_gradients


def main() -> None:
    model = zoo.load("conv5-s0")
    batch = data.make_batch(16, seed=0)
    x, target = batch.images, batch.labels
    steps = 50
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"integrated gradients, {steps} steps, 16 images of 64 px, conv5-s0\n")
    integrated_gradients(model, x[:2], target[:2], n_steps=4)  # warm-up

    timings = {}
    for label, chunk in (("all 800 points in one batch", None), ("internal batches of 200", 200),
                         ("internal batches of 50", 50)):
        start = time.perf_counter()
        attr = integrated_gradients(model, x, target, n_steps=steps, internal_batch_size=chunk)
        timings[label] = time.perf_counter() - start

    start = time.perf_counter()
    slow = torch.cat([integrated_gradients(model, x[i:i + 1], target[i:i + 1], n_steps=steps,
                                           internal_batch_size=1) for i in range(len(x))])
    timings["one forward/backward per step and image"] = time.perf_counter() - start
    assert torch.allclose(attr, slow, atol=1e-4), "batched and unbatched disagree"

    base = timings["one forward/backward per step and image"]
    for label, t in timings.items():
        print(f"{label:<42} {t:7.2f} s   {base / t:5.1f}x")


if __name__ == "__main__":
    main()
