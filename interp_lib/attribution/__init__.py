"""Attribution: which parts of an input (or which hidden units) made the network decide.

    interp_lib/attribution/
        gradient_methods  the input's gradient and what is built on it: gradients, saliency,
                          input_x_gradient, quadrature, integrated_gradients, smoothgrad
        perturbation      changing the input and watching the score: occlusion
        layer_methods     attribution to a hidden layer: grad_cam, channel_attribution
        sanity_check      do the maps depend on the model? average_ranks, spearman,
                          cascading_randomization
        _common           what every method shares: select_target, the checks of inputs and
                          targets, the model in eval mode, baselines

Every name is used from the package, `from interp_lib import attribution`:

    attribution.saliency(model, images, 3)                        # (N, C, H, W)
    attribution.grad_cam(model, images, 3, "relu3")               # (N, 1, H, W)

Every method has the same signature, in the manner of Captum:

    attributions = method(model, inputs, target, ...)

inputs: (N, ...) a batch: images (N, C, H, W), vectors (N, F), or one number
per example (N,). A 3-D tensor is refused: it is usually one image without its
batch dimension. Grad-CAM, channel attribution and occlusion's square windows
need images (N, C, H, W). target: the output to explain: a class index, a
tensor (N,) of indices, or None for a model whose output is one number per
example. Input methods return attributions shaped like the inputs; layer
methods (grad_cam, channel_attribution) return maps shaped like the layer.

SmoothGrad averages any of the methods, options passed through:
`smoothgrad(model, x, t, attribution=integrated_gradients, method="riemann_left")`.
Options come after the three main arguments, by keyword. A layer is a name
or, as in Captum, the module itself.

Every method computes on the model's device, returns attributions on the
inputs' device, and runs the model in eval mode (a model in training mode is
switched for the call, with a warning, and restored): dropout would make
attributions random and BatchNorm would update its running statistics.
"""

from interp_lib.attribution._common import Method, Target, select_target
from interp_lib.attribution.gradient_methods import (NOISE_TUNNEL_FORMS, gradients, input_x_gradient,
                                                     integrated_gradients, quadrature, saliency,
                                                     smoothgrad)
from interp_lib.attribution.layer_methods import channel_attribution, grad_cam
from interp_lib.attribution.perturbation import occlusion
from interp_lib.attribution.sanity_check import (RandomizationResult, average_ranks,
                                                 cascading_randomization, spearman)

__all__ = [
    "Method", "NOISE_TUNNEL_FORMS", "RandomizationResult", "Target", "average_ranks",
    "cascading_randomization", "channel_attribution", "grad_cam", "gradients", "input_x_gradient",
    "integrated_gradients", "occlusion", "quadrature", "saliency", "select_target", "smoothgrad",
    "spearman",
]
