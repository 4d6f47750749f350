"""Checks for chapter 7, probes and concept directions.

Each check builds data whose answer is known by construction: random labels that
no honest probe can predict from held-out rows (a probe that saw its test rows
memorises them), features that tell types apart and nothing else (a consistent
control task is then as easy as the real one), noise that is large along one
channel (the CAV, a classifier's normal, turns away from it; the difference of the
means does not). The TCAV check compares with the library's directional
derivatives on a small network and watches the model for side effects.
"""

from __future__ import annotations

import math

import torch

from interp_lib import probes
from interp_lib.course.checks import call, check, expect_close, expect_gradient, expect_shape, fail
from interp_lib.organism.models import tiny_net

TITLE = "Probes and concepts"


def _number(out, what: str) -> float:
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.item()
    if not isinstance(out, (int, float)) or isinstance(out, bool) or math.isnan(out):
        fail(f"{what} should return a number (a float), got {out!r}")
    return float(out)


def _noise_task(n: int, c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels with nothing in common: no probe can beat chance on held-out rows."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randint(2, (n,), generator=g)


@check("held_out_accuracy", points=2)
def check_held_out_accuracy(fn) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g)
    y = (x[:, 2] > 0).long()
    acc = _number(call(fn, x, y, test_fraction=0.3, seed=0, what="held_out_accuracy(features, labels)"),
                  "held_out_accuracy")
    if acc < 0.9:
        fail(f"the label is the sign of channel 2, which a linear probe reads perfectly, but your "
             f"accuracy is {acc:.2f}: fit on the training rows' features and labels, in the same "
             "order, and score on the held-out rows.")
    noise, labels = _noise_task(120, 100, seed=1)
    accs = [_number(fn(noise, labels, test_fraction=0.3, seed=s), "held_out_accuracy")
            for s in range(3)]
    if min(accs) > 0.8:
        fail(f"on labels that are pure noise your probe scores {min(accs):.2f} or more: no probe "
             "can predict coin flips it has not seen, so it saw the rows it was scored on (fitted "
             "on all the rows, or scored on the training rows). Fit on the training rows only "
             "and score on the held-out rows.")
    if max(accs) > 0.75:
        fail(f"on labels that are pure noise your probe scores up to {max(accs):.2f} on held-out "
             "rows; an honest split gives about 0.5. Keep the held-out rows out of the fit.")
    x = torch.randn(196, 3, generator=g)
    y = (x[:, 0] + torch.randn(196, generator=g) > 0).long()  # a noisy task: accuracy strictly inside (0, 1)
    results = [_number(fn(x, y, test_fraction=0.25, seed=s), "held_out_accuracy") for s in range(6)]
    if any(abs(a * 49 - round(a * 49)) > 1e-6 for a in results):
        fail("with 196 rows and test_fraction=0.25 the held-out set has 49 rows, so the accuracy is "
             "a multiple of 1/49; yours is not: hold out round(n * test_fraction) rows (not "
             "test_fraction of them for training).")
    if len(set(results)) == 1:
        fail("six different seeds gave exactly the same accuracy: the split should be random and "
             "depend on `seed` (torch.randperm with a generator seeded with it).")
    again = [_number(fn(x, y, test_fraction=0.25, seed=3), "held_out_accuracy") for _ in range(3)]
    if any(a != results[3] for a in again):
        fail("the same seed gave a different accuracy: draw the split from a generator seeded with "
             "`seed`, not from torch's global random state.")


