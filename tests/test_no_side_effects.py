"""No public function changes a caller's model or tensors, and each computes on the
model's device.

Every function that takes a model is called on a model in *training* mode with a
hook of the caller's own already attached; afterwards the model must be exactly
as it was: same weights, dtypes, devices, requires_grad flags, no .grad, same
mode for every module, the same hooks, and torch.nn.functional.relu restored.
The same calls run on CUDA where a GPU is available (skipped otherwise).
"""

import pytest
import torch
import torch.nn.functional as F

from interp_lib import attribution, circuits, dataset_examples, hooks, tuning
from interp_lib.optvis import objectives as obj
from interp_lib.optvis import render
from interp_lib.organism import train
from interp_lib.organism.models import tiny_net


def fingerprint(model):
    return {
        "state": {k: (v.detach().clone(), v.device, v.dtype) for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [p.grad for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                  for m in model.modules()],
        "relu": F.relu,
    }


def assert_same(before, after):
    assert before["state"].keys() == after["state"].keys()
    for k, (v, dev, dt) in before["state"].items():
        v2, dev2, dt2 = after["state"][k]
        assert dev == dev2 and dt == dt2 and torch.equal(v, v2), k
    for key in ("requires_grad", "modes", "hooks"):
        assert before[key] == after[key], key
    assert all(g is None for g in after["grad"]), "a parameter's .grad was set"
    assert after["relu"] is before["relu"], "torch.nn.functional.relu was left patched"


def images(n, size=16, device="cpu"):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(n)).to(device)


CALLS = {
    "capture": lambda m, x: hooks.run_with_cache(m, x, ["relu1", m.relu2]),
    "edit": lambda m, x: _edit(m, x),
    "channel_scores": lambda m, x: dataset_examples.channel_scores(m, x, "relu2", batch_size=3),
    "unit_scores": lambda m, x: dataset_examples.unit_scores(m, x, "relu2", 1, x=2),
    "top_examples": lambda m, x: dataset_examples.top_examples(m, x, "relu2", 1, k=2),
    "receptive_field": lambda m, x: hooks.receptive_field(m, "relu2", size=16),
    "curve_tuning": lambda m, x: tuning.curve_tuning(m, "relu2", n_orientations=4, size=32),
    "line_tuning": lambda m, x: tuning.line_tuning(m, "relu1", n_angles=4, size=32),
    "render": lambda m, x: render.render(m, obj.channel("relu2", 0), size=16, steps=3,
                                         progress=False),
    "render_channels": lambda m, x: render.render_channels(m, "relu2", [0, 1], size=16, steps=2,
                                                           progress=False),
    "evaluate": lambda m, x: render.evaluate(m, obj.channel("relu2", 0), x),
    "saliency": lambda m, x: attribution.saliency(m, x, 1),
    "integrated_gradients": lambda m, x: attribution.integrated_gradients(m, x, 1, n_steps=4),
    "smoothgrad": lambda m, x: attribution.smoothgrad(m, x, 1, n_samples=2),
    "occlusion": lambda m, x: attribution.occlusion(m, x, 1, window=8, stride=8),
    "grad_cam": lambda m, x: attribution.grad_cam(m, x, 1, "relu2"),
    "channel_attribution": lambda m, x: attribution.channel_attribution(m, x, 1, "relu2"),
    "cascading_randomization": lambda m, x: attribution.cascading_randomization(
        m, x, 1, {"s": attribution.saliency}),
    "activations": lambda m, x: hooks.activations(m, x, ["relu1", "relu2"], batch_size=2),
    "weights": lambda m, x: circuits.weights(m, "conv2", 1, 2),
    "expanded_weights": lambda m, x: circuits.expanded_weights(m, "relu1", "conv2"),
    "expanded_weights_by_gradient": lambda m, x: circuits.expanded_weights_by_gradient(
        m, "relu1", "conv2"),
    "effective_weights": lambda m, x: circuits.effective_weights(
        m, x, "relu1", "conv2", to_channel=0, from_channel=1),
    "image_expanded_weights": lambda m, x: circuits.image_expanded_weights(m, "conv2", 0),
    "tangent_alignment": lambda m, x: circuits.tangent_alignment(
        m, "relu2", [0, 1], *_tunings(), oriented=torch.ones(6, dtype=torch.bool), stride=2,
        n_shuffles=5),
    "hand_built_family": lambda m, x: circuits.hand_built_family(
        m, "relu2", [0, 1], *_tunings(), oriented=torch.ones(6, dtype=torch.bool), stride=2,
        images=x),
    "composite_reading": lambda m, x: circuits.composite_reading(
        m, "relu2", [0, 1, 2], images=x, labels=torch.tensor([0, 1, 0, 1, 1]), class_index=0),
    "accuracy": lambda m, x: train.accuracy(m, n=4),
}


def _tunings():
    """(CurveTuning of tiny_net's relu2, LineTuning of pool1), written by hand."""
    lines = tuning.LineTuning("pool1", torch.arange(6) * 30.0, torch.eye(6).view(6, 1, 6, 1, 1))
    curves = tuning.CurveTuning("relu2", torch.arange(8) * 45.0, torch.tensor([6.0]),
                                torch.eye(8).view(8, 1, 1, 8), lines, (8.0, 8.0))
    return curves, lines


def _edit(m, x):
    with hooks.edit(m, "relu1", lambda a: a * 0.5):
        return m(x.to(hooks.model_device(m)))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_public_functions_leave_the_model_and_inputs_as_they_were(name):
    model = tiny_net().train()
    mine = model.conv1.register_forward_hook(lambda *a: None)  # the caller's own hook stays
    x = images(5, size=64 if name == "accuracy" else 16)
    x_before = x.clone()
    before = fingerprint(model)
    with torch.no_grad() if name in ("capture", "edit") else torch.enable_grad():
        CALLS[name](model, x)
    assert_same(before, fingerprint(model))
    assert torch.equal(x, x_before), "the input tensor was changed"
    mine.remove()


def test_a_render_that_fails_leaves_relu_and_hooks_restored():
    model = tiny_net()
    before = fingerprint(model)
    with pytest.raises(ValueError):
        render.render(model, obj.channel("relu2", 99), size=16, steps=3, progress=False)
    assert_same(before, fingerprint(model))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(CALLS))
def test_public_functions_compute_on_the_models_device(name):
    model = tiny_net().cuda()
    x = images(5, size=64 if name == "accuracy" else 16, device="cpu")
    before = fingerprint(model)
    with torch.enable_grad():
        CALLS[name](model, x)  # CPU inputs are moved to the model's device
    assert_same(before, fingerprint(model))
    assert next(model.parameters()).is_cuda
