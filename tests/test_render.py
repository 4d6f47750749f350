import warnings

import pytest
import torch

from interp_lib.optvis import objectives as obj
from interp_lib.optvis import param, render
from interp_lib.hooks import UnknownLayerError
from interp_lib.organism.models import Architecture, ConvNet, init_weights


@pytest.fixture(scope="module")
def net():
    m = ConvNet(Architecture((8, 16), 3, (1,)))
    init_weights(m, 0)
    return m.eval()


def n_hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_a_few_steps_increase_the_objective(net):
    r = render.render(net, obj.channel("relu2", 3), size=24, steps=30, progress=False)
    assert r.images.shape == (1, 3, 24, 24)
    assert r.history[-1] > r.history[0] * 1.5
    assert n_hooks(net) == 0


def test_same_seed_same_render_other_seed_other_render(net):
    kw = dict(size=16, steps=5, progress=False)
    a = render.render(net, obj.channel("relu2", 1), seed=4, **kw).images
    b = render.render(net, obj.channel("relu2", 1), seed=4, **kw).images
    c = render.render(net, obj.channel("relu2", 1), seed=5, **kw).images
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_snapshots_and_weights_untouched(net):
    before = [p.clone() for p in net.parameters()]
    r = render.render(net, obj.neuron("conv1", 0), size=16, steps=6, snapshots=[2, 6], progress=False)
    assert sorted(r.snapshots) == [2, 6] and r.snapshots[6].shape == (1, 3, 16, 16)
    assert torch.equal(r.snapshots[6], r.images)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())


def test_batched_channels_each_excite_their_own_channel(net):
    chans = [0, 5, 9]
    r = render.render_channels(net, "relu2", chans, size=24, steps=40, progress=False)
    from interp_lib.hooks import run_with_cache
    _, acts = run_with_cache(net, r.images, "relu2")
    means = acts["relu2"][:, chans].mean(dim=(2, 3))  # (image, channel)
    assert (means.argmax(dim=0) == torch.arange(3)).all()


def test_hooks_removed_on_error_and_on_ctrl_c(net):
    with pytest.raises(ValueError, match="channel 99 is out of range"):
        render.render(net, obj.channel("relu2", 99), size=16, steps=3, progress=False)
    assert n_hooks(net) == 0

    def interrupt(step, param):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render.render(net, obj.channel("relu2", 0), size=16, steps=3, progress=False, callback=interrupt)
    assert n_hooks(net) == 0


def test_bad_input_is_explained(net):
    with pytest.raises(UnknownLayerError, match="relu2"):
        render.render(net, obj.channel("relu_2", 0), steps=1, progress=False)
    with pytest.raises(ValueError, match="at least 1 image"):
        render.render(net, obj.channel("relu2", 0), batch_size=0, steps=1, progress=False)
    with pytest.raises(ValueError, match="channels is empty"):
        render.render_channels(net, "relu2", [], steps=1, progress=False)
    with pytest.raises(TypeError, match="Objective"):
        render.render(net, "relu2", steps=1, progress=False)
    constant = obj.Objective(lambda a: torch.ones((), requires_grad=True), [], "constant")
    with pytest.raises(ValueError, match="does not depend on the image"):
        render.render(net, constant, size=16, steps=2, progress=False)
    blow_up = obj.Objective(lambda a: a[obj.INPUT].sum() * float("inf"), [obj.INPUT], "inf")
    with pytest.raises(FloatingPointError, match="diverged"):
        render.render(net, blow_up, size=16, steps=2, progress=False)


def test_a_silent_unit_warns_about_zero_gradient():
    m = ConvNet(Architecture((4,), 3, ()))
    with torch.no_grad():
        m.conv1.bias.fill_(-100.0)  # channel never fires for images in [0, 1]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        render.render(m, obj.channel("relu1", 0), size=16, steps=20, progress=False)
    assert any(issubclass(x.category, render.ZeroGradientWarning) for x in w)


def test_render_on_imagenet_model_with_random_weights():
    from interp_lib import zoo
    model = zoo.load("googlenet", pretrained=False)
    r = render.render(model, obj.channel("mixed3b", 10), size=64, steps=2, progress=False)
    assert r.images.shape == (1, 3, 64, 64)
    assert n_hooks(model) == 0


def test_redirected_relu_wakes_a_unit_that_is_silent_for_the_starting_image():
    m = ConvNet(Architecture((2,), 3, ()))
    with torch.no_grad():
        m.conv1.weight.fill_(0.1)
        m.conv1.bias.fill_(-1.5)  # grey (0.5) gives -0.15: silent; white gives +1.2
    m.relu1.inplace = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", render.ZeroGradientWarning)
        stuck = render.render(m, obj.channel("relu1", 0), size=16, steps=40, redirect_relu_steps=0,
                         progress=False)
    woken = render.render(m, obj.channel("relu1", 0), size=16, steps=40, progress=False)
    assert stuck.history[-1] == 0.0
    assert woken.history[-1] > 0.1
    assert m.relu1.inplace is True and n_hooks(m) == 0  # the model is left as it was


def test_transforms_argument_is_checked(net):
    with pytest.raises(ValueError, match="transforms must be 'default', 'standard', None or a transform"):
        render.render(net, obj.channel("relu2", 0), size=16, steps=1, transforms="jitter", progress=False)


