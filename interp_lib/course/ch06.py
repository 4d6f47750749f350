"""Checks for chapter 6, universality.

Sizes are the chapter's: 300 images, conv5-s0's relu1 flattened (16 x 64 x 64 = 65536
features), correlation tables between layers of 16 to 96 units. A random orthogonal
matrix is checked over many draws, as the distribution it is.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from interp_lib import similarity
from interp_lib.course.checks import (call, check, constant_factor, expect_bounded_memory, expect_close,
                                      expect_fast, expect_shape, fail)
from interp_lib.course.wild import attached

TITLE = "Universality"


def _published() -> tuple[torch.Tensor, torch.Tensor]:
    """Kornblith et al.'s check case: linear CKA 0.55761, debiased 0.51346."""
    rng = np.random.RandomState(1337)
    x = rng.randn(100, 10)
    return torch.tensor(x), torch.tensor(rng.randn(100, 10) + x)


def _scalar(out, what: str) -> float:
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        return float(out)
    if isinstance(out, float):
        return out
    fail(f"{what} should return a single number (a scalar tensor or a float), got "
         f"{type(out).__name__}{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}")


@check("centre_gram", points=1)
def check_centre_gram(fn) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    K = x @ x.T + 2.0  # an offset, so that forgetting to centre shows
    out = call(fn, K, what="centre_gram(K)")
    expect_shape(out, (7, 7), "centre_gram(K) for K (7, 7)")
    if isinstance(out, torch.Tensor) and out.dtype != K.dtype:
        fail(f"centre_gram(K) for a float64 K returned {out.dtype}: keep K's dtype (build H, or "
             "the means, with dtype=K.dtype and device=K.device), or the centring loses precision "
             "CKA needs.")
    ref = similarity.centre_gram(K)
    one_side = K - K.mean(dim=0, keepdim=True)
    if torch.allclose(out, one_side) or torch.allclose(out, K - K.mean(dim=1, keepdim=True)):
        fail("you centred one axis only: H K H removes the mean of the rows and of the columns.")
    if torch.allclose(out, K - K.mean(dim=0, keepdim=True) - K.mean(dim=1, keepdim=True)):
        fail("you subtracted the overall mean twice: add K.mean() back once.")
    factor = constant_factor(out, ref)
    if factor is not None:
        fail(f"your matrix is {factor:.3g} times the right one: H K H, with H = I - 11^T / n, "
             "only subtracts means; nothing is divided by n or scaled afterwards.")
    expect_close(out, ref, "H K H: subtract the row means and the column means, add back "
                 "the overall mean.", atol=1e-8)
    cx = x - x.mean(dim=0)
    if not torch.allclose(out, cx @ cx.T, atol=1e-8):
        fail("the centred Gram matrix of X should equal the Gram matrix of centred X.")
    # The ratio is wide (100): H K H with an n x n H, the formula itself, is 20 to 30 times
    # slower than subtracting means, and correct.
    expect_fast(fn, similarity.centre_gram, _gram(300, seed=30), what="centre_gram", ratio=100.0,
                on="the chapter's 300 images (K 300 x 300)",
                cause="a Python loop over the entries of K? Row and column means "
                      "(K.mean(dim=0), K.mean(dim=1)) centre them all at once.")


def _gram(n: int, seed: int) -> torch.Tensor:
    x = torch.randn(n, 40, generator=torch.Generator().manual_seed(seed))
    return x @ x.T


@check("linear_cka", points=2,
       twins=["interp_lib.similarity.linear_cka_gram", "interp_lib.similarity.cka_from_grams"])
