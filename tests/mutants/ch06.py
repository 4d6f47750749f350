import torch
from torch import nn

from interp_lib import similarity


def _cka(centre=True, square=True):
    def cka(X, Y):
        if centre:
            X, Y = X - X.mean(0), Y - Y.mean(0)
        num = (Y.T @ X).norm() ** (2 if square else 1)
        return num / ((X.T @ X).norm() * (Y.T @ Y).norm()) ** (1 if square else 0.5)
    return cka


def _cka_centres_in_place(X, Y):
    X -= X.mean(0)  # centres the caller's representation
    Y = Y - Y.mean(0)
    return (Y.T @ X).norm() ** 2 / ((X.T @ X).norm() * (Y.T @ Y).norm())


def _cka_rows_centred(X, Y):
    X, Y = X - X.mean(1, keepdim=True), Y - Y.mean(1, keepdim=True)  # the wrong axis
    return (Y.T @ X).norm() ** 2 / ((X.T @ X).norm() * (Y.T @ Y).norm())


def _hsic(zero_diag=True, biased=False):
    def hsic(K, L):
        n = K.shape[0]
        if biased:
            H = torch.eye(n, dtype=K.dtype) - 1.0 / n
            return (H @ K @ H * (H @ L @ H)).sum() / (n - 1) ** 2
        if zero_diag:
            K = K - torch.diag(torch.diag(K))
            L = L - torch.diag(torch.diag(L))
        return ((K * L.T).sum() + K.sum() * L.sum() / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (K @ L).sum()) / (n * (n - 3))
    return hsic


def _hsic_zeroes_caller(K, L):
    n = K.shape[0]
    K.fill_diagonal_(0)  # on the caller's Gram matrix
    L = L - torch.diag(torch.diag(L))
    return ((K * L.T).sum() + K.sum() * L.sum() / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (K @ L).sum()) / (n * (n - 3))


def _orthogonal_r(p, generator):
    return torch.linalg.qr(torch.randn(p, p, generator=generator))[1]


def _orthogonal_gaussian(p, generator):
    return torch.randn(p, p, generator=generator) / p**0.5


def _orthogonal_global(p, generator):
    return torch.linalg.qr(torch.randn(p, p))[0]  # ignores the generator


def _greedy(corr):
    partner, used = [], set()
    for row in corr:
        order = row.argsort(descending=True).tolist()
        best = next(j for j in order if j not in used)
        used.add(best)
        partner.append(best)
    partner = torch.tensor(partner)
    return partner, corr[torch.arange(len(partner)), partner]


def _minimising(corr):
    from scipy.optimize import linear_sum_assignment
    rows, cols = linear_sum_assignment(corr.numpy())
    p = torch.as_tensor(cols, dtype=torch.long)
    return p, corr[torch.arange(len(p)), p]


def _stitch(backward=False, zero=True, step=True):
    def stitch_step(bottom, top, stitch, opt, labels):
        params = list(stitch.parameters())
        loss = nn.functional.cross_entropy(top(stitch(bottom)), labels)
        if zero:
            opt.zero_grad()
        if backward:
            loss.backward()
        else:
            for p, g in zip(params, torch.autograd.grad(loss, params)):
                p.grad = g if p.grad is None or zero else p.grad + g
        if step:
            opt.step()
        return loss.item()
    return stitch_step


def _stitch_tensor_loss(bottom, top, stitch, opt, labels):
    params = list(stitch.parameters())
    loss = nn.functional.cross_entropy(top(stitch(bottom)), labels)
    opt.zero_grad()
    for p, g in zip(params, torch.autograd.grad(loss, params)):
        p.grad = g
    opt.step()
    return loss  # a tensor, still attached to the graph


def _partners_abs_in_place(corr):
    values, index = corr.abs_().max(dim=1)  # the caller's correlations lose their signs
    return index, values


