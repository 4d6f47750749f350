"""Quality of feature visualization: does a channel's visualization excite it more
than any of 2,000 generated data set images?

For every channel of every layer of the chosen organisms, render the channel
with default settings (256 steps, Fourier + decorrelated colour, standard
transforms) and compare its channel activation with the largest activation
over 2,000 held-out images. Prints, per layer, the share of channels whose
visualization wins, the same share among live channels (those whose best
image activation is at least 1% of the layer's median: a channel that never
fires on the data cannot be beaten), and the median ratio of visualization
to best image.

    python benchmarks/render_quality.py                 # conv5-s0 and conv3-s0
    python benchmarks/render_quality.py conv5-s1 --steps 128
"""

from __future__ import annotations

import argparse
import time

import torch

from interp_lib import zoo
from interp_lib.organism import data
from interp_lib.dataset_examples import channel_scores
from interp_lib.hooks import run_with_cache
from interp_lib.optvis.render import render_channels


def layer_quality(model, layer: str, images: torch.Tensor, steps: int, seed: int = 0):
    n_channels = run_with_cache(model, images[:1], layer)[1][layer].shape[1]
    channels = list(range(n_channels))
    result = render_channels(model, layer, channels, steps=steps, seed=seed, progress=False)
    _, acts = run_with_cache(model, result.images, layer)
    vis = acts[layer].mean(dim=(2, 3))[torch.arange(n_channels), torch.arange(n_channels)]
    best = channel_scores(model, images, layer).amax(dim=0)  # each channel's best image
    wins = vis > best
    ratio = (vis / best.clamp_min(1e-8)).median().item()
    # A channel that (almost) never fires on the data cannot be out-excited: count it apart.
    live = best > 0.01 * best.median()
    return wins.float().mean().item(), wins[live].float().mean().item(), int(live.sum()), ratio, \
        n_channels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=["conv5-s0", "conv3-s0"])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--layers", nargs="*", default=None, help="default: every ReLU layer")
    args = parser.parse_args()
    images = data.make_batch(args.images, data.HELD_OUT_SEED).images
    print(f"{'model':<10} {'layer':<7} {'channels':>8} {'vis wins':>9} {'live':>5} "
          f"{'wins among live':>16} {'median vis/best':>16} {'time':>6}")
    for name in args.models:
        model = zoo.load(name)
        layers = args.layers or [n.replace("conv", "relu") for n in model.conv_names]
        for layer in layers:
            start = time.time()
            share, live_share, live, ratio, n = layer_quality(model, layer, images, args.steps)
            print(f"{name:<10} {layer:<7} {n:>8} {share:>8.0%} {live:>5} {live_share:>15.0%} "
                  f"{ratio:>16.2f} {time.time() - start:>5.0f}s", flush=True)


if __name__ == "__main__":
    main()