@check("control_labels", points=2)
def check_control_labels(fn) -> None:
    g = torch.Generator().manual_seed(2)
    types = torch.randint(400, (4000,), generator=g)
    labels = (torch.rand(4000, generator=g) < 0.1).long()  # 90% zeros
    out = call(fn, types, labels, seed=0, what="control_labels(types, labels)")
    expect_shape(out, (4000,), "control_labels(types, labels) for 4000 rows")
    if out.dtype != labels.dtype:
        fail(f"control labels should have the labels' dtype ({labels.dtype}), got {out.dtype}.")
    for t in types.unique()[:50]:
        if len(out[types == t].unique()) != 1:
            fail(f"the rows of type {int(t)} got different control labels: a control task gives every "
                 "row of a type the same label (drawn once per type, not once per row).")
    per_type = torch.stack([out[types == t][0] for t in types.unique()]).float()
    if abs(float(per_type.mean()) - 0.1) > 0.06:
        fail(f"{float(1 - per_type.mean()):.0%} of the types got label 0, but 90% of the rows have it: "
             "draw each type's label from the labels' own distribution (a random row's label), "
             "not uniformly from the label values.")
    nested = torch.arange(600) // 3  # 200 types of 3 rows; each type's real label is fixed
    real = (nested % 2).long()
    same = float((fn(nested, real, seed=1) == real).float().mean())
    if same > 0.75:
        fail(f"the control labels agree with the real ones on {same:.0%} of the rows (chance: about "
             "50%): a control label is random, drawn from the whole set, not taken from the "
             "type's own rows.")
    if not torch.equal(fn(types, labels, seed=0), out):
        fail("the same seed gave different control labels: draw only from a generator seeded with "
             "`seed`.")
    if torch.equal(fn(types, labels, seed=5), out):
        fail("a different seed gave the same control labels: the draw should depend on `seed`.")
    odd = torch.tensor([1000, 1000, -3, -3, 7, 7])
    out = call(fn, odd, torch.tensor([0, 1, 0, 1, 0, 1]), seed=0, what="control_labels with type ids "
               "1000, -3 and 7")
    if not (out[0::2] == out[1::2]).all():
        fail("with type ids 1000, -3 and 7, rows of one type got different labels: any integers can "
             "name types; loop over types.unique() rather than indexing an array with them.")


@check("selectivity", points=1)
def check_selectivity(fn) -> None:
    g = torch.Generator().manual_seed(3)
    n_types = 40
    types = torch.randint(n_types, (800,), generator=g)
    prototypes = torch.randn(n_types, 60, generator=g) * 3
    by_type = prototypes[types] + 0.3 * torch.randn(800, 60, generator=g)  # tells types apart
    labels = (types % 2).long()
    both = _number(call(fn, by_type, labels, types, seed=0, what="selectivity(features, labels, types)"),
                   "selectivity")
    if both > 0.2:
        fail(f"these features tell the 40 types apart and hold nothing else, so a consistent control "
             f"task over the types is as easy as the real one and selectivity is about 0; yours is "
             f"{both:.2f}. Are your control labels the same for every row of a type?")
    labels = torch.randint(2, (800,), generator=g)
    only = torch.cat([labels[:, None].float() * 3 + torch.randn(800, 1, generator=g),
                      torch.randn(800, 5, generator=g)], dim=1)  # the property, and noise
    sel = _number(fn(only, labels, types, seed=0), "selectivity")
    if sel < -0.3:
        fail(f"selectivity is the real task's accuracy minus the control task's; yours is {sel:.2f}, "
             "the other way round.")
    if sel < 0.3:
        fail(f"these features hold the label and nothing about types, so the real task is easy "
             f"(about 0.93) and a control task over the types is at chance (about 0.5): selectivity "
             f"about 0.4. Yours is {sel:.2f}. Are the control labels random per type, drawn "
             "independently of the real label of the type's rows?")


