"""Checks for chapter 5, superposition.

ARENA's tests for this material compare with the reference on random inputs;
these also test behaviour: the learner's own model class, trained with the
reference loop, must keep exactly m features when they are dense and pack more
than m when they are sparse; sparse features must be independent, not one
coin per example.
"""

from __future__ import annotations

import torch

from interp_lib import superposition, superposition_measures
from interp_lib.course.checks import (call, check, constant_factor, expect_close, expect_fast,
                                      expect_gradient, expect_shape, fail)
from interp_lib.course.wild import attached

TITLE = "Polysemantic neurons and superposition"


def _toy(n: int, m: int, instances: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(instances, m, n, generator=g) * 0.6, torch.randn(instances, n, generator=g) * 0.1


def _reference_forward(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    h = torch.einsum("imn,bin->bim", W, x)
    return torch.relu(torch.einsum("imn,bim->bin", W, h) + b)


# The chapter's sweep: 20 features in 5 dimensions, 14 instances, batches of 512.
SWEEP = (20, 5, 14, 512)


def _expect_fast_forward(cls, reference, what: str) -> None:
    """A forward pass at the sweep's sizes, timed against the reference's. The ratio is
    tighter than elsewhere (10): training runs thousands of them, and every vectorised
    way to write it (einsum, bmm, a loop over the instances) is within 2x of einsum."""
    n, m, instances, batch = SWEEP
    model = cls(n, m, instances, seed=0)
    W, b = _toy(n, m, instances, seed=20)
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
    x = torch.rand(batch, instances, n, generator=torch.Generator().manual_seed(21))
    with torch.no_grad():
        expect_fast(model, lambda x: reference(W, b, x), x, what=what, ratio=10.0,
                    on="the chapter's sweep (a batch of 512, 14 instances of 20 features)",
                    cause="a Python loop over the examples of the batch? One einsum handles "
                          "the batch and the instances together.")


@check("ToyModel", points=3)
def check_ToyModel(cls) -> None:
    model = cls(5, 2, 3, seed=0)
    params = dict(model.named_parameters())
    if set(params) != {"W", "b"}:
        fail(f"keep the parameters W and b (and no others); your model has {sorted(params)}.")
    expect_shape(params["W"], (3, 2, 5), "ToyModel(5, 2, 3).W")
    expect_shape(params["b"], (3, 5), "ToyModel(5, 2, 3).b")
    W, b = _toy(5, 2, 3, seed=1)
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
    x = torch.rand(16, 3, 5, generator=torch.Generator().manual_seed(2))
    out = call(model, x, what="ToyModel.forward(x)")
    expect_shape(out, (16, 3, 5), "ToyModel(5, 2, 3)(x) for x (16, 3, 5)")
    h = torch.einsum("imn,bin->bim", W, x)
    relu_hidden = torch.relu(torch.einsum("imn,bim->bin", W, torch.relu(h)) + b)
    no_output_relu = torch.einsum("imn,bim->bin", W, h) + b
    ref = _reference_forward(W, b, x)
    if torch.allclose(out, relu_hidden, atol=1e-5) and not torch.allclose(ref, relu_hidden, atol=1e-5):
        fail("you put the ReLU on the hidden layer: h = W x stays linear; the ReLU acts on the "
             "output, ReLU(W^T h + b).")
    if torch.allclose(out, no_output_relu, atol=1e-5):
        fail("the output has no ReLU: x' = ReLU(W^T h + b).")
    if torch.allclose(out, torch.relu(torch.einsum("imn,bim->bin", W, h)), atol=1e-5):
        fail("you left out the bias b.")
    expect_close(out, ref, "h = W x per instance, then ReLU(W^T h + b).", atol=1e-5,
                 what="ToyModel.forward(x)")
    expect_gradient(lambda w: _forward_with(cls, w, b, x), W, what="ToyModel's forward (to W)")
    _expect_fast_forward(cls, _reference_forward, "ToyModel.forward")
    # Behaviour: trained with the reference loop, dense features keep m = 2 of them;
    # sparse ones pack all five.
    trained = cls(5, 2, 2, seed=0)
    opt = torch.optim.AdamW(trained.parameters(), lr=1e-2, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    importance = 0.9 ** torch.arange(5.0)
    cfg = superposition.ToyConfig(5, 2, sparsity=(0.0, 0.99))
    for _ in range(1000):
        xb = superposition.generate_batch(cfg, 512, generator=g)
        loss = superposition.importance_loss(xb, trained(xb), importance)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    norms = trained.W.detach().norm(dim=1)
    kept = (norms > 0.5).sum(dim=1).tolist()
    if kept[0] != 2:
        fail(f"trained on dense features, your model keeps {kept[0]} features with "
             "||W_i|| > 0.5; the toy model keeps exactly m = 2 (the two most important).")
    if kept[1] <= 2:
        fail(f"trained on sparse features (sparsity 0.99), your model keeps {kept[1]}; the toy "
             "model packs more than m = 2 of them into 2 dimensions.")


def _forward_with(cls, W, b, x, sizes=(5, 2, 3)):
    model = cls(*sizes, seed=0)
    del model.W
    model.W = W  # a tensor that records gradients, in place of the parameter
    with torch.no_grad():
        model.b.copy_(b)
    return model(x)


@check("importance_loss", points=1)
def check_importance_loss(fn) -> None:
    g = torch.Generator().manual_seed(3)
    x, x_hat = torch.rand(8, 2, 4, generator=g), torch.rand(8, 2, 4, generator=g)
    importance = torch.tensor([1.0, 0.5, 0.25, 0.125])
    out = call(fn, x, x_hat, importance, what="importance_loss(x, x_hat, importance)")
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        fail("importance_loss should return a scalar tensor.")
    out = out.reshape(())
    err = (x - x_hat) ** 2
    ref = (importance * err).sum(-1).mean(0).sum()
    if torch.isclose(out, (importance * err).mean(-1).mean(0).sum()):
        fail("you averaged over the features: the loss adds them up (sum over the last dim).")
    if torch.isclose(out, (importance**2 * err).sum(-1).mean(0).sum()):
        fail("you squared the importance: it weights each squared error as it is.")
    if torch.isclose(out, err.sum(-1).mean(0).sum()):
        fail("every feature counts alike in your loss: weight each by its importance.")
    if torch.isclose(out, (importance * err).sum(-1).mean()):
        fail("you averaged over the instances: add them up, so that each instance's gradient "
             "is its own loss's.")
    if torch.isclose(out, (importance * (x - x_hat).abs()).sum(-1).mean(0).sum()):
        fail("you weighted the absolute errors: the loss is the squared error, (x - x_hat) ** 2.")
    if torch.isclose(out, ref * x.shape[0]):
        fail("you added up the batch: average over it (mean over dim 0), so that the loss does "
             "not grow with the batch size.")
    expect_close(out, ref, "per instance: mean over the batch of sum_j importance_j (x_j - "
                 "x'_j)^2; then the sum over instances.", what="importance_loss")
    expect_gradient(lambda xh: fn(x, xh, importance), x_hat, what="importance_loss")


@check("sparse_features", points=2, twins=["interp_lib.superposition.generate_batch"])
def check_sparse_features(fn) -> None:
    p = torch.tensor([1.0, 0.3, 0.02])
    out = call(fn, 4000, 6, p, torch.Generator().manual_seed(4),
               what="sparse_features(4000, 6, feature_probability, generator)")
    expect_shape(out, (4000, 3, 6), "sparse_features(4000, 6, p) for 3 instances")
    on = (out > 0).float().mean(dim=(0, 2))
    if abs(float(on[1]) - 0.7) < 0.03:
        fail("instance 1 has 70% of its features on for a probability of 0.3: you used the "
             "sparsity (the probability of 0) where the probability of 1 goes.")
    if not torch.allclose(on, p, atol=0.03):
        fail(f"the share of non-zero features per instance is {[round(v, 3) for v in on.tolist()]}; "
             f"it should follow feature_probability {p.tolist()}, each instance its own.")
    nonzero = out[out > 0]
    if nonzero.max() > 1 or abs(float(nonzero.mean()) - 0.5) > 0.03:
        fail("the features that are on should be uniform in [0, 1] (mean 0.5).")
    # Independence: in instance 1 (p = 0.3) two features are on together in p^2 = 9% of
    # examples, averaged over the 15 pairs; features that share one coin are on together
    # in 30%, the chapter's "correlated" features.
    on1 = (out[:, 1] > 0).float()  # (B, n)
    both = (on1.T @ on1 / len(on1))[torch.triu_indices(6, 6, offset=1).unbind()].mean()
    if abs(float(both) - 0.3) < 0.03:
        fail(f"the features of an example are on or off together (two features of instance 1 "
             f"are both on in {float(both):.0%} of examples, as often as one is): one on/off "
             "coin per example makes them perfectly correlated. Draw a coin for every "
             "feature: torch.rand of shape (B, I, n).")
    if abs(float(both) - 0.09) > 0.02:
        fail(f"two features of instance 1 (probability 0.3 each) are both on in "
             f"{float(both):.1%} of examples; independent features are, in 0.3 x 0.3 = 9%.")
    # The values of the features that are on: uniform in [0, 1], a quarter in each quarter.
    quarters = torch.histc(nonzero, bins=4, min=0.0, max=1.0) / nonzero.numel()
    if (quarters - 0.25).abs().max() > 0.03:
        fail(f"the features that are on should be uniform in [0, 1]; a quarter of them in each "
             f"quarter of the range, but yours fall {[round(v, 2) for v in quarters.tolist()]}.")
    again = fn(4000, 6, p, torch.Generator().manual_seed(4))
    if not torch.equal(again, out):
        fail("the same generator seed gave different batches: draw only from `generator`.")
    other = fn(50, 6, p, torch.Generator().manual_seed(5))
    if torch.equal(other, out[:50]):
        fail("a different seed gave the same batch.")
    n, _, instances, batch = SWEEP
    probability = torch.linspace(0.01, 1.0, instances)
    expect_fast(fn, _reference_sparse, batch, n, probability, torch.Generator().manual_seed(6),
                what="sparse_features", ratio=30.0,
                on="a batch of the chapter's sweep (512 examples, 14 instances of 20 features)",
                cause="a Python loop over examples and features? torch.rand of shape (B, I, n) "
                      "draws them all at once.")


def _reference_sparse(batch: int, n: int, probability: torch.Tensor, generator) -> torch.Tensor:
    shape = (batch, len(probability), n)
    values = torch.rand(shape, generator=generator)
    on = torch.rand(shape, generator=generator) < probability[None, :, None]
    return torch.where(on, values, torch.zeros(()))


@check("dimensions_per_feature", points=1)
def check_dimensions_per_feature(fn) -> None:
    W = torch.zeros(3, 2, 4)
    W[0, 0, 0] = W[0, 1, 1] = 1.0  # two orthogonal features: 1 dimension each
    W[1, 0, 0], W[1, 0, 1] = 1.0, -1.0  # an antipodal pair in one of the two dimensions
    W[1, 1, 2], W[1, 1, 3] = 1.0, -1.0  # and another: 2 dims / 4 features
    W[2] = torch.randn(2, 4, generator=torch.Generator().manual_seed(6))
    out = call(fn, W, what="dimensions_per_feature(W)")
    expect_shape(out, (3,), "dimensions_per_feature(W) for W (3, 2, 4)")
    ref = 2 / W.pow(2).sum(dim=(1, 2))
    if torch.allclose(out, 2 / W.pow(2).sum(dim=(1, 2)).sqrt()):
        fail("you divided by ||W||_F; the formula squares it: m / ||W||_F^2.")
    if torch.allclose(out, 4 / W.pow(2).sum(dim=(1, 2))):
        fail("you used the number of features n; it is the hidden dimensions m (W.shape[1]).")
    if isinstance(out, torch.Tensor) and out.numel() == 3 and bool((out == out.flatten()[0]).all()):
        fail("every instance got the same value: m / ||W||_F^2 per instance, summing the squares "
             "over dims 1 and 2 only.")
    factor = constant_factor(out, ref)
    if factor is not None:
        fail(f"your values are {factor:.3g} times the right ones: m / ||W||_F^2, with ||W||_F^2 "
             "the sum (not the mean) of an instance's squared entries and m = W.shape[1].")
    expect_close(out, ref, "m / ||W||_F^2 per instance (1 for two orthogonal features in "
                 "2 dimensions, 1/2 for two antipodal pairs).")


@check("feature_dimensionality", points=3)
def check_feature_dimensionality(fn) -> None:
    W = torch.zeros(2, 2, 5)
    angles = torch.arange(5) * (2 * torch.pi / 5)
    W[0] = torch.stack([torch.cos(angles), torch.sin(angles)])  # a pentagon: 2/5 each
    W[1, 0, 0], W[1, 0, 1] = 1.0, -1.0  # an antipodal pair: 1/2 each
    W[1, 1, 2] = 1.0  # alone: 1
    # features 3 and 4 of instance 1 are dropped: 0
    out = call(fn, W, what="feature_dimensionality(W)")
    expect_shape(out, (2, 5), "feature_dimensionality(W) for W (2, 2, 5)")
    expected = torch.tensor([[0.4] * 5, [0.5, 0.5, 1.0, 0.0, 0.0]])
    norms = W.norm(dim=1)
    broken = ~torch.isfinite(out)
    if broken.any() and bool((norms[broken] == 0).all()):
        fail("your result has NaN or infinity: a dropped feature (W_j = 0) has dimensionality 0.")
    unhatted = norms**2 / (torch.einsum("imj,imk->ijk", W, W) ** 2).sum(-1).clamp_min(1e-12)
    if torch.allclose(out[0], unhatted[0], atol=1e-4) and not torch.allclose(out, expected, atol=1e-4):
        fail("you did not normalise W_j in the overlaps: it is (W_j_hat . W_k)^2, W_j_hat "
             "= W_j / ||W_j||.")
    g = torch.Generator().manual_seed(7)
    rand = torch.randn(3, 4, 9, generator=g)
    got = call(fn, rand, what="feature_dimensionality")
    rn = rand.norm(dim=1)
    unit = rand / rn[:, None]
    overlaps = torch.einsum("imj,imk->ijk", unit, rand)
    mistakes = [
        (rn**2 / (torch.einsum("imj,imk->ijk", rand, rand) ** 2).sum(-1),
         "you did not normalise W_j in the overlaps: it is (W_j_hat . W_k)^2, W_j_hat = W_j / "
         "||W_j|| (with unit-length columns the two agree, which is why the pentagon passed)."),
        (rn**2 / (overlaps**2).sum(-1).sub(rn**2),
         "your sum over k leaves the feature itself out: it runs over every feature, k = j "
         "included, so that a feature alone in its dimension gets ||W_j||^2 / ||W_j||^2 = 1."),
        (rn**2 / overlaps.sum(-1), "you did not square the overlaps: sum over k of "
         "(W_j_hat . W_k)^2."),
    ]
    for wrong, message in mistakes:
        if isinstance(got, torch.Tensor) and got.shape == wrong.shape and torch.allclose(
                got, wrong, atol=1e-4):
            fail(message)
    ref_rand = rn**2 / (overlaps**2).sum(-1)
    for scale in (0.2, 0.01):
        shrunk = call(fn, rand * scale, what=f"feature_dimensionality({scale} * W)")
        if isinstance(shrunk, torch.Tensor) and shrunk.shape == ref_rand.shape and torch.allclose(
                shrunk, ref_rand, atol=1e-4):
            continue
        fail(f"feature_dimensionality({scale} * W) differs from feature_dimensionality(W): the measure "
                 "depends only on the features' directions, not their lengths (scale W and both "
                 "||W_j||^2 and the overlaps scale alike). A feature counts as dropped only when "
                 "W_j = 0 (the reference's cut is a length of 1e-3): do not threshold the norm, "
                 "or its square, higher.")
    if not torch.isfinite(out).all():
        fail("your result has NaN or infinity: a dropped feature (W_j = 0) has dimensionality 0.")
    expect_close(out, expected, "a pentagon gives 2/5 per feature, an antipodal pair 1/2, a "
                 "feature alone 1, a dropped one 0.", atol=1e-4)
    expect_close(got,
                 superposition_measures.feature_dimensionality(_as_model(rand)),
                 "the same formula on random W.", what="feature_dimensionality(random W)",
                 atol=1e-4)
    # From the wild: a feature the model all but dropped, alone in its dimension.
    faint = torch.zeros(1, 3, 3)
    faint[0, 0, 0], faint[0, 1, 1], faint[0, 2, 2] = 1.0, 0.8, 1e-5
    got = call(fn, faint, what="feature_dimensionality")
    expect_shape(got, (1, 3), "feature_dimensionality(W) for W (1, 3, 3)")
    if not torch.isfinite(got).all() or abs(float(got[0, 2])) > 1e-3:
        fail(f"a feature of length 1e-5, alone in its dimension, gets {float(got[0, 2]):.3g}: the "
             "model dropped it (||W_j|| < 1e-3), so its dimensionality is 0. Test the length, "
             "not only whether it is exactly 0.")
    expect_close(got, torch.tensor([[1.0, 1.0, 0.0]]), "two features alone in their "
                 "dimensions (1 each) and a dropped one (0).", what="feature_dimensionality(W) "
                 "with a feature of length 1e-5", atol=1e-4)


def _as_model(W: torch.Tensor) -> superposition.ToyModel:
    m = superposition.ToyModel(W.shape[2], W.shape[1], W.shape[0])
    with torch.no_grad():
        m.W.copy_(W)
    return m


@check("interference", points=2)
def check_interference(fn) -> None:
    W = torch.zeros(2, 2, 4)
    W[0, 0, 0], W[0, 0, 1] = 1.0, -1.0  # an antipodal pair: 1 each
    W[0, 1, 2] = 2.0  # alone in its dimension, and long: 0
    # feature 3 of instance 0 is dropped: 0
    angles = torch.arange(4) * (torch.pi / 2)
    W[1] = torch.stack([angles.cos(), angles.sin()]) * 0.5  # a square, short arrows
    out = call(fn, W, what="interference(W)")
    expect_shape(out, (2, 4), "interference(W) for W (2, 2, 4)")
    if not torch.isfinite(out).all():
        fail("your result has NaN or infinity: a dropped feature (W_j = 0) has no direction, "
             "and its interference is 0. Guard the division by ||W_j|| (clamp_min).")
    g = torch.Generator().manual_seed(9)
    rand = torch.randn(3, 4, 7, generator=g)
    got = call(fn, rand, what="interference")
    unit = rand / rand.norm(dim=1, keepdim=True)
    overlap = torch.einsum("imj,imk->ijk", unit, rand) ** 2
    ref = overlap.sum(-1) - overlap.diagonal(dim1=1, dim2=2)
    if torch.allclose(got, overlap.sum(-1), atol=1e-4):
        fail("you kept the feature's overlap with itself, (W_j_hat . W_j)^2 = ||W_j||^2: the "
             "sum is over the *other* features, k != j.")
    raw = torch.einsum("imj,imk->ijk", rand, rand) ** 2
    if torch.allclose(got, raw.sum(-1) - raw.diagonal(dim1=1, dim2=2), atol=1e-4):
        fail("you did not normalise W_j: it is (W_j_hat . W_k)^2, W_j_hat = W_j / ||W_j||; "
             "only the leaking feature W_k keeps its length.")
    signed = torch.einsum("imj,imk->ijk", unit, rand)
    if torch.allclose(got, signed.sum(-1) - signed.diagonal(dim1=1, dim2=2), atol=1e-4):
        fail("you did not square the overlaps: a feature pointing the opposite way leaks "
             "into W_j as much as one pointing the same way.")
    expect_close(got, ref, "sum over k != j of (W_j_hat . W_k)^2.", what="interference(random W)",
                 atol=1e-4)
    expect_close(out, torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]),
                 "an antipodal pair leaks 1 into each other; a feature alone 0, a dropped one "
                 "0; in a square of arrows 0.5 long, each feature's opposite leaks 0.5^2.",
                 atol=1e-5)


def _reference_relu_hidden(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    h = torch.relu(torch.einsum("imn,bin->bim", W, x))
    return torch.relu(torch.einsum("imn,bim->bin", W, h) + b)


@check("ReluHiddenModel", points=2)
def check_ReluHiddenModel(cls) -> None:
    model = cls(5, 3, 2, seed=0)
    params = dict(model.named_parameters())
    if set(params) != {"W", "b"}:
        fail(f"keep the parameters W and b (and no others); your model has {sorted(params)}.")
    expect_shape(params["W"], (2, 3, 5), "ReluHiddenModel(5, 3, 2).W")
    W, b = _toy(5, 3, 2, seed=10)
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
    x = torch.rand(16, 2, 5, generator=torch.Generator().manual_seed(11))
    out = call(model, x, what="ReluHiddenModel.forward(x)")
    expect_shape(out, (16, 2, 5), "ReluHiddenModel(5, 3, 2)(x) for x (16, 2, 5)")
    ref = _reference_relu_hidden(W, b, x)
    h = torch.einsum("imn,bin->bim", W, x)
    if torch.allclose(out, _reference_forward(W, b, x), atol=1e-5):
        fail("the hidden layer has no ReLU: this is the first toy model. Here h = ReLU(W x), "
             "so that the hidden numbers are neurons that never go negative.")
    if torch.allclose(out, torch.einsum("imn,bim->bin", W, torch.relu(h)) + b, atol=1e-5):
        fail("the output has no ReLU: x' = ReLU(W^T h + b), as in the first toy model.")
    if torch.allclose(out, torch.relu(torch.einsum("imn,bim->bin", W, torch.relu(h))), atol=1e-5):
        fail("you left out the bias b.")
    expect_close(out, ref, "h = ReLU(W x) per instance, then ReLU(W^T h + b).", atol=1e-5,
                 what="ReluHiddenModel.forward(x)")
    one = call(model, x[:1], what="ReluHiddenModel.forward on a batch of one")
    expect_close(one, ref[:1], "a batch of one example should give that example's row.",
                 what="ReluHiddenModel.forward(x[:1])", atol=1e-5)
    expect_gradient(lambda w: _forward_with(cls, w, b, x, (5, 3, 2)), W,
                    what="ReluHiddenModel's forward (to W)")
    _expect_fast_forward(cls, _reference_relu_hidden, "ReluHiddenModel.forward")


@check("neuron_polysemanticity", points=2)
def check_neuron_polysemanticity(fn) -> None:
    W = torch.tensor([[[1.0, -3.0, 0.0, 0.0],  # one feature excites it (one silences it): 1
                       [0.6, 0.6, -0.2, 0.0],  # two, equally: 2
                       [-1.0, -1.0, 0.0, 0.0],  # none: 0
                       [0.5, 0.5, 0.5, 0.5]]])  # four: 4
    out = call(fn, W, what="neuron_polysemanticity(W)")
    expect_shape(out, (1, 4), "neuron_polysemanticity(W) for W (1, 4 neurons, 4 features)")
    if not torch.isfinite(out).all():
        fail("your result has NaN or infinity: a neuron that no feature excites (every weight "
             "<= 0) answers 0 features.")
    a = W.clamp_min(0) ** 2
    per_feature = a.sum(1) ** 2 / (a**2).sum(1).clamp_min(1e-24)
    if torch.allclose(out, torch.where(a.sum(1) > 0, per_feature, torch.zeros(())), atol=1e-4):
        fail("you measured each feature (a column W[i, :, j]): a neuron is a row, W[i, k, :], "
             "its weights from every feature; sum over the last dimension.")
    a_abs = W**2
    with_negative = a_abs.sum(-1) ** 2 / (a_abs**2).sum(-1)
    if torch.allclose(out[0, :2], with_negative[0, :2], atol=1e-4):
        fail("you counted the negative weights: a negative weight only silences the neuron, it "
             "never makes it answer. Keep the positive part, W.clamp_min(0).")
    expect_close(out, torch.tensor([[1.0, 2.0, 0.0, 4.0]]), "one feature: 1; two equal: 2; "
                 "none: 0; four equal: 4.", atol=1e-4)
    g = torch.Generator().manual_seed(13)
    rand = torch.randn(2, 5, 8, generator=g)
    got = call(fn, rand, what="neuron_polysemanticity")
    pos = rand.clamp_min(0)
    if torch.allclose(got, pos.sum(-1) ** 2 / (pos**2).sum(-1), atol=1e-4):
        fail("you used the weights, not their squares: with a_j = max(W_kj, 0)^2, it is "
             "(sum_j a_j)^2 / sum_j a_j^2.")
    expect_close(got, superposition_measures.neuron_polysemanticity(_as_model(rand)),
                 "(sum_j a_j)^2 / sum_j a_j^2 with a_j = max(W_kj, 0)^2, per neuron.",
                 what="neuron_polysemanticity(random W)", atol=1e-4)


@check("class_selectivity", points=2)
def check_class_selectivity(fn) -> None:
    means = torch.tensor([[4.0, 0.0, 0.0, 0.0],  # one class only: 1
                          [1.0, 1.0, 1.0, 1.0],  # all alike: 0
                          [0.0, 0.0, 0.0, 0.0],  # silent: 0
                          [3.0, 1.0, 1.0, 1.0]])  # (3 - 1) / (3 + 1) = 0.5
    out = call(fn, means, what="class_selectivity(class_means)")
    expect_shape(out, (4,), "class_selectivity(class_means) for 4 units")
    if not torch.isfinite(out).all():
        fail("a silent unit (0 for every class) gives NaN: it should give 0.")
    with_top = (means.amax(1) - means.mean(1)) / (means.amax(1) + means.mean(1)).clamp_min(1e-12)
    if torch.allclose(out, with_top, atol=1e-6):
        fail("the mean of the other classes should leave the top class out.")
    g = torch.Generator().manual_seed(8)
    rand = torch.rand(6, 10, generator=g)
    top = rand.amax(1)
    rest = (rand.sum(1) - top) / 9
    # Class means read from a model's activations can still require grad.
    got = call(fn, attached(rand), what="class_selectivity(class_means that require grad)")
    expect_shape(got, (6,), "class_selectivity(class_means) for 6 units and 10 classes")
    if torch.allclose(got, (top - rest) / top, atol=1e-6):
        fail("you divided by the top class's mean alone: the denominator is top + rest.")
    lowest = rand.amin(1)
    if torch.allclose(got, (top - lowest) / (top + lowest), atol=1e-6):
        fail("you compared the top class with the lowest one: rest is the mean over all the "
             "other classes.")
    if torch.allclose(got, (top - (rand.sum(1) - top) / 3) / (top + (rand.sum(1) - top) / 3), atol=1e-6):
        fail("with 10 classes your rest divides by 3: it averages the other K - 1 classes, "
             "K = class_means.shape[1].")
    expect_close(got, (top - rest) / (top + rest), "with 10 classes, rest averages the other 9.",
                 what="class_selectivity (10 classes)", atol=1e-6)
    expect_close(out, torch.tensor([1.0, 0.0, 0.0, 0.5]), "(top - rest) / (top + rest), rest "
                 "the mean over the other classes.", atol=1e-6)
