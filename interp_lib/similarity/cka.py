"""CKA: the similarity of two layers, compared through their Gram matrices.

Centred kernel alignment (Kornblith et al. 2019) compares how two
representations of the same examples arrange those examples: the Gram matrix
(n, n) of each says how alike every pair of examples is, and CKA is the
normalised alignment of the two, after centring. Three forms: linear
(`linear_cka`), with RBF kernels (`rbf_cka`), and debiased with the unbiased
HSIC estimator (`debiased_cka`), less inflated when features outnumber
examples. It stands apart from CCA (`cca`), which compares the subspaces the
features span rather than the examples' geometry.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interp_lib.similarity._common import _as_matrix, _same_examples, centre_columns


def centre_gram(k: Tensor) -> Tensor:
    """H K H with H = I - 11^T / n: a Gram matrix (n, n) of centred features.

    The Gram matrix of centred X equals the centred Gram matrix of X, so this
    is how the Gram form of CKA centres.

    >>> x = torch.randn(6, 3, dtype=torch.float64)
    >>> torch.allclose(centre_gram(x @ x.T), centre_columns(x) @ centre_columns(x).T)
    True
    """
    return k - k.mean(dim=0, keepdim=True) - k.mean(dim=1, keepdim=True) + k.mean()


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred
    X (n, p1) and Y (n, p2). 1 for representations equal up to rotation and
    isotropic scale; near 0 for unrelated ones.

    >>> x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    >>> round(linear_cka(x, 3 * x), 6)
    1.0
    >>> wide = torch.randn(20, 5000, generator=torch.Generator().manual_seed(1))
    >>> round(linear_cka(wide, 2 * wide), 6)  # computed through (20, 20) Gram matrices
    1.0
    """
    x, y = _same_examples(x, y)
    x, y = centre_columns(x), centre_columns(y)
    if x.shape[1] + y.shape[1] > 2 * x.shape[0]:
        # Wide layers (a conv layer flattened: C*H*W features for a few hundred images):
        # the Gram matrices (n, n) are far smaller than the (p, p) products and give
        # the same number, since ||Y^T X||_F^2 = <X X^T, Y Y^T>.
        return cka_from_grams(x @ x.T, y @ y.T)
    num = (y.T @ x).square().sum()
    den = (x.T @ x).norm() * (y.T @ y).norm()
    return float(num / den) if den > 0 else 0.0


def cka_from_grams(gram_x: Tensor, gram_y: Tensor) -> float:
    """CKA from two Gram (kernel) matrices (n, n) over the same examples:
    <H K H, H L H> / (||H K H|| ||H L H||). With K = X X^T and L = Y Y^T it is
    linear CKA; any kernel works.

    >>> x = torch.randn(30, 4, dtype=torch.float64)
    >>> y = x @ torch.randn(4, 6, dtype=torch.float64)
    >>> abs(cka_from_grams(x @ x.T, y @ y.T) - linear_cka(x, y)) < 1e-12
    True
    """
    kx, ky = centre_gram(gram_x.double()), centre_gram(gram_y.double())
    den = kx.norm() * ky.norm()
    return float((kx * ky).sum() / den) if den > 0 else 0.0


def linear_cka_gram(x: Tensor, y: Tensor) -> float:
    """Linear CKA computed through the n x n Gram matrices: cheap when features
    outnumber examples (flattened conv maps). Equals `linear_cka`.

    >>> x = torch.randn(20, 5, dtype=torch.float64)
    >>> y = torch.randn(20, 3, dtype=torch.float64)
    >>> abs(linear_cka_gram(x, y) - linear_cka(x, y)) < 1e-12
    True
    """
    x, y = _same_examples(x, y)
    return cka_from_grams(x @ x.T, y @ y.T)


def _median(x: Tensor) -> Tensor:
    """The median of all of x's values, the mean of the two middle ones for an even
    count (as numpy.median; torch.median returns the lower of the two).

    >>> _median(torch.tensor([1.0, 2.0, 3.0, 10.0])), torch.tensor([1.0, 2.0, 3.0, 10.0]).median()
    (tensor(2.5000), tensor(2.))
    """
    v = x.flatten().sort().values
    m = v.numel()
    return (v[(m - 1) // 2] + v[m // 2]) / 2


def rbf_gram(x: Tensor, threshold: float = 1.0) -> Tensor:
    """The RBF kernel matrix exp(-d^2 / (2 sigma^2)) of X (n, p), with sigma^2 =
    threshold^2 times the median squared distance between examples (the median
    of all n^2 entries, zeros on the diagonal included, as Kornblith et al. do).

    Near examples get a similarity near 1, far ones near 0: a smaller threshold
    makes the kernel more local.

    >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])  # two pairs of neighbours, far apart
    >>> rbf_gram(x, threshold=0.5).round(decimals=1)
    tensor([[1., 1., 0., 0.],
            [1., 1., 0., 0.],
            [0., 0., 1., 1.],
            [0., 0., 1., 1.]], dtype=torch.float64)
    """
    x = _as_matrix(x)
    sq = (x[:, None, :] - x[None, :, :]).square().sum(dim=-1)
    sigma2 = threshold**2 * _median(sq)
    if sigma2 == 0:
        return torch.ones_like(sq)
    return torch.exp(-sq / (2 * sigma2))


def rbf_cka(x: Tensor, y: Tensor, threshold: float = 1.0) -> float:
    """CKA with RBF kernels (see rbf_gram): sensitive to local neighbourhoods as well
    as to the overall geometry.

    >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(1))
    >>> round(rbf_cka(x, 2 * x, threshold=0.5), 6)
    1.0
    """
    x, y = _same_examples(x, y)
    return cka_from_grams(rbf_gram(x, threshold), rbf_gram(y, threshold))


def unbiased_hsic(gram_x: Tensor, gram_y: Tensor) -> Tensor:
    """The unbiased HSIC estimator (Song et al. 2012) of two Gram matrices (n, n), n > 3:
    diagonals zeroed, then
    [tr(K L) + 1^T K 1 * 1^T L 1 / ((n-1)(n-2)) - 2 / (n-2) * 1^T K L 1] / (n (n-3)).

    >>> k = torch.ones(5, 5, dtype=torch.float64)  # a constant kernel carries no information
    >>> abs(float(unbiased_hsic(k, k))) < 1e-12
    True
    """
    n = gram_x.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 examples, got {n}")
    kx = gram_x.double() - torch.diag(gram_x.diagonal().double())
    ky = gram_y.double() - torch.diag(gram_y.diagonal().double())
    ones = torch.ones(n, dtype=torch.float64)
    trace = (kx * ky.T).sum()
    middle = (ones @ kx @ ones) * (ones @ ky @ ones) / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * (ones @ kx @ ky @ ones)
    return (trace + middle - last) / (n * (n - 3))


def debiased_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA with the unbiased HSIC estimator: less inflated when features
    outnumber examples (where plain CKA of two random representations is far from 0).

    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.randn(20, 200, generator=g), torch.randn(20, 200, generator=g)
    >>> linear_cka(x, y) > 0.5, abs(debiased_cka(x, y)) < 0.1
    (True, True)
    """
    x, y = _same_examples(x, y)
    x, y = centre_columns(x), centre_columns(y)
    kx, ky = x @ x.T, y @ y.T
    den = (unbiased_hsic(kx, kx) * unbiased_hsic(ky, ky)).sqrt()
    return float(unbiased_hsic(kx, ky) / den) if den > 0 else 0.0
