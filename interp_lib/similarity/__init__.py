"""Comparing representations: do different networks learn the same features? (claim 3)

    interp_lib/similarity/
        cka             similarity of whole layers by their Gram matrices (Kornblith et al.
                        2019): linear_cka, rbf_cka, debiased_cka; centre_gram,
                        cka_from_grams, linear_cka_gram, rbf_gram, unbiased_hsic
        cca             similarity of whole layers by canonical correlations:
                        canonical_correlations, mean_squared_cca, svcca (Raghu et al. 2017),
                        pwcca (Morcos et al. 2018); every layer against every layer:
                        layer_similarity, identified
        unit_matching   unit against unit (convergent learning, Li et al. 2015):
                        unit_correlations, resample, semi_matching, one_to_one_matching,
                        match_units, Matching
        stitching       can the top of network B work on the bottom of network A, through
                        a trained 1x1 convolution? (Bansal et al. 2021): train_stitch,
                        stitched_logits, Stitch
        _common         representations as matrices (n, p): centre_columns and the checks
                        every index shares

Every name is used from the package, `from interp_lib import similarity`:

    similarity.linear_cka(acts_a, acts_b)                 # a number in [0, 1]
    similarity.match_units(acts_a, acts_b, control=acts_random).one_to_one

All of them work on activations of the same images (`hooks.activations`).
Unit matching correlates every unit of one network with every unit of another
over images and positions, then pairs them, each with its best partner
(semi-matching) or one to one (maximum-weight bipartite matching), against a
randomly initialised control.

Shapes: a representation is X (n examples, p features); a conv layer's
activations (n, C, H, W) are flattened per example where a function needs X.
"""

from interp_lib.similarity._common import centre_columns
from interp_lib.similarity.cca import (DEFAULT_VARIANCE, canonical_correlations, identified,
                                       layer_similarity, mean_squared_cca, pwcca, svcca)
from interp_lib.similarity.cka import (centre_gram, cka_from_grams, debiased_cka, linear_cka,
                                       linear_cka_gram, rbf_cka, rbf_gram, unbiased_hsic)
from interp_lib.similarity.stitching import Stitch, stitched_logits, train_stitch
from interp_lib.similarity.unit_matching import (Matching, match_units, one_to_one_matching, resample,
                                                 semi_matching, unit_correlations)

__all__ = [
    "DEFAULT_VARIANCE", "Matching", "Stitch", "canonical_correlations", "centre_columns",
    "centre_gram", "cka_from_grams", "debiased_cka", "identified", "layer_similarity", "linear_cka",
    "linear_cka_gram", "match_units", "mean_squared_cca", "one_to_one_matching", "pwcca", "rbf_cka",
    "rbf_gram", "resample", "semi_matching", "stitched_logits", "svcca", "train_stitch",
    "unbiased_hsic", "unit_correlations",
]