def check_linear_cka(fn) -> None:
    x, y = _published()
    out = _scalar(call(fn, x, y, what="linear_cka(X, Y)"), "linear_cka(X, Y)")
    ref = similarity.linear_cka(x, y)
    uncentred = float((y.T @ x).norm() ** 2 / ((x.T @ x).norm() * (y.T @ y).norm()))
    if abs(out - uncentred) < 1e-6 and abs(ref - uncentred) > 1e-6:
        fail("you did not centre the features: subtract each column's mean from X and Y first.")
    unsquared = similarity.linear_cka(x, y) ** 0.5
    if abs(out - unsquared) < 1e-6:
        fail("the numerator ||Y^T X||_F is squared in linear CKA.")
    rx, ry = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    if abs(out - float((ry.T @ rx).norm() ** 2 / ((rx.T @ rx).norm() * (ry.T @ ry).norm()))) < 1e-6:
        fail("you centred each example (the mean of a row, dim 1): centre each feature, the mean "
             "of each column over the examples, X - X.mean(dim=0).")
    xc, yc = x - x.mean(0), y - y.mean(0)
    if abs(out - float((yc.T @ xc).norm() ** 2 / (xc.norm() ** 2 * yc.norm() ** 2))) < 1e-6:
        fail("your denominator is ||X||_F^2 ||Y||_F^2: it is ||X^T X||_F ||Y^T Y||_F, which makes "
             "CKA 1 for a representation and any rotation or scaling of it.")
    if abs(out - ref) > 1e-4:
        fail(f"linear_cka(X, Y) gave {out:.5f}; the published check value is 0.55761.")
    g = torch.Generator().manual_seed(1)
    wide_x = torch.randn(30, 80, generator=g, dtype=torch.float64) + 3.0
    wide_y = wide_x[:, :20] @ torch.randn(20, 15, generator=g, dtype=torch.float64)
    got = _scalar(call(fn, wide_x, wide_y, what="linear_cka"), "linear_cka")
    if abs(got - similarity.linear_cka(wide_x, wide_y)) > 1e-6:
        fail("with more features than examples (30 x 80 and 30 x 15) your value is off.")
    if abs(_scalar(fn(x, 5.0 * x), "linear_cka") - 1.0) > 1e-6:
        fail("a representation and a scaled copy of it should have CKA 1.")
    # The chapter compares flattened conv layers: conv5-s0's relu1 is 16 x 64 x 64 = 65536
    # features, for which a p x p matrix (X^T X, Y^T X) takes 17 GB.
    g = torch.Generator().manual_seed(8)
    wide_x, wide_y = torch.rand(100, 65536, generator=g), torch.rand(100, 65536, generator=g)
    expect_bounded_memory(lambda: fn(wide_x, wide_y), extra_mb=800,
                          what="linear_cka on relu1 flattened (100 images x 65536 features)",
                          advice="Y^T X and X^T X are p x p, 65536 x 65536 here (17 GB). Go "
                                 "through the n x n Gram matrices K = X X^T and L = Y Y^T "
                                 "(X, Y centred): ||Y^T X||_F^2 = (K * L).sum() and "
                                 "||X^T X||_F = ||K||_F.")


@check("unbiased_hsic", points=3)
def check_unbiased_hsic(fn) -> None:
    x, y = _published()
    xc, yc = x - x.mean(0), y - y.mean(0)
    K, L = xc @ xc.T, yc @ yc.T
    out = _scalar(call(fn, K, L, what="unbiased_hsic(K, L)"), "unbiased_hsic(K, L)")
    ref = float(similarity.unbiased_hsic(K, L))
    n = K.shape[0]
    biased = float((similarity.centre_gram(K) * similarity.centre_gram(L)).sum() / (n - 1) ** 2)
    if abs(out - biased) < 1e-6 * abs(biased):
        fail("that is the biased estimator tr(K H L H) / (n - 1)^2: zero the diagonals and use "
             "the unbiased formula.")
    kept = (K * L.T).sum() + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (K @ L).sum()
    if abs(out - float(kept / (n * (n - 3)))) < 1e-6 * abs(float(kept / (n * (n - 3)))):
        fail("you kept the diagonals of K and L: the unbiased estimator zeroes them first "
             "(K - torch.diag(torch.diag(K))), so that no example is compared with itself.")
    expect_close(torch.tensor(out), torch.tensor(ref),
                 "zero the diagonals, then [tr(K L) + 1'K1 1'L1 / ((n-1)(n-2)) - 2/(n-2) 1'KL1] "
                 "/ (n(n-3)).", what="unbiased_hsic(K, L)", rtol=1e-6, atol=1e-9)
    cka = out / (_scalar(fn(K, K), "unbiased_hsic") * _scalar(fn(L, L), "unbiased_hsic")) ** 0.5
    if abs(cka - 0.51346) > 1e-4:
        fail(f"debiased CKA from your HSIC is {cka:.5f}; the published check value is 0.51346.")
    diag_only = torch.diag(torch.rand(6, dtype=torch.float64) + 1)
    if abs(_scalar(fn(diag_only, diag_only), "unbiased_hsic")) > 1e-9:
        fail("a Gram matrix that is all diagonal carries no shared structure: its unbiased "
             "HSIC is 0 once the diagonal is zeroed.")
    expect_fast(fn, similarity.unbiased_hsic, _gram(300, 31), _gram(300, 32), what="unbiased_hsic",
                on="the chapter's 300 images (K, L 300 x 300)",
                cause="a Python loop over pairs of examples? Sums and one matrix product "
                      "((K * L.T).sum(), K.sum(), (K @ L).sum()) give every term at once.")


