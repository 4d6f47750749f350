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