@check("concept_activation_vector", points=2)
def check_concept_activation_vector(fn) -> None:
    g = torch.Generator().manual_seed(4)
    random = torch.randn(300, 4, generator=g)
    concept = torch.randn(300, 4, generator=g) + torch.tensor([0.0, 0.0, 1.5, 0.0])
    v = call(fn, concept, random, what="concept_activation_vector(concept, random)")
    expect_shape(v, (4,), "the CAV for features with 4 channels")
    v = v.detach().float()
    if abs(float(v.norm()) - 1) > 1e-3:
        fail(f"a CAV is a direction: divide it by its norm (yours has length {float(v.norm()):.3g}).")
    if float(v[2]) < 0:
        fail("your CAV points away from the concept: the concept's rows are label 1, the random "
             "rows label 0, so the classifier's normal points towards the concept.")
    if int(v.abs().argmax()) != 2:
        fail("the concept differs from the random images along channel 2 only, but your CAV's "
             f"largest weight is on channel {int(v.abs().argmax())}.")
    # Correlated noise: the classifier's normal turns away from the difference of the means.
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    chol = torch.linalg.cholesky(cov)
    random = torch.randn(600, 2, generator=g) @ chol.T
    concept = torch.randn(600, 2, generator=g) @ chol.T + torch.tensor([1.0, 0.0])
    v = fn(concept, random).detach().float()
    means = concept.mean(0) - random.mean(0)
    if torch.cosine_similarity(v, means / means.norm(), dim=0) > 0.99 and \
            torch.cosine_similarity(v, _normal(concept, random), dim=0) < 0.95:
        fail("your CAV is the difference of the two means. Kim et al.'s CAV is the normal of a "
             "linear classifier, which weighs each direction by how well it separates the sets: "
             "here the noise is large along (1, 1), and the normal turns away from it.")
    # Channels on different scales: a CAV from standardised features must be mapped back.
    scales = torch.tensor([10.0, 1.0])
    random = torch.randn(400, 2, generator=g) * scales
    concept = torch.randn(400, 2, generator=g) * scales + 0.8 * scales
    v = fn(concept, random).detach().float()
    reference = _normal(concept, random)
    if torch.cosine_similarity(v, reference, dim=0) < 0.9:
        fail(f"on channels whose spreads are 10 and 1 your CAV is {[round(x, 2) for x in v.tolist()]}; "
             f"the classifier's normal in the layer's own units is about "
             f"{[round(x, 2) for x in reference.tolist()]}. If you standardise the features, divide "
             "each weight by its channel's scale.")


def _normal(concept: torch.Tensor, random: torch.Tensor) -> torch.Tensor:
    """The best linear boundary's normal for two Gaussian sets (Fisher's): cov^-1 (mean difference)."""
    cov = (torch.cov(concept.T) + torch.cov(random.T)) / 2
    w = torch.linalg.solve(cov, concept.mean(0) - random.mean(0))
    return w / w.norm()


def _check_net():
    net = tiny_net(seed=3).train()  # train mode: a check of whether the mode comes back
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    return net, images


@check("tcav_score", points=3)
def check_tcav_score(fn) -> None:
    net, images = _check_net()
    g = torch.Generator().manual_seed(6)
    cavs = [torch.randn(6, generator=g) for _ in range(4)]
    got = []
    for i, cav in enumerate(cavs):
        out = _number(call(fn, net, images, i, "relu1", cav, what="tcav_score(model, images, target, "
                           "layer, cav)"), "tcav_score")
        got.append(out)
    expected = [float((probes.directional_derivatives(net, images, i, "relu1", cav) > 0).float().mean())
                for i, cav in enumerate(cavs)]
    centre_only = [_centre_only_share(net, images, i, cav) for i, cav in enumerate(cavs)]
    if any(abs(a - b) > 1.5 / len(images) for a, b in zip(got, expected)):
        if all(abs(a - c) < 1e-6 for a, c in zip(got, centre_only)):
            fail("you moved the activations along the CAV at one position only; TCAV moves the "
                 "whole layer: add the same step at every position.")
        fail(f"your TCAV scores {[round(v, 2) for v in got]} differ from the share of images whose "
             f"logit rises along the CAV, {[round(v, 2) for v in expected]}: take the gradient of "
             "the target's logit (not its probability) with respect to a step along the CAV.")
    one = _number(call(fn, net, images[:1], 0, "relu1", cavs[0], what="tcav_score on one image"),
                  "tcav_score on one image")
    if one not in (0.0, 1.0):
        fail(f"with one image the score is 0 or 1, got {one}.")


def _centre_only_share(net, images, target: int, cav: torch.Tensor) -> float:
    t = torch.zeros(len(images), requires_grad=True)

    def nudge(a):
        out = a.clone()
        h, w = a.shape[2] // 2, a.shape[3] // 2
        out[:, :, h, w] = a[:, :, h, w] + t[:, None] * cav[None]
        return out

    from interp_lib import hooks
    with hooks.eval_mode(net), hooks.edit(net, "relu1", nudge):
        (grad,) = torch.autograd.grad(net(images)[:, target].sum(), t)
    return float((grad > 0).float().mean())


