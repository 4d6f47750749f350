"""Checks for chapter 6, universality."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from interp_lib import similarity
from interp_lib.course.checks import call, check, expect_close, expect_shape, fail


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


@check("centre_gram")
def check_centre_gram(fn) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    K = x @ x.T + 2.0  # an offset, so that forgetting to centre shows
    out = call(fn, K, what="centre_gram(K)")
    expect_shape(out, (7, 7), "centre_gram(K) for K (7, 7)")
    ref = similarity.centre_gram(K)
    one_side = K - K.mean(dim=0, keepdim=True)
    if torch.allclose(out, one_side) or torch.allclose(out, K - K.mean(dim=1, keepdim=True)):
        fail("you centred one axis only: H K H removes the mean of the rows and of the columns.")
    if torch.allclose(out, K - K.mean(dim=0, keepdim=True) - K.mean(dim=1, keepdim=True)):
        fail("you subtracted the overall mean twice: add K.mean() back once.")
    expect_close(out, ref, "H K H: subtract the row means and the column means, add back "
                 "the overall mean.", atol=1e-8)
    cx = x - x.mean(dim=0)
    if not torch.allclose(out, cx @ cx.T, atol=1e-8):
        fail("the centred Gram matrix of X should equal the Gram matrix of centred X.")


@check("linear_cka")
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


@check("unbiased_hsic")
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


@check("random_orthogonal")
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


@check("best_partners")
def check_best_partners(fn) -> None:
    corr = torch.tensor([[0.1, 0.9, -0.95], [0.2, 0.8, 0.1], [0.7, -0.1, 0.3]])
    out = call(fn, corr, what="best_partners(corr)")
    if not (isinstance(out, tuple) and len(out) == 2):
        fail("best_partners should return (partner, correlation).")
    partner, value = out
    expect_shape(partner, (3,), "the partners")
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
    p, v = fn(wide)
    expect_shape(p, (4,), "the partners for corr (4, 9)")
    if not torch.equal(p.long(), wide.argmax(dim=1)):
        fail("with 4 units of A and 9 of B, some partners are wrong: look at every unit of B.")


@check("one_to_one")
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
    if torch.equal(partner, torch.tensor([0, 1, 2])):
        fail("that is the greedy pairing (unit 0 takes its favourite first); the best "
             "one-to-one matching maximises the total: [1, 0, 2] sums to 2.15, [0, 1, 2] to 1.5.")
    if float(corr[torch.arange(3), partner].sum()) < 2.15 - 1e-6:
        fail(f"your matching {partner.tolist()} does not maximise the summed correlation "
             "(linear_sum_assignment minimises unless told maximize=True).")
    expect_close(value, torch.tensor([0.8, 0.85, 0.5]), "each unit's correlation with its "
                 "partner.", what="the matched correlations")
    g = torch.Generator().manual_seed(5)
    rect = torch.rand(4, 7, generator=g)
    p, v = fn(rect)
    ref_p, _ = similarity.one_to_one_matching(rect)
    if abs(float(rect[torch.arange(4), p.long()].sum()) - float(rect[torch.arange(4), ref_p].sum())) > 1e-6:
        fail("with 4 units of A and 7 of B your matching is not the best one.")


class _Top(nn.Module):
    """A frozen top of network B: conv, ReLU, pool, classifier."""

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


@check("stitch_step")
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
    ref_losses = []
    for _ in range(2):
        loss = nn.functional.cross_entropy(top(ref_stitch(acts)), labels)
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        ref_losses.append(loss.item())
    for p in top.parameters():
        p.grad = None
    stitch, opt = fresh()
    top_before = [p.detach().clone() for p in top.parameters()]
    first = call(fn, acts, top, stitch, opt, labels, what="stitch_step(...)", learns=(stitch,))
    second = call(fn, acts, top, stitch, opt, labels, what="stitch_step(...)", learns=(stitch,))
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
    expect_close(stitch.weight.detach(), ref_stitch.weight.detach(), "two steps of SGD on the "
                 "stitch, each with its own gradient: zero the gradients (optimizer.zero_grad()) "
                 "before each step, or the first step's gradient adds to the second's.",
                 what="the stitch's weights after two steps", atol=1e-5)