def test_an_optimizer_factory_replaces_adam(net):
    made = []

    def sgd(params):
        made.append(len(params))
        return torch.optim.SGD(params, lr=5.0)

    r = render.render(net, obj.channel("relu2", 3), size=16, steps=10, optimizer=sgd,
                      transforms=None, progress=False)
    assert made == [1] and r.history[-1] > r.history[0]
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        render.render(net, obj.channel("relu2", 3), size=16, steps=1, progress=False,
                      optimizer=lambda params: "adam")


def test_plain_callable_transforms_work_beside_seeded_ones(net):
    import torchvision.transforms.v2 as tv
    seen = []

    def flip(x):  # a learner's one-argument transform
        seen.append(x.shape)
        return x.flip(-1)

    r = render.render(net, obj.channel("relu2", 1), size=16, steps=3, transforms=flip, progress=False)
    assert len(seen) == 3 and r.images.shape == (1, 3, 16, 16)
    r = render.render(net, obj.channel("relu2", 1), size=16, steps=3, progress=False,
                      transforms=tv.RandomAffine(degrees=10))  # a torchvision transform module
    assert r.images.shape == (1, 3, 16, 16)
    with pytest.raises(TypeError, match=r"t\(images\) or t\(images, generator\)"):
        render.render(net, obj.channel("relu2", 1), size=16, steps=1, progress=False,
                      transforms=lambda x, g, extra: x)
    with pytest.raises(ValueError, match="a transform must map images"):
        render.render(net, obj.channel("relu2", 1), size=16, steps=1, progress=False,
                      transforms=lambda x: x.mean(dim=1))


def test_any_module_returning_images_is_a_parameterization(net):
    class Blob(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logit = torch.nn.Parameter(torch.zeros(2, 3, 16, 16))

        def forward(self):
            return torch.sigmoid(self.logit)

    r = render.render(net, obj.channel("relu2", 2), param=Blob(), steps=5, progress=False)
    assert r.images.shape == (2, 3, 16, 16)

    class OutOfRange(Blob):
        def forward(self):
            return self.logit * 4 - 1

    with pytest.raises(ValueError, match=r"images in \[0, 1\]"):
        render.render(net, obj.channel("relu2", 2), param=OutOfRange(), steps=1, progress=False)
    with pytest.raises(TypeError, match="must be an nn.Module"):
        render.render(net, obj.channel("relu2", 2), param=lambda: torch.rand(1, 3, 8, 8), steps=1,
                      progress=False)


@pytest.mark.parametrize("make,lr", [
    (lambda: param.CPPNImage(1, 24, 24, generator=torch.Generator().manual_seed(0)), 0.005),
    (lambda: param.LowResImage(1, 24, 24, factor=4), 0.05),
])
def test_cppn_and_low_resolution_parameterizations_render(net, make, lr):
    r = render.render(net, obj.channel("relu2", 3), param=make(), steps=40, lr=lr,
                      transforms=None, progress=False)
    assert r.images.shape == (1, 3, 24, 24) and r.history[-1] > r.history[0]


def test_the_redirected_relu_reaches_googlenets_functional_relus():
    from interp_lib import zoo
    model = zoo.load("googlenet", pretrained=False)
    with render.redirected_relus() as counter:
        model(torch.rand(1, 3, 64, 64))
    assert counter.calls > 50  # every BasicConv2d calls F.relu
    assert torch.nn.functional.relu is render.F.relu and render.F.relu.__name__ == "relu"


def test_a_model_the_redirect_cannot_reach_is_named():
    class ClampNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return self.conv(x).clamp(min=0)

    with pytest.warns(render.ZeroGradientWarning, match="cannot reach it"):
        render.render(ClampNet(), obj.channel("conv", 0), size=16, steps=2, progress=False)


def test_render_leaves_a_training_model_in_training_mode(net):
    net.train()
    try:
        render.render(net, obj.channel("relu2", 3), size=16, steps=2, progress=False)
        assert net.training
    finally:
        net.eval()


def _count(module):
    calls = []
    return calls, module.register_forward_hook(lambda *a: calls.append(1))


def test_a_render_stops_each_pass_at_the_deepest_layer_it_reads(net):
    calls, handle = _count(net.fc)
    try:
        inner = render.render(net, obj.channel("relu1", 0), size=16, steps=6, progress=False)
        n_inner = len(calls)
        render.render(net, obj.class_logit(0), size=16, steps=6, progress=False)
    finally:
        handle.remove()
    assert n_inner == 1  # only the first pass, which checks that the layer runs once
    assert len(calls) - n_inner == 6  # a class logit needs the whole network at every step
    # Stopping early changes nothing but the cost: the same render as a full pass gives
    # (an objective that also reads the output, times 0, keeps every pass complete).
    full = render.render(net, obj.channel("relu1", 0) + 0 * obj.class_logit(0), size=16, steps=6,
                         progress=False)
    assert torch.allclose(inner.images, full.images, atol=1e-6)
    assert inner.history == pytest.approx(full.history, abs=1e-5)


def test_a_layer_that_runs_twice_is_never_cut_short():
    class Twice(torch.nn.Module):  # one conv applied twice: the objective reads its last output
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.relu(self.conv(x))).mean(dim=(2, 3))

    model = Twice()
    calls, handle = _count(model.conv)
    try:
        render.render(model, obj.channel("conv", 0), size=8, steps=4, progress=False,
                      redirect_relu_steps=0)
    finally:
        handle.remove()
    assert len(calls) == 8
