"""Comparing representations: do different networks learn the same features? (claim 3)

Three families of tools, all on activations of the same images (`hooks.activations`):

- Similarity of whole layers: CKA (Kornblith et al. 2019) in its linear, RBF
  and debiased forms; CCA, SVCCA and PWCCA (Raghu et al. 2017; Morcos et al.
  2018).
- Unit matching (convergent learning, Li et al. 2015): correlate every unit
  of one network with every unit of another over images and positions, then
  pair them, each with its best partner (semi-matching) or one to one
  (maximum-weight bipartite matching), against a randomly initialised control.
- Model stitching (Bansal et al. 2021): can the top of network B work on the
  bottom of network A, through a trained 1x1 convolution?

Shapes: a representation is X (n examples, p features); a conv layer's
activations (n, C, H, W) are flattened per example where a function needs X.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interp_lib.hooks import Layer, edit, eval_mode, model_device, run_with_cache


# --- representations as matrices ---------------------------------------------------------

def _as_matrix(x: Tensor) -> Tensor:
    """A representation as X (n, p) in float64: each example's features flattened."""
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"a representation is (n examples, features...), got shape "
                         f"{tuple(x.shape)}")
    return x.reshape(x.shape[0], -1).double()


def _same_examples(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _as_matrix(x), _as_matrix(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"the two representations must describe the same examples: x has "
                         f"{x.shape[0]}, y has {y.shape[0]}")
    if x.shape[0] < 4:
        raise ValueError(f"comparing representations needs at least 4 examples, got {x.shape[0]}")
    return x, y


# --- CKA -----------------------------------------------------------------------------------

def centre_columns(x: Tensor) -> Tensor:
    """Subtract each feature's mean over examples: X (n, p) -> centred X.

    >>> centre_columns(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    tensor([[-1., -2.],
            [ 1.,  2.]])
    """
    return x - x.mean(dim=0, keepdim=True)


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


# --- CCA and its variants -----------------------------------------------------------------

def canonical_correlations(x: Tensor, y: Tensor, *, centre: bool = True, eps: float = 1e-10
                           ) -> Tensor:
    """The canonical correlations (min(p1, p2),) of X (n, p1) and Y (n, p2), largest first:
    the singular values of Qx^T Qy, where Qx, Qy are orthonormal bases of the
    (centred, unless centre=False) representations. Directions with no variance
    are dropped first.

    >>> x = torch.randn(40, 3, dtype=torch.float64)
    >>> canonical_correlations(x, x @ torch.randn(3, 3, dtype=torch.float64)).round(decimals=6)
    tensor([1., 1., 1.], dtype=torch.float64)
    """
    x, y = _same_examples(x, y)
    if centre:
        x, y = centre_columns(x), centre_columns(y)
    qx, qy = _orthonormal_basis(x, eps), _orthonormal_basis(y, eps)
    return torch.linalg.svdvals(qx.T @ qy).clamp(0.0, 1.0)


def _orthonormal_basis(x: Tensor, eps: float) -> Tensor:
    """An orthonormal basis (n, r) of the column space of x, its rank r found by SVD."""
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    return u[:, s > eps * s.max()] if s.numel() and s.max() > 0 else u[:, :0]


def mean_squared_cca(x: Tensor, y: Tensor, *, centre: bool = True) -> float:
    """The mean of the squared canonical correlations: 1 when either representation is
    an invertible linear map of the other, whatever the map.

    Kornblith et al.'s published check value (0.54312) was computed without
    centring the features: centre=False reproduces it.

    >>> x = torch.randn(40, 3, dtype=torch.float64)
    >>> round(mean_squared_cca(x, x @ torch.randn(3, 3, dtype=torch.float64)), 6)
    1.0
    """
    rho = canonical_correlations(x, y, centre=centre)
    return float(rho.square().mean()) if rho.numel() else 0.0


DEFAULT_VARIANCE = 0.99


def _top_directions(x: Tensor, variance: float | None = None, n_components: int | None = None
                    ) -> Tensor:
    """Centred X projected on its top singular directions (n, k): the first n_components,
    or the fewest that explain a share `variance` of the variance (all of them for
    variance=1). Give at most one of the two; neither means 99% of the variance."""
    variance, n_components = _directions_to_keep(variance, n_components)
    x = centre_columns(_as_matrix(x))
    if x.shape[1] > x.shape[0]:
        # Many more features than examples: the eigenvectors of the (n, n) Gram matrix
        # are X's left singular vectors, at a fraction of the cost of the full SVD.
        evals, u = torch.linalg.eigh(x @ x.T)
        evals, u = evals.flip(0).clamp_min(0), u.flip(1)
        s = evals.sqrt()
    else:
        u, s, _ = torch.linalg.svd(x, full_matrices=False)
    if n_components is not None:
        k = n_components
    elif variance >= 1:
        k = len(s)  # every direction: no rounding of the cumulative share can drop one
    else:
        share = (s**2).cumsum(0) / (s**2).sum().clamp_min(1e-30)
        k = int((share < variance).sum()) + 1
    k = max(1, min(k, len(s)))
    return u[:, :k] * s[:k]


def _directions_to_keep(variance: float | None, n_components: int | None
                        ) -> tuple[float | None, int | None]:
    """Check SVCCA's two ways of saying how much to keep; exactly one is used."""
    if variance is not None and n_components is not None:
        raise ValueError(f"give either variance= (a share of the variance, such as 0.99) or "
                         f"n_components= (a number of directions), not both: got "
                         f"variance={variance!r} and n_components={n_components!r}")
    if n_components is not None:
        if isinstance(n_components, bool) or not isinstance(n_components, int):
            raise TypeError(f"n_components is a number of directions, a whole number; got "
                            f"{n_components!r}. A share of the variance goes in variance=.")
        if n_components < 1:
            raise ValueError(f"n_components must be at least 1, got {n_components}")
        return None, n_components
    if variance is None:
        variance = DEFAULT_VARIANCE
    if isinstance(variance, bool) or not 0 < variance <= 1:
        raise ValueError(f"variance is a share of the variance, above 0 and at most 1 (0.99 "
                         f"keeps 99%); got {variance!r}. A number of directions goes in "
                         "n_components=.")
    return float(variance), None


def svcca(x: Tensor, y: Tensor, *, variance: float | None = None,
          n_components: int | None = None) -> float:
    """SVCCA (Raghu et al. 2017): keep each representation's top singular directions,
    then the mean canonical correlation between them.

    How much to keep, one of: variance, the share of each representation's variance
    the kept directions explain (0.99 when neither is given; 1.0 keeps every
    direction, which is plain mean CCA); n_components, a number of directions.
    Dropping the low-variance directions keeps CCA from matching noise.

    >>> g = torch.Generator().manual_seed(0)
    >>> signal = torch.randn(200, 2, generator=g, dtype=torch.float64)
    >>> noise = lambda: 0.01 * torch.randn(200, 4, generator=g, dtype=torch.float64)
    >>> x = torch.cat([signal, noise()], 1)  # two strong directions, four of faint noise
    >>> y = torch.cat([signal @ torch.randn(2, 2, generator=g, dtype=torch.float64), noise()], 1)
    >>> round(svcca(x, y), 3)  # the 99% kept is the shared signal
    1.0
    >>> svcca(x, y, variance=1.0) < 0.6  # all of it: the unrelated noise drags CCA down
    True
    """
    x, y = _same_examples(x, y)
    rho = canonical_correlations(_top_directions(x, variance, n_components),
                                 _top_directions(y, variance, n_components))
    return float(rho.mean())


def pwcca(x: Tensor, y: Tensor) -> float:
    """Projection-weighted CCA (Morcos et al. 2018): the canonical correlations, each
    weighted by how much of X its canonical variate accounts for (the summed
    absolute projections of X's features on it), so that directions X barely
    uses count little.

    >>> x = torch.randn(60, 4, dtype=torch.float64)
    >>> round(pwcca(x, x @ torch.randn(4, 4, dtype=torch.float64)), 6)
    1.0
    """
    x, y = _same_examples(x, y)
    xc, yc = centre_columns(x), centre_columns(y)
    qx, qy = _orthonormal_basis(xc, 1e-10), _orthonormal_basis(yc, 1e-10)
    u, rho, _ = torch.linalg.svd(qx.T @ qy, full_matrices=False)
    variates = qx @ u  # (n, k): X's canonical variates, unit length
    weights = (variates.T @ xc).abs().sum(dim=1)  # (k,)
    return float((weights * rho.clamp(0, 1)).sum() / weights.sum().clamp_min(1e-30))


def layer_similarity(acts_a: dict[str, Tensor], acts_b: dict[str, Tensor], *,
                     index: str | Callable[[Tensor, Tensor], float] = "linear_cka",
                     variance: float | None = None, n_components: int | None = None) -> Tensor:
    """A similarity index between every layer of A and every layer of B:
    (len(acts_a), len(acts_b)), rows in acts_a's order.

    index: "linear_cka" (default), "svcca" (keeping a share `variance` of each layer's
    variance, 0.99 by default, or `n_components` directions: see svcca), or any
    function index(x, y) -> float. For the two named
    indices the expensive part (a layer's Gram matrix, its SVD) is computed once per
    layer, not once per pair: with flattened conv layers (tens of thousands of
    features) that is most of the time.

    >>> g = torch.Generator().manual_seed(0)
    >>> a = {"l1": torch.randn(20, 4, generator=g), "l2": torch.randn(20, 6, generator=g)}
    >>> layer_similarity(a, a).diagonal().round(decimals=6)
    tensor([1., 1.], dtype=torch.float64)
    >>> torch.allclose(layer_similarity(a, a, index="svcca", n_components=3),
    ...                layer_similarity(a, a, index=lambda x, y: svcca(x, y, n_components=3)))
    True
    """
    if index != "svcca" and (variance is not None or n_components is not None):
        raise ValueError("variance= and n_components= say how much SVCCA keeps: use them with "
                         "index='svcca'")
    if callable(index):
        return torch.tensor([[index(xa, xb) for xb in acts_b.values()] for xa in acts_a.values()],
                            dtype=torch.float64)
    if index == "linear_cka":
        def prepare(x):
            x = centre_columns(_as_matrix(x))
            k = x @ x.T  # the centred Gram matrix, normalised: CKA is then a dot product
            return k / k.norm().clamp_min(1e-30)

        def compare(kx, ky):
            return float((kx * ky).sum())
    elif index == "svcca":
        _directions_to_keep(variance, n_components)  # a bad choice fails before any SVD

        def prepare(x):
            return _top_directions(x, variance, n_components)

        def compare(x, y):
            return float(canonical_correlations(x, y).mean())
    else:
        raise ValueError(f"unknown index {index!r}: use 'linear_cka', 'svcca' or a function "
                         "index(x, y) -> float")
    n = {len(x) for x in [*acts_a.values(), *acts_b.values()]}
    if len(n) > 1:
        raise ValueError(f"every layer must describe the same examples; got counts {sorted(n)}")
    prepared_a = [prepare(x) for x in acts_a.values()]
    prepared_b = prepared_a if acts_b is acts_a else [prepare(x) for x in acts_b.values()]
    return torch.tensor([[compare(xa, xb) for xb in prepared_b] for xa in prepared_a],
                        dtype=torch.float64)


def identified(similarity: Tensor) -> Tensor:
    """(L,) bool: for each layer of A (rows), whether its most similar layer of B is the
    corresponding one (the same position): the layer-identification test.

    >>> identified(torch.tensor([[0.9, 0.2], [0.8, 0.7]]))
    tensor([ True, False])
    """
    return similarity.argmax(dim=1) == torch.arange(similarity.shape[0])


# --- unit matching -------------------------------------------------------------------------

def unit_correlations(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of every unit of A with every unit of B: (C_a, C_b).

    a: (N, C_a, H, W) and b: (N, C_b, H, W) over the same images, with the same
    grid (`resample` one first if not): each unit's values over images *and*
    positions are its sample. (N, C) without a grid also works. A unit that
    never varies correlates 0 with everything.

    >>> a = torch.randn(10, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> unit_correlations(a, a).diagonal()
    tensor([1., 1., 1.])
    """
    if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"unit correlations need the same images and grid: got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    fa = a.transpose(0, 1).reshape(a.shape[1], -1).double()
    fb = b.transpose(0, 1).reshape(b.shape[1], -1).double()
    fa = fa - fa.mean(dim=1, keepdim=True)
    fb = fb - fb.mean(dim=1, keepdim=True)
    na, nb = fa.norm(dim=1, keepdim=True), fb.norm(dim=1, keepdim=True)
    corr = (fa @ fb.T) / (na @ nb.T).clamp_min(1e-12)
    return corr.where((na > 0) & (nb.T > 0), torch.zeros_like(corr)).float()


def resample(a: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps (N, C, H, W) resampled to (N, C, *size), positions kept at the same place in
    the image (area averaging to shrink, bilinear to enlarge).

    >>> a = torch.zeros(1, 1, 8, 8)
    >>> a[..., :4, :4] = 1.0  # the top-left quarter is on
    >>> resample(a, (2, 2))[0, 0]  # still the top-left quarter, on a coarser grid
    tensor([[1., 0.],
            [0., 0.]])
    """
    if tuple(a.shape[2:]) == tuple(size):
        return a
    if a.shape[2] >= size[0] and a.shape[3] >= size[1]:
        return nn.functional.adaptive_avg_pool2d(a, size)
    return nn.functional.interpolate(a, size=size, mode="bilinear", align_corners=False)


def semi_matching(corr: Tensor) -> tuple[Tensor, Tensor]:
    """Each unit of A paired with its best-correlated unit of B (several A units may
    share a partner): (partner (C_a,), correlation (C_a,)).

    >>> semi_matching(torch.tensor([[0.1, 0.9], [0.2, 0.8]]))
    (tensor([1, 1]), tensor([0.9000, 0.8000]))
    """
    best = corr.max(dim=1)
    return best.indices, best.values


def one_to_one_matching(corr: Tensor) -> tuple[Tensor, Tensor]:
    """A one-to-one pairing of A's units with B's that maximises the summed correlation
    (maximum-weight bipartite matching, by scipy's linear_sum_assignment). Returns
    (partner (C_a,), correlation (C_a,)); with C_a > C_b, unmatched units get -1 and NaN.

    >>> one_to_one_matching(torch.tensor([[0.1, 0.9], [0.2, 0.8]]))  # semi-matching: 1 and 1
    (tensor([1, 0]), tensor([0.9000, 0.2000]))
    """
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(corr.detach().cpu().double().numpy(), maximize=True)
    partner = torch.full((corr.shape[0],), -1, dtype=torch.long)
    value = torch.full((corr.shape[0],), float("nan"))
    partner[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.long)
    value[torch.as_tensor(rows)] = corr[torch.as_tensor(rows), torch.as_tensor(cols)].float()
    return partner, value


@dataclass
class Matching:
    """Unit matching of layer A against layer B, and against a random-init control.

    semi, one_to_one: each A unit's correlation with its partner (C_a,);
    control_semi: the same best-partner correlations against the control network.
    """

    corr: Tensor
    semi: Tensor
    semi_partner: Tensor
    one_to_one: Tensor
    one_to_one_partner: Tensor
    control_semi: Tensor | None = None


def match_units(a: Tensor, b: Tensor, control: Tensor | None = None) -> Matching:
    """Match the units of two layers' activations (N, C, H, W) (grids resampled to the
    smaller), and optionally those of A against a control layer (the same layer of
    a randomly initialised network): the baseline any match must beat.

    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randn(20, 4, 3, 3, generator=g)
    >>> m = match_units(a, a[:, [2, 0, 3, 1]])
    >>> m.one_to_one_partner.tolist(), bool((m.one_to_one > 0.999).all())
    ([1, 3, 0, 2], True)
    """
    grid = (min(a.shape[-2], b.shape[-2]), min(a.shape[-1], b.shape[-1])) if a.ndim == 4 else None
    if grid is not None:
        a, b = resample(a, grid), resample(b, grid)
    corr = unit_correlations(a, b)
    sp, sv = semi_matching(corr)
    op, ov = one_to_one_matching(corr)
    ctrl = None
    if control is not None:
        if grid is not None:
            control = resample(control, grid)
        ctrl = semi_matching(unit_correlations(a, control))[1]
    return Matching(corr, sv, sp, ov, op, ctrl)


# --- model stitching ------------------------------------------------------------------------

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
                    stitch: nn.Module, images: Tensor, *, size: tuple[int, int] | None = None
                    ) -> Tensor:
    """B's output when its `layer_b` is replaced by stitch(A's `layer_a`) on the same images.

    B runs on the images too, and the edit hook swaps its activations at layer_b for
    the stitched ones, so that any network's top can be reused without rewriting it.
    size: the (H, W) of B's layer, if known (otherwise found with one extra image).

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
        if size is None:
            size = tuple(run_with_cache(model_b, images[:1], layer_b, stop=True)[1].only().shape[2:])
    mapped = stitch(resample(a, size))
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
    c_a, c_b, size = a.shape[1], b.shape[1], tuple(b.shape[2:])
    with torch.random.fork_rng(devices=[]):  # a seeded start that leaves the caller's RNG alone
        torch.manual_seed(seed)
        layer = nn.Conv2d(c_a, c_b, 1).to(model_device(model_b))
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    losses = []
    with eval_mode(model_a), eval_mode(model_b):
        for step in range(steps):
            images, labels = make_batch(batch_size, seed * 100_003 + step)
            logits = stitched_logits(model_a, layer_a, model_b, layer_b, layer, images, size=size)
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
                                       size=size)
            own = model_b(eval_images.to(model_device(model_b)))
    labels = eval_labels.to(stitched.device)
    return Stitch(layer.eval(), float((own.argmax(1) == labels).float().mean()),
                  float((stitched.argmax(1) == labels).float().mean()), losses)
