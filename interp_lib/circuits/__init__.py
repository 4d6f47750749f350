"""Circuits: reading the weights between features (Zoom In, claim 2).

    interp_lib/circuits/
        kernels     the weights between adjacent layers: conv_of, input_layer, weights,
                    split_sign, family_weights, replace_weights; banding, rotate,
                    rotation_match
        expanded    expanded weights through the layers in between: expanded_weights,
                    expanded_weights_by_gradient, linearised, effective_weights,
                    image_expanded_weights, path_contributions
        curves      curve circuits: kernel_offsets, tangent_angles, tangent_rule,
                    tangent_alignment, orientation_weight_correlation,
                    hand_built_family, composite_reading

Every name is used from the package, `from interp_lib import circuits`:

    w = circuits.weights(model, "conv3", to_channel=5, from_channel=7)   # (5, 5)
    circuits.expanded_weights(model, "relu1", "conv3")                   # (C3, C1, K, K)

Layers are named as everywhere in the course; the weights into `reluK` are
those of `convK`, so either name works. Between two layers the earlier is
`from_layer`, the later `to_layer`; between two units, `from_channel` and
`to_channel`. Angles are in degrees. Editing what a layer outputs (`ablate`,
`patch_channel`) is `interp_lib.hooks`'s; figures of a reading are
`interp_lib.plotting`'s.
"""

from interp_lib.circuits.curves import (CompositeReading, HandBuilt, TangentAlignment,
                                        composite_reading, hand_built_family, kernel_offsets,
                                        orientation_weight_correlation, tangent_alignment,
                                        tangent_angles, tangent_rule)
from interp_lib.circuits.expanded import (effective_weights, expanded_weights,
                                          expanded_weights_by_gradient, image_expanded_weights,
                                          linearised, path_contributions)
from interp_lib.circuits.kernels import (banding, conv_of, family_weights, input_layer,
                                         replace_weights, rotate, rotation_match, split_sign,
                                         weights)

__all__ = [
    "CompositeReading", "HandBuilt", "TangentAlignment", "banding", "composite_reading", "conv_of",
    "effective_weights", "expanded_weights", "expanded_weights_by_gradient", "family_weights",
    "hand_built_family", "image_expanded_weights", "input_layer", "kernel_offsets", "linearised",
    "orientation_weight_correlation", "path_contributions", "replace_weights", "rotate",
    "rotation_match", "split_sign", "tangent_alignment", "tangent_angles", "tangent_rule", "weights",
]
