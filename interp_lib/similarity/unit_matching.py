"""Unit matching: does a unit of one network have a counterpart in another? (convergent learning)

Li et al. (2015) correlate every unit of one network with every unit of
another over the same images and positions (`unit_correlations`, grids made
equal with `resample`), then pair them: each with its best partner
(`semi_matching`) or one to one (`one_to_one_matching`, maximum-weight
bipartite matching). `match_units` does both, and against a control, a
randomly initialised network, the baseline any match must beat. It stands
apart from CKA and CCA because it compares single units, not whole layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


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


def resample(a: Tensor, map_size: tuple[int, int]) -> Tensor:
    """Maps (N, C, H, W) resampled to (N, C, *map_size), positions kept at the same place in
    the image (area averaging to shrink, bilinear to enlarge).

    >>> a = torch.zeros(1, 1, 8, 8)
    >>> a[..., :4, :4] = 1.0  # the top-left quarter is on
    >>> resample(a, (2, 2))[0, 0]  # still the top-left quarter, on a coarser grid
    tensor([[1., 0.],
            [0., 0.]])
    """
    if tuple(a.shape[2:]) == tuple(map_size):
        return a
    if a.shape[2] >= map_size[0] and a.shape[3] >= map_size[1]:
        return nn.functional.adaptive_avg_pool2d(a, map_size)
    return nn.functional.interpolate(a, size=map_size, mode="bilinear", align_corners=False)


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
