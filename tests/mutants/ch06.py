import torch
from torch import nn


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
        ("diagonals not zeroed", _hsic(zero_diag=False)),
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
        ("side effect: loss.backward() leaves gradients in B", _stitch(backward=True)),
        ("gradients never zeroed", _stitch(zero=False)),
        ("no optimizer step", _stitch(step=False)),
        ("returns the loss tensor", _stitch_tensor_loss),
    ],
}