@check("random_orthogonal", points=2)
def check_random_orthogonal(fn) -> None:
    q = call(fn, 6, torch.Generator().manual_seed(2), what="random_orthogonal(6, generator)")
    expect_shape(q, (6, 6), "random_orthogonal(6, generator)")
    q = q.double()
    if not torch.allclose(q.T @ q, torch.eye(6, dtype=torch.float64), atol=1e-5):
        fail("Q^T Q is not the identity: the matrix is not orthogonal (take the Q of a QR "
             "decomposition, not the Gaussian matrix itself or R).")
    again = fn(6, torch.Generator().manual_seed(2))
    other = fn(6, torch.Generator().manual_seed(3))
    if not torch.allclose(again.double(), q):
        fail("the same generator seed gave a different matrix: draw only from `generator`.")
    if torch.allclose(other.double(), q):
        fail("a different seed gave the same matrix.")
    x, y = _published()
    q10 = fn(10, torch.Generator().manual_seed(4)).double()
    if abs(similarity.linear_cka(x @ q10, y) - similarity.linear_cka(x, y)) > 1e-5:
        fail("rotating X by your matrix changed CKA: it should not, for an orthogonal matrix.")
    _expect_haar(fn)


def _expect_haar(fn) -> None:
    """The exercise is about a distribution: over many draws, every orthogonal matrix
    equally likely (Haar). A rotation as often as a reflection; any entry averages 0;
    the entries' fourth moment is 3 / (p (p + 2)), the sphere's (a permutation's is 1 / p)."""
    p, draws = 4, 600
    g = torch.Generator().manual_seed(9)
    qs = torch.stack([fn(p, g).double() for _ in range(draws)])
    reflections = float((torch.linalg.det(qs) < 0).double().mean())
    fourth = float((qs**4).mean())
    if abs(fourth - 1 / p) < 0.02 or bool(((qs.abs() < 1e-6) | (qs.abs() > 1 - 1e-6)).all()):
        fail("your matrices are permutations (every entry 0 or +-1): orthogonal, but only a few "
             "of them; a random orthogonal matrix points its columns anywhere on the sphere. "
             "Take the Q of a QR decomposition of Gaussian noise.")
    if reflections < 0.35 or reflections > 0.65:
        kind = ("never reflect: every one is a rotation (determinant +1)" if reflections < 0.05
                else "always reflect (determinant -1)" if reflections > 0.95
                else f"reflect {reflections:.0%} of the time")
        fail(f"over {draws} draws of 4 x 4 matrices yours {kind}; a random orthogonal matrix is a "
             "reflection half the time. Multiply Q's columns by the signs of R's diagonal "
             "(and do not force the determinant).")
    corner = float(qs[:, 0, 0].mean())
    if abs(corner) > 0.1:
        fail(f"over {draws} draws your entry [0, 0] averages {corner:.2f}, where every direction "
             "is equally likely and it averages 0: draw Gaussian noise (torch.randn, not "
             "torch.rand), and multiply Q's columns by the signs of R's diagonal, so that QR's "
             "sign convention does not leak into Q.")
    if abs(fourth - 3 / (p * (p + 2))) > 0.03:
        fail(f"over {draws} draws your entries' fourth moment is {fourth:.3f}; for a random "
             f"orthogonal matrix it is 3 / (p (p + 2)) = {3 / (p * (p + 2)):.3f}: some "
             "directions come up more often than others.")


