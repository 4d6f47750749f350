import pytest
import torch
from torch import nn

from interp_lib import hooks, zoo
from interp_lib.organism.models import Architecture, ConvNet


@pytest.fixture
def net():
    torch.manual_seed(0)
    return ConvNet(Architecture((4, 8), 3, (1,))).eval()


def test_layer_names_are_readable(net):
    assert hooks.layer_names(net) == ["conv1", "relu1", "pool1", "conv2", "relu2", "gap", "fc"]


def test_capture_records_the_layer_outputs(net):
    x = torch.rand(2, 3, 16, 16)
    with hooks.capture(net, ["conv1", "relu1", "fc"]) as acts:
        out = net(x)
    assert torch.equal(acts["relu1"], torch.relu(acts["conv1"]))
    assert torch.equal(acts["conv1"], net.conv1(x))
    assert torch.equal(acts["fc"], out)
    assert not acts["conv1"].requires_grad


def test_capture_can_keep_gradients(net):
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    _, acts = hooks.run_with_cache(net, x, "relu2", detach=False)
    acts["relu2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_hooks_removed_after_capture_and_after_an_error(net):
    def n_hooks():
        return sum(len(m._forward_hooks) for m in net.modules())

    with hooks.capture(net, ["relu1", "relu2"]):
        assert n_hooks() == 2
    assert n_hooks() == 0
    with pytest.raises(ValueError):
        with hooks.capture(net, ["relu1", "relu2"]):
            net(torch.rand(3, 16, 16))  # wrong shape: the forward pass raises
    assert n_hooks() == 0


def test_unknown_layer_lists_close_matches_and_valid_names(net):
    with pytest.raises(hooks.UnknownLayerError) as err:
        with hooks.capture(net, "rleu1"):
            pass
    msg = str(err.value)
    assert "'relu1'" in msg and "Valid layer names" in msg and "conv2" in msg
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0


def test_reading_a_layer_that_did_not_run_or_was_not_captured(net):
    with hooks.capture(net, "relu1") as acts:
        with pytest.raises(KeyError, match="has not run yet"):
            acts["relu1"]
        net(torch.rand(1, 3, 8, 8))
        with pytest.raises(KeyError, match="not captured"):
            acts["relu2"]


def test_aliases_resolve_for_googlenet():
    model = zoo.load("googlenet", pretrained=False)
    assert hooks.resolve(model, "mixed3b") == "inception3b"
    x = torch.rand(1, 3, 96, 96)
    with hooks.capture(model, ["mixed3b", "inception3b"]) as acts:
        model(x)
    assert torch.equal(acts["mixed3b"], acts["inception3b"])
    assert acts["mixed3b"].shape[1] == 480  # InceptionV1's mixed3b has 480 channels
    with pytest.raises(hooks.UnknownLayerError, match="mixed3b"):
        hooks.resolve(model, "mixed3x")


def test_non_string_layer_is_explained(net):
    with pytest.raises(TypeError, match="string"):
        hooks.get_layer(net, 3)


def test_hooks_leave_other_hooks_alone():
    m = nn.Sequential(nn.Linear(2, 2))
    seen = []
    h = m[0].register_forward_hook(lambda *a: seen.append(1))
    with hooks.capture(m, "0"):
        m(torch.rand(1, 2))
    m(torch.rand(1, 2))
    assert len(seen) == 2
    h.remove()


def test_channel_scores_agree_with_unit_scores_across_batches(net):
    from interp_lib.dataset_examples import channel_scores, unit_scores
    x = torch.rand(7, 3, 16, 16)
    scores = channel_scores(net, x, "relu2", batch_size=3)  # batches of 3, 3 and 1
    assert scores.shape == (7, 8)
    for c in (0, 5):
        assert torch.allclose(scores[:, c], unit_scores(net, x, "relu2", c))


def _count_calls(module):
    calls = []
    return calls, module.register_forward_hook(lambda *a: calls.append(1))


def test_activations_match_one_pass_and_stop_at_the_deepest_layer(net):
    x = torch.rand(7, 3, 16, 16)
    calls, handle = _count_calls(net.fc)
    try:
        acts = hooks.activations(net, x, ["relu1", "relu2"], batch_size=3)  # batches of 3, 3, 1
    finally:
        handle.remove()
    _, whole = hooks.run_with_cache(net, x, ["relu1", "relu2"])
    assert torch.allclose(acts["relu1"], whole["relu1"], atol=1e-6)
    assert torch.allclose(acts["relu2"], whole["relu2"], atol=1e-6)
    # The first batch runs the whole network (to see that each layer runs once); the
    # later ones stop at relu2, so the classifier ran once, not three times.
    assert len(calls) == 1


def test_activations_reduce_each_batch_and_restore_the_mode(net):
    net.train()
    x = torch.rand(5, 3, 16, 16)
    means = hooks.layer_activations(net, x, "relu2", batch_size=2, reduce=lambda a: a.mean(dim=(2, 3)))
    assert means.shape == (5, 8)
    assert torch.allclose(means, hooks.run_with_cache(net, x, "relu2")[1]["relu2"].mean(dim=(2, 3)))
    assert net.training and all(m.training for m in net.modules())


def test_activations_do_not_stop_early_when_a_layer_runs_twice():
    class Twice(nn.Module):  # one module applied twice: its last output is the one to keep
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(3, 3)

        def forward(self, x):
            return self.layer(torch.relu(self.layer(x)))

    m = Twice()
    x = torch.rand(4, 3)
    acts = hooks.layer_activations(m, x, "layer", batch_size=2)
    assert torch.allclose(acts, m(x))


def test_activations_refuse_bad_input_in_plain_words(net):
    with pytest.raises(ValueError, match="empty"):
        hooks.activations(net, torch.rand(0, 3, 16, 16), "relu1")
    with pytest.raises(ValueError, match="batch_size"):
        hooks.activations(net, torch.rand(2, 3, 16, 16), "relu1", batch_size=0)
    with pytest.raises(TypeError, match="tensor"):
        hooks.activations(net, [torch.rand(3, 16, 16)], "relu1")


def test_run_with_cache_stop_skips_the_rest_of_the_network(net):
    calls, handle = _count_calls(net.fc)
    try:
        out, acts = hooks.run_with_cache(net, torch.rand(1, 3, 16, 16), "relu1", stop=True)
    finally:
        handle.remove()
    assert out is None and calls == [] and acts["relu1"].shape == (1, 4, 16, 16)
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0


def test_edit_and_ablate_take_several_layers(net):
    x = torch.rand(2, 3, 16, 16)
    with hooks.ablate(net, ["relu1", "relu2"], [0, 2]):
        _, acts = hooks.run_with_cache(net, x, ["relu1", "relu2"])
    assert acts["relu1"][:, [0, 2]].abs().max() == 0 and acts["relu2"][:, [0, 2]].abs().max() == 0
    assert acts["relu2"][:, 1].abs().max() > 0
    with pytest.raises(ValueError, match="one value per channel"):
        with hooks.ablate(net, "relu1", [0, 1], value=torch.zeros(3)):
            pass