@check("remove_directions", points=2)
def check_remove_directions(fn) -> None:
    g = torch.Generator().manual_seed(7)
    acts = torch.randn(3, 5, 4, 6, generator=g)
    d = torch.randn(5, generator=g) * 3  # one direction, not of length 1
    out = call(fn, acts, d, what="remove_directions(acts, direction)")
    expect_shape(out, (3, 5, 4, 6), "remove_directions on (3, 5, 4, 6) activations")
    unit = d / d.norm()
    along = torch.einsum("nchw,c->nhw", out, unit)
    if along.abs().max() > 1e-4:
        fail("after the removal, the activations still have a component along the direction at "
             "some positions. Normalise the direction to length 1 before projecting, and remove "
             "it along the channel dimension (dim 1) at every position.")
    expect_close(out, probes.remove_directions(acts, d), "remove only what lies along the direction; "
                 "keep every component orthogonal to it.", atol=1e-4)
    pair = torch.stack([torch.tensor([1.0, 0, 0, 0, 0]), torch.tensor([0.5, 0.866, 0, 0, 0])])
    out = call(fn, acts, pair, what="remove_directions with two directions at 60 degrees")
    residual = torch.einsum("nchw,kc->nkhw", out, pair).abs().max()
    if residual > 1e-4:
        fail("with two directions at 60 degrees to each other, something is left along one of them: "
             "removing them one after the other only works for orthogonal directions. Make an "
             "orthonormal basis of their span first (torch.linalg.qr).")
    triple = torch.cat([pair, pair.sum(0, keepdim=True)])  # the third adds no new direction
    out = call(fn, acts, triple, what="remove_directions with a direction that is the sum of two others")
    expect_close(out, probes.remove_directions(acts, pair), "the third direction is the sum of the "
                 "other two and adds nothing: remove the 2-D span only (drop the basis vectors "
                 "whose QR diagonal is about 0).", what="remove_directions(acts, three directions "
                 "spanning a plane)", atol=1e-4)
    flat = torch.randn(7, 5, generator=g)
    out = call(fn, flat, pair, what="remove_directions on (N, C) activations")
    expect_close(out, probes.remove_directions(flat, pair), "a linear layer's activations are (N, C), "
                 "with no positions: the same projection on dim 1.", what="remove_directions on (7, 5)",
                 atol=1e-4)
    expect_gradient(lambda a: fn(a, pair), acts, what="remove_directions (to the activations)")


@check("unit_cosines", points=1)
def check_unit_cosines(fn) -> None:
    out = call(fn, torch.tensor([0.0, 3.0, -4.0]), what="unit_cosines(direction)")
    expect_shape(out, (3,), "unit_cosines of a direction with 3 channels")
    if torch.allclose(out, torch.tensor([0.0, 0.6, 0.8]), atol=1e-5):
        fail("you dropped the sign: a unit the direction points away from has a negative cosine.")
    if torch.allclose(out, torch.tensor([0.0, 3.0, -4.0]) / 25, atol=1e-5):
        fail("you divided by the squared norm; the cosine divides by the norm.")
    expect_close(out, torch.tensor([0.0, 0.6, -0.8]), "w_c / ||w||: (0, 3, -4) has length 5.")
    rows = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 0.0]])
    out = call(fn, rows, what="unit_cosines of two directions (2, 3)")
    expect_shape(out, (2, 3), "unit_cosines of two directions of 3 channels")
    expect_close(out, torch.tensor([[0.7071068, 0.7071068, 0.0], [0.0, 1.0, 0.0]]),
                 "each row is its own direction: divide each by its own norm.", atol=1e-5)
    try:
        result = fn(torch.zeros(3))
    except ValueError:
        return
    except Exception as e:  # any other error is the wrong kind
        fail(f"a direction of length 0 should raise ValueError in plain words; it raised "
             f"{type(e).__name__}: {e}")
    fail(f"a direction of length 0 has no cosine with anything, but you returned {result}: raise a "
         "ValueError that says so.")