@check("best_partners", points=1, twins=["interp_lib.similarity.semi_matching"])
def check_best_partners(fn) -> None:
    corr = torch.tensor([[0.1, 0.9, -0.95], [0.2, 0.8, 0.1], [0.7, -0.1, 0.3]])
    out = call(fn, corr, what="best_partners(corr)")
    if not (isinstance(out, tuple) and len(out) == 2):
        fail("best_partners should return (partner, correlation).")
    partner, value = out
    if (isinstance(partner, torch.Tensor) and partner.is_floating_point()
            and isinstance(value, torch.Tensor) and not value.is_floating_point()):
        fail("you returned (correlation, partner): return the partners (indices) first, then "
             "their correlations.")
    expect_shape(partner, (3,), "the partners")
    if partner.is_floating_point():
        fail(f"your partners are {partner.dtype} numbers: return them as integer indices "
             "(torch.long, as max and argmax give them), so that they can index B's units.")
    if torch.equal(partner.long(), corr.argmin(dim=1)):
        fail("you picked each unit's least correlated partner (argmin): the best partner has the "
             "largest correlation (max over dim 1).")
    if torch.equal(partner.long(), torch.tensor([2, 1, 0])):
        fail("unit 0's partner came out as 2 (correlation -0.95): a unit's best partner has "
             "the largest correlation, not the largest absolute one.")
    if torch.equal(partner.long(), corr.argmax(dim=0)):
        fail("you took the maximum over the wrong axis: row a is unit a of A; pick the "
             "best column.")
    if not torch.equal(partner.long(), torch.tensor([1, 1, 0])):
        fail(f"partners {partner.tolist()}, expected [1, 1, 0] (several units of A may share "
             "a partner in semi-matching).")
    expect_close(value, torch.tensor([0.9, 0.8, 0.7]), "each unit's best correlation.",
                 what="the partner correlations")
    wide = torch.rand(4, 9, generator=torch.Generator().manual_seed(4))
    # A table computed from activations can still require grad.
    p, v = call(fn, attached(wide), what="best_partners(a table that requires grad)")
    expect_shape(p, (4,), "the partners for corr (4, 9)")
    if not torch.equal(p.long(), wide.argmax(dim=1)):
        fail("with 4 units of A and 9 of B, some partners are wrong: look at every unit of B.")


@check("one_to_one", points=2, twins=["interp_lib.similarity.one_to_one_matching"])
def check_one_to_one(fn) -> None:
    corr = torch.tensor([[0.9, 0.8, 0.0], [0.85, 0.1, 0.0], [0.0, 0.0, 0.5]])
    out = call(fn, corr, what="one_to_one(corr)")
    if not (isinstance(out, tuple) and len(out) == 2):
        fail("one_to_one should return (partner, correlation).")
    partner, value = out
    expect_shape(partner, (3,), "the partners")
    partner = partner.long()
    if len(set(partner.tolist())) != 3:
        fail("a unit of B is used twice: one-to-one matching pairs each with one unit only.")
    if torch.equal(partner, torch.tensor([1, 0, 2])) and torch.allclose(
            value.detach().double(), corr[partner, torch.arange(3)].double()):
        fail("your correlations are read transposed, corr[partner, a]: unit a of A is row a, "
             "its partner a column: corr[a, partner[a]].")
    if torch.equal(partner, torch.tensor([0, 1, 2])):
        fail("your partners are [0, 1, 2]: that is the greedy pairing (unit 0 takes its favourite "
             "first), and also what linear_sum_assignment's ROW indices always are (0 to n - 1, "
             "sorted) when you solve on corr.T or return rows instead of columns. The partner of "
             "unit a of A is the column matched to row a of corr; the best one-to-one matching "
             "maximises the total: [1, 0, 2] sums to 2.15, [0, 1, 2] to 1.5.")
    if float(corr[torch.arange(3), partner].sum()) < 2.15 - 1e-6:
        fail(f"your matching {partner.tolist()} does not maximise the summed correlation "
             "(linear_sum_assignment minimises unless told maximize=True).")
    expect_close(value, torch.tensor([0.8, 0.85, 0.5]), "each unit's correlation with its "
                 "partner.", what="the matched correlations")
    g = torch.Generator().manual_seed(5)
    rect = torch.rand(4, 7, generator=g)
    # A table computed from activations can still require grad, on its way to scipy.
    p, v = call(fn, attached(rect), what="one_to_one(a table that requires grad)")
    ref_p, _ = similarity.one_to_one_matching(rect)
    if abs(float(rect[torch.arange(4), p.long()].sum()) - float(rect[torch.arange(4), ref_p].sum())) > 1e-6:
        fail("with 4 units of A and 7 of B your matching is not the best one.")
    # Correlations can be negative: a strongly anti-correlated unit is not a good partner.
    signed = torch.tensor([[0.5, -0.9], [0.4, 0.1]])
    p, _ = call(fn, signed, what="one_to_one(corr with a negative entry)")
    if torch.equal(p.long(), torch.tensor([1, 0])):
        fail("for corr [[0.5, -0.9], [0.4, 0.1]] you paired unit 0 with the unit it is "
             "anti-correlated with (-0.9): you matched on |corr|. Maximise the signed sum: "
             "[0, 1] gives 0.6, [1, 0] gives -0.5.")
    if not torch.equal(p.long(), torch.tensor([0, 1])):
        fail(f"for corr [[0.5, -0.9], [0.4, 0.1]] the best matching is [0, 1] (sum 0.6); yours "
             f"is {p.long().tolist()}.")
    relu2 = torch.rand(24, 24, generator=g) * 2 - 1  # relu2 of two conv5 organisms: 24 units each
    expect_fast(fn, _reference_matching, relu2, what="one_to_one",
                on="the chapter's relu2 (24 units against 24)",
                cause="trying every pairing (itertools.permutations: 24! of them)? "
                      "scipy.optimize.linear_sum_assignment(..., maximize=True) finds the best one "
                      "in polynomial time.")


