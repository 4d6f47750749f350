"""CCA and its variants: the similarity of two layers, compared through the subspaces they span.

Canonical correlation analysis finds the directions of X and of Y that
correlate best; its correlations are 1 whenever one representation is an
invertible linear map of the other. `svcca` (Raghu et al. 2017) first keeps
each layer's top singular directions so that CCA does not match noise;
`pwcca` (Morcos et al. 2018) weights each correlation by how much of X it
accounts for. `layer_similarity` compares every layer of one network with
every layer of another by any index (linear CKA by default, or SVCCA, each
layer's Gram matrix or SVD computed once), and `identified` reads the table.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from interp_lib.similarity._common import _as_matrix, _same_examples, centre_columns


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
