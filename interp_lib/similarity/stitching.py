"""Model stitching: can the top of network B work on the bottom of network A?

Bansal et al. (2021) join two networks at a layer through a trained 1x1
convolution: if B's top, frozen, classifies well from A's features mapped
this way, the two layers carry the same information up to a linear map.
`train_stitch` trains the stitch and measures what it costs (`Stitch`);
`stitched_logits` runs the stitched network. It stands apart from the other
comparisons because it trains something and asks a functional question
(does it still work?) rather than measuring a statistic of activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.hooks import Layer, edit, eval_mode, model_device, run_with_cache
from interp_lib.similarity.unit_matching import resample


@dataclass
class Stitch:
    """A trained stitching layer between A's `layer_a` and B's `layer_b`, and what it costs:
    B's own accuracy, the stitched network's, and the penalty (the difference)."""

    layer: nn.Conv2d
    accuracy_b: float
    accuracy_stitched: float
    losses: list[float]

    @property
    def penalty(self) -> float:
        return self.accuracy_b - self.accuracy_stitched


def stitched_logits(model_a: nn.Module, layer_a: Layer, model_b: nn.Module, layer_b: Layer,
                    stitch: nn.Module, images: Tensor, *, map_size: tuple[int, int] | None = None
                    ) -> Tensor:
    """B's output when its `layer_b` is replaced by stitch(A's `layer_a`) on the same images.

    B runs on the images too, and the edit hook swaps its activations at layer_b for
    the stitched ones, so that any network's top can be reused without rewriting it.
    map_size: the (H, W) of B's layer, if known (otherwise found with one extra image).

    >>> from interp_lib.organism.models import tiny_net
    >>> net, x = tiny_net(), torch.rand(2, 3, 8, 8)
    >>> identity = nn.Conv2d(6, 6, 1)
    >>> with torch.no_grad():
    ...     _ = identity.weight.copy_(torch.eye(6).view(6, 6, 1, 1)), identity.bias.zero_()
    >>> stitched = stitched_logits(net, "relu1", net, "relu1", identity, x)
    >>> torch.allclose(stitched, net(x), atol=1e-6)  # a network stitched to itself is itself
    True
    """
    with torch.no_grad():
        a = run_with_cache(model_a, images, layer_a, stop=True)[1].only()
        if map_size is None:
            map_size = tuple(run_with_cache(model_b, images[:1], layer_b, stop=True)[1].only().shape[2:])
    mapped = stitch(resample(a, map_size))
    with edit(model_b, layer_b, lambda out: mapped):
        return model_b(images.to(model_device(model_b)))


def train_stitch(model_a: nn.Module, layer_a: Layer, model_b: nn.Module, layer_b: Layer,
                 make_batch, *, steps: int = 200, batch_size: int = 64, lr: float = 1e-2,
                 eval_images: Tensor, eval_labels: Tensor, seed: int = 0) -> Stitch:
    """Freeze A's bottom (up to layer_a) and B's top (after layer_b); train a 1x1
    convolution between them on fresh batches, `make_batch(n, seed) -> (images, labels)`,
    and measure the stitched network's accuracy on held-out images.

    Neither model is changed: only the stitching layer learns (Adam).

    >>> from interp_lib.organism import data
    >>> from interp_lib.organism.models import tiny_net
    >>> held = data.make_batch(8, seed=1)
    >>> net_a, net_b = tiny_net(0), tiny_net(1)
    >>> before = net_b.conv2.weight.clone()
    >>> s = train_stitch(net_a, "relu1", net_b, "relu1",
    ...                  lambda n, seed: (data.make_batch(n, seed).images,
    ...                                   data.make_batch(n, seed).labels),
    ...                  steps=2, batch_size=4, eval_images=held.images, eval_labels=held.labels)
    >>> s.penalty == s.accuracy_b - s.accuracy_stitched  # the accuracy B loses to A's features
    True
    >>> torch.equal(net_b.conv2.weight, before)  # only the 1x1 stitch learned
    True
    """
    with torch.no_grad():
        a = run_with_cache(model_a, eval_images[:1], layer_a, stop=True)[1].only()
        b = run_with_cache(model_b, eval_images[:1], layer_b, stop=True)[1].only()
    c_a, c_b, map_size = a.shape[1], b.shape[1], tuple(b.shape[2:])
    with torch.random.fork_rng(devices=[]):  # a seeded start that leaves the caller's RNG alone
        torch.manual_seed(seed)
        layer = nn.Conv2d(c_a, c_b, 1).to(model_device(model_b))
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    losses = []
    with eval_mode(model_a), eval_mode(model_b):
        for step in range(steps):
            images, labels = make_batch(batch_size, seed * 100_003 + step)
            logits = stitched_logits(model_a, layer_a, model_b, layer_b, layer, images, map_size=map_size)
            loss = nn.functional.cross_entropy(logits, labels.to(logits.device))
            opt.zero_grad(set_to_none=True)
            # Only the stitch's parameters: the models' weights get no .grad.
            grads = torch.autograd.grad(loss, list(layer.parameters()))
            for p, g in zip(layer.parameters(), grads):
                p.grad = g
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            stitched = stitched_logits(model_a, layer_a, model_b, layer_b, layer, eval_images,
                                       map_size=map_size)
            own = model_b(eval_images.to(model_device(model_b)))
    labels = eval_labels.to(stitched.device)
    return Stitch(layer.eval(), float((own.argmax(1) == labels).float().mean()),
                  float((stitched.argmax(1) == labels).float().mean()), losses)