def _reference_matching(corr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(corr.detach().numpy(), maximize=True)
    partner = torch.as_tensor(cols, dtype=torch.long)[torch.as_tensor(rows).argsort()]
    return partner, corr[torch.arange(len(partner)), partner]


class _Top(nn.Module):
    """The top of network B: conv, ReLU, pool, classifier. Its weights require grad, as a
    trained network's do: nothing freezes them, the step must leave them alone."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(6)
        self.conv = nn.Conv2d(5, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


@check("stitch_step", points=2)
def check_stitch_step(fn) -> None:
    g = torch.Generator().manual_seed(7)
    acts = torch.randn(8, 3, 5, 5, generator=g)
    labels = torch.randint(4, (8,), generator=g)
    top = _Top()

    def fresh():
        torch.manual_seed(0)
        stitch = nn.Conv2d(3, 5, 1)
        return stitch, torch.optim.SGD(stitch.parameters(), lr=0.5)

    ref_stitch, ref_opt = fresh()
    piled, piled_opt = fresh()  # the mistake: gradients never zeroed, so they pile up
    ref_losses = []
    for _ in range(2):
        loss = nn.functional.cross_entropy(top(ref_stitch(acts)), labels)
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        ref_losses.append(loss.item())
        nn.functional.cross_entropy(top(piled(acts)), labels).backward()
        piled_opt.step()
    for p in top.parameters():
        p.grad = None
    stitch, opt = fresh()
    top_before = [p.detach().clone() for p in top.parameters()]
    # B's top is not frozen (its weights require grad): the advice is not the saliency
    # chapters' "take the gradient of the input".
    advice = ("B's weights are not frozen (they still require grad): take the gradients of the "
              "stitch's parameters alone, torch.autograd.grad(loss, list(stitch.parameters())), "
              "set each p.grad, then optimizer.step().")
    first = call(fn, acts, top, stitch, opt, labels, what="stitch_step(...)", learns=(stitch,),
                 gradients=advice)
    second = call(fn, acts, top, stitch, opt, labels, what="stitch_step(...)", learns=(stitch,),
                  gradients=advice)
    if any(p.grad is not None for p in top.parameters()):
        fail("your step left gradients in B's weights (.grad): loss.backward() stores one in "
             "every parameter the loss depends on. Take the gradient of the stitch's "
             "parameters alone (torch.autograd.grad).")
    if any(not torch.equal(a, p.detach()) for a, p in zip(top_before, top.parameters())):
        fail("your step changed B's weights: only the stitch learns.")
    if not isinstance(first, float):
        fail(f"return the loss as a float (loss.item()), got {type(first).__name__}.")
    if abs(first - ref_losses[0]) > 1e-5:
        fail(f"the loss of the first step is {first:.5f}, expected {ref_losses[0]:.5f}: "
             "cross-entropy of B's top applied to the stitched activations.")
    if torch.equal(stitch.weight, fresh()[0].weight):
        fail("the stitch did not change: call optimizer.step() after setting its gradients.")
    if abs(second - ref_losses[1]) > 1e-5:
        fail(f"the second step's loss is {second:.5f}, expected {ref_losses[1]:.5f}: did the "
             "first step's gradient stay and add to the second's? Zero the gradients "
             "(optimizer.zero_grad()) before each step.")
    if torch.allclose(stitch.weight.detach(), piled.weight.detach(), atol=1e-6):
        fail("the first step's gradient stayed and added to the second's: zero the gradients "
             "(optimizer.zero_grad()) before each step.")
    expect_close(stitch.weight.detach(), ref_stitch.weight.detach(), "two steps of SGD on the "
                 "stitch, each with its own gradient: zero the gradients (optimizer.zero_grad()) "
                 "before each step, or the first step's gradient adds to the second's.",
                 what="the stitch's weights after two steps", atol=1e-5)