MUTANTS = {
    "centre_gram": [
        ("rows only", lambda K: K - K.mean(dim=1, keepdim=True)),
        ("overall mean subtracted twice", lambda K: K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True)),
        ("divided by n", lambda K: (K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean())
         / K.shape[0]),
        ("side effect: centres the caller's matrix in place",
         lambda K: K.sub_(K.mean(0, keepdim=True)).sub_(K.mean(1, keepdim=True))),
    ],
    "linear_cka": [
        ("forgot to centre", _cka(centre=False)),
        ("numerator not squared", _cka(square=False)),
        ("centred on the wrong axis", _cka_rows_centred),
        ("side effect: centres the caller's X in place", _cka_centres_in_place),
    ],
    "unbiased_hsic": [
        ("diagonals not zeroed", _hsic(zero_diag=False), "kept the diagonals"),
        ("the biased estimator", _hsic(biased=True)),
        ("side effect: zeroes the caller's diagonal", _hsic_zeroes_caller),
    ],
    "random_orthogonal": [
        ("returns R, not Q", _orthogonal_r),
        ("a scaled Gaussian matrix", _orthogonal_gaussian),
        ("hard-coded: ignores the generator", _orthogonal_global),
    ],
    "best_partners": [
        ("side effect: abs_() on the caller's correlations", _partners_abs_in_place),
        ("largest absolute correlation", lambda c: (c.abs().argmax(1), c.abs().max(1).values)),
        ("wrong axis", lambda c: (c.argmax(0), c.max(0).values)),
        ("hard-coded: square tables only", lambda c: (c[:, :c.shape[0]].argmax(1),
                                                      c[:, :c.shape[0]].max(1).values)),
    ],
    "one_to_one": [
        ("greedy pairing", _greedy),
        ("linear_sum_assignment minimising", _minimising),
        ("semi-matching, not one-to-one", lambda c: (c.argmax(1), c.max(1).values)),
    ],
    "stitch_step": [
        ("side effect: loss.backward() leaves gradients in B", _stitch(backward=True),
         "torch.autograd.grad(loss, list(stitch.parameters()))"),
        ("gradients never zeroed", _stitch(zero=False)),
        ("no optimizer step", _stitch(step=False)),
        ("returns the loss tensor", _stitch_tensor_loss),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _centre_loop(K):
    n = K.shape[0]
    rows, cols, total = K.mean(dim=1), K.mean(dim=0), K.mean()
    out = torch.empty_like(K)
    for i in range(n):
        for j in range(n):
            out[i, j] = K[i, j] - rows[i] - cols[j] + total
    return out


def _cka_feature_space(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return (Y.T @ X).norm() ** 2 / ((X.T @ X).norm() * (Y.T @ Y).norm())  # p x p matrices


def _cka_frobenius(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    K, L = X @ X.T, Y @ Y.T
    return (K * L).sum() / (X.norm() ** 2 * Y.norm() ** 2)


def _hsic_loop(K, L):
    n = K.shape[0]
    K = K - torch.diag(torch.diag(K))
    L = L - torch.diag(torch.diag(L))
    trace = sum(float(K[i, j] * L[j, i]) for i in range(n) for j in range(n))
    kl = sum(float((K[i] * L[:, j]).sum()) for i in range(n) for j in range(n))
    middle = float(K.sum() * L.sum()) / ((n - 1) * (n - 2))
    return torch.tensor((trace + middle - 2.0 / (n - 2) * kl) / (n * (n - 3)), dtype=K.dtype)


def _orthogonal_rotation_only(p, generator):
    q, r = torch.linalg.qr(torch.randn(p, p, generator=generator))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    if torch.linalg.det(q) < 0:  # "a rotation should have determinant +1"
        q[:, 0] = -q[:, 0]
    return q


def _orthogonal_permutation(p, generator):
    return torch.eye(p)[torch.randperm(p, generator=generator)]


def _orthogonal_signed_permutation(p, generator):
    signs = torch.randint(2, (p,), generator=generator) * 2 - 1
    return torch.eye(p)[torch.randperm(p, generator=generator)] * signs


def _orthogonal_uniform(p, generator):
    q, r = torch.linalg.qr(torch.rand(p, p, generator=generator))  # uniform, not Gaussian, noise
    return q * torch.sign(torch.diagonal(r))[None, :]


def _partners_numpy(corr):
    import numpy as np
    table = corr.numpy()  # a table that requires grad cannot go to numpy
    best = np.argmax(table, axis=1)
    return torch.as_tensor(best), torch.as_tensor(table.max(axis=1))


def _one_to_one_numpy(corr):
    from scipy.optimize import linear_sum_assignment
    rows, cols = linear_sum_assignment(corr.numpy(), maximize=True)
    p = torch.as_tensor(cols, dtype=torch.long)
    return p, corr[torch.arange(len(p)), p]


def _one_to_one_brute_force(corr):
    import itertools
    best, best_total = None, -float("inf")
    for cols in itertools.permutations(range(corr.shape[1]), corr.shape[0]):
        total = float(corr[torch.arange(corr.shape[0]), list(cols)].sum())
        if total > best_total:
            best, best_total = cols, total
    p = torch.tensor(best)
    return p, corr[torch.arange(len(p)), p]


def _one_to_one_transposed_values(corr):
    from scipy.optimize import linear_sum_assignment
    rows, cols = linear_sum_assignment(corr.detach().numpy(), maximize=True)
    p = torch.as_tensor(cols, dtype=torch.long)
    return p, corr[p, torch.arange(len(p))]


MUTANTS["centre_gram"] += [
    ("[cost] a Python loop over the entries of K", _centre_loop, "slower than the reference"),
    ("[learner] the library's centre_gram", lambda K: similarity.centre_gram(K), "similarity.centre_gram"),
]
MUTANTS["linear_cka"] += [
    ("[learner] feature-space CKA: p x p matrices on flattened layers", _cka_feature_space,
     "ran out of memory"),
    ("[learner] the library's linear_cka", lambda X, Y: similarity.linear_cka(X, Y),
     "similarity.linear_cka"),
    ("[learner] the library's CKA from Gram matrices",
     lambda X, Y: similarity.cka_from_grams(X @ X.T, Y @ Y.T), "similarity.cka_from_grams"),
    ("[message] ||X||_F^2 ||Y||_F^2 as the denominator", _cka_frobenius, "||X^T X||_F ||Y^T Y||_F"),
]
MUTANTS["unbiased_hsic"] += [
    ("[cost] a Python loop over pairs of examples", _hsic_loop, "slower than the reference"),
    ("[learner] the library's unbiased_hsic", lambda K, L: similarity.unbiased_hsic(K, L),
     "similarity.unbiased_hsic"),
]
MUTANTS["random_orthogonal"] += [
    ("[distribution] never reflects (determinant forced to +1)", _orthogonal_rotation_only,
     "never reflect"),
    ("[distribution] always reflects (QR's signs not corrected)",
     lambda p, g: torch.linalg.qr(torch.randn(p, p, generator=g))[0], "always reflect"),
    ("[distribution] a random permutation matrix", _orthogonal_permutation, "permutations"),
    ("[distribution] a random signed permutation matrix", _orthogonal_signed_permutation, "permutations"),
    ("[distribution] QR of uniform noise", _orthogonal_uniform, "averages"),
]
MUTANTS["best_partners"] += [
    ("[wild] numpy on a table that requires grad", _partners_numpy, "requires grad"),
    ("[message] the least correlated partner", lambda c: (c.argmin(dim=1), c.amin(dim=1)), "argmin"),
    ("[message] (correlation, partner) in the wrong order", lambda c: tuple(c.max(dim=1)), "first"),
    ("[learner] the library's semi_matching", lambda c: similarity.semi_matching(c),
     "similarity.semi_matching"),
]
MUTANTS["one_to_one"] += [
    ("[wild] scipy on a table that requires grad (no detach)", _one_to_one_numpy, "requires grad"),
    ("[cost] tries every pairing", _one_to_one_brute_force, "every pairing"),
    ("[message] correlations read transposed", _one_to_one_transposed_values, "transposed"),
    ("[learner] the library's one_to_one_matching", lambda c: similarity.one_to_one_matching(c),
     "similarity.one_to_one_matching"),
]


# Fresh wrong answers from an independent author (issue 21's audit), now told what they did.
def _one_to_one_rows(corr):
    from scipy.optimize import linear_sum_assignment
    rows, _ = linear_sum_assignment(corr.detach().cpu().numpy().T, maximize=True)
    partner = torch.as_tensor(rows, dtype=torch.long)
    return partner, corr[torch.arange(corr.shape[0]), partner]


MUTANTS["one_to_one"] += [
    ("[fresh] solved on corr.T, the row indices returned", _one_to_one_rows, "ROW indices"),
]


# Fresh wrong answers, round 3 (issue 21), now caught.
def _partners_as_floats(corr):
    values, partners = corr.max(dim=1)
    return partners.float(), values


MUTANTS["best_partners"] += [
    ("[fresh] partner indices returned as floats", _partners_as_floats, "integer indices"),
]


def _one_to_one_abs(corr):
    from scipy.optimize import linear_sum_assignment
    rows, cols = linear_sum_assignment(corr.detach().abs().numpy(), maximize=True)  # |corr|
    partner = torch.as_tensor(cols)
    return partner, corr[torch.arange(len(partner)), partner]


def _stitch_step_freezes_top(acts, top, stitch, optimizer, labels):
    for p in top.parameters():
        p.requires_grad_(False)  # and never switched back on
    loss = nn.functional.cross_entropy(top(stitch(acts)), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


MUTANTS["one_to_one"] += [
    ("[fresh] matches on |corr|: an anti-correlated unit becomes a partner", _one_to_one_abs, "|corr|"),
]
MUTANTS["stitch_step"] += [
    ("[fresh] freezes B's weights and leaves them frozen", _stitch_step_freezes_top, "requires_grad"),
]


def _centre_gram_float32_h(K):
    n = K.shape[0]
    H = torch.eye(n) - torch.ones(n, n) / n  # float32 whatever K is
    return H @ K.float() @ H


MUTANTS["centre_gram"] += [
    ("[fresh] H built in float32: a float64 K comes back float32", _centre_gram_float32_h, "dtype"),
]

