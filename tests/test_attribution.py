import functools

import pytest
import torch
from torch import nn

from interp_lib import attribution
from interp_lib import zoo
from interp_lib.organism import data


class F1(nn.Module):
    """Captum's reference: f(x1, x2) = ReLU(ReLU(x1) - 1 - ReLU(x2))."""

    def forward(self, x):
        return torch.relu(torch.relu(x[:, 0]) - 1 - torch.relu(x[:, 1]))


class G1(nn.Module):
    """The same function written differently: g = ReLU(ReLU(x1 - 1) - ReLU(x2))."""

    def forward(self, x):
        return torch.relu(torch.relu(x[:, 0] - 1) - torch.relu(x[:, 1]))


@pytest.mark.parametrize("model", [F1(), G1()])
def test_integrated_gradients_reference_case_and_implementation_invariance(model):
    x = torch.tensor([[3.0, 1.0]])
    attr, delta = attribution.integrated_gradients(model, x, None, n_steps=500,
                                         return_convergence_delta=True)
    assert torch.allclose(attr, torch.tensor([[1.5, -0.5]]), atol=1e-2)
    assert abs(delta.item()) < 1e-2


def occlusion_net():
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3))
        net[0].bias.zero_()
        net[1].weight.fill_(1.0)
        net[1].bias.copy_(torch.tensor([-10.0, 1, 1, 1]))
        net[3].weight.fill_(1.0)
        net[3].bias.copy_(torch.tensor([-1.0, 1]))
    return net


@pytest.mark.parametrize("window,stride,baseline,expected", [
    (1, 1, 0.0, [80.0, 200.0, 120.0]),
    (2, 1, 10.0, [200.0, 220.0, 240.0]),
    (2, 2, 0.0, [280.0, 280.0, 120.0]),
])
def test_occlusion_reference_cases(window, stride, baseline, expected):
    x = torch.tensor([[20.0, 50.0, 30.0]])
    attr = attribution.occlusion(occlusion_net(), x, 0, window=window, stride=stride, baseline=baseline)
    assert torch.allclose(attr, torch.tensor([expected]))


def test_quadrature_weights_and_agreement_as_steps_grow():
    for method in ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                   "riemann_trapezoid"):
        alphas, weights = attribution.quadrature(10, method)
        assert torch.isclose(weights.sum(), torch.tensor(1.0, dtype=weights.dtype))
        assert alphas.min() >= 0 and alphas.max() <= 1
    model = zoo.load("conv5-s0")
    x = data.make_batch(2, seed=5).images
    ref = attribution.integrated_gradients(model, x, 1, n_steps=128)
    errs = {}
    for method in ("riemann_left", "riemann_trapezoid"):
        errs[method] = [(attribution.integrated_gradients(model, x, 1, n_steps=n, method=method) - ref)
                        .abs().sum().item() for n in (4, 16, 64)]
        assert errs[method][2] < errs[method][0], (method, errs[method])


@pytest.mark.parametrize("name", ["conv5-s0", "conv3-s0"])
def test_integrated_gradients_completeness_on_the_zoo(name):
    model = zoo.load(name)
    batch = data.make_batch(4, seed=6)
    attr, delta = attribution.integrated_gradients(model, batch.images, batch.labels, n_steps=64,
                                         internal_batch_size=64, return_convergence_delta=True)
    assert attr.shape == batch.images.shape
    with torch.no_grad():
        out = model(batch.images).gather(1, batch.labels[:, None])[:, 0]
        base = model(torch.zeros_like(batch.images))[:, batch.labels].diagonal()
    gap = (out - base).abs()
    assert (delta.abs() < 0.05 * gap).all(), (delta, gap)


def test_internal_batching_gives_the_same_answer():
    model = zoo.load("conv3-s0")
    x = data.make_batch(3, seed=7).images
    t = torch.tensor([0, 3, 5])
    a = attribution.integrated_gradients(model, x, t, n_steps=8)
    b = attribution.integrated_gradients(model, x, t, n_steps=8, internal_batch_size=5)
    assert torch.allclose(a, b, atol=1e-5)


def test_saliency_and_input_x_gradient_on_a_linear_model():
    lin = nn.Linear(4, 2)
    x = torch.randn(3, 4)
    assert torch.allclose(attribution.saliency(lin, x, 1, absolute=False), lin.weight[1].expand(3, 4))
    assert torch.allclose(attribution.saliency(lin, x, 1), lin.weight[1].abs().expand(3, 4))
    assert torch.allclose(attribution.input_x_gradient(lin, x, 0), x * lin.weight[0])


def test_smoothgrad_averages_noisy_copies_and_is_seeded():
    lin = nn.Linear(4, 2)
    x = torch.randn(3, 4)
    # The gradient of a linear model does not depend on the input: noise changes nothing.
    assert torch.allclose(attribution.smoothgrad(lin, x, 1, attribution=attribution.saliency,
                                                 absolute=False),
                          lin.weight[1].expand(3, 4), atol=1e-6)
    model = zoo.load("conv5-s0")
    imgs = data.make_batch(2, seed=8).images
    a = attribution.smoothgrad(model, imgs, 0, n_samples=4, seed=1)
    b = attribution.smoothgrad(model, imgs, 0, n_samples=4, seed=1)
    c = attribution.smoothgrad(model, imgs, 0, n_samples=4, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == imgs.shape
    sg_ig = attribution.smoothgrad(model, imgs, 0, attribution=attribution.integrated_gradients,
                                   n_samples=2, n_steps=4)
    assert sg_ig.shape == imgs.shape


def test_grad_cam_matches_its_definition():
    model = zoo.load("conv5-s0")
    x = data.make_batch(2, seed=9).images
    cam = attribution.grad_cam(model, x, 2, "relu4")
    assert cam.shape == (2, 1, 64, 64) and (cam >= 0).all()
    small = attribution.grad_cam(model, x, 2, "relu4", relu=False, upsample=False)
    from interp_lib.hooks import run_with_cache
    out, acts = run_with_cache(model, x, "relu4", detach=False)
    g, = torch.autograd.grad(out[:, 2].sum(), acts["relu4"])
    manual = (g.mean(dim=(2, 3), keepdim=True) * acts["relu4"]).sum(1, keepdim=True)
    assert torch.allclose(small, manual, atol=1e-5)


def test_channel_attribution_adds_up_to_the_logit_at_the_last_layer():
    # After relu4 the organism is linear (average pool, then fc), so gradient x
    # activation summed over channels is exactly the logit minus the bias.
    model = zoo.load("conv5-s0")
    x = data.make_batch(3, seed=10).images
    contrib = attribution.channel_attribution(model, x, 4, "relu4")
    assert contrib.shape == (3, model.conv4.out_channels)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(contrib.sum(1), logits[:, 4] - model.fc.bias[4], atol=1e-4)
    diff = attribution.channel_attribution(model, x, 4, "relu4", versus=1)
    assert torch.allclose(diff.sum(1), (logits[:, 4] - model.fc.bias[4])
                          - (logits[:, 1] - model.fc.bias[1]), atol=1e-4)


def test_cascading_randomization_separates_methods_that_depend_on_the_model():
    model = zoo.load("conv5-s0")
    x = data.make_batch(4, seed=11).images
    methods = {
        "gradient": lambda m, x, t: attribution.saliency(m, x, t),
        "edge detector (ignores the model)": lambda m, x, t: x[:, :, 1:, :] - x[:, :, :-1, :],
    }
    res = attribution.cascading_randomization(model, x, 3, methods)
    assert res.layers == ["fc", "conv4", "conv3", "conv2", "conv1"]
    assert res.correlation["gradient"][-1] < 0.5
    assert all(c > 0.999 for c in res.correlation["edge detector (ignores the model)"])
    # The original model is untouched.
    assert torch.equal(model.conv1.weight, zoo.load("conv5-s0").conv1.weight)


def test_spearman():
    a = torch.tensor([1.0, 2, 3, 4])
    assert attribution.spearman(a, a * 10) == pytest.approx(1.0)
    assert attribution.spearman(a, -a) == pytest.approx(-1.0)


def test_spearman_gives_ties_their_average_rank_as_scipy_does():
    from scipy import stats
    g = torch.Generator().manual_seed(0)
    # Grad-CAM-like maps: many exact zeros (clamped), a few distinct values.
    a = torch.randn(2, 8, 8, generator=g).clamp_min(0)
    b = (a + 0.3 * torch.randn(2, 8, 8, generator=g)).clamp_min(0)
    expected = stats.spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic
    assert attribution.spearman(a, b) == pytest.approx(expected, abs=1e-9)
    # Arbitrary tie-breaking would make a map full of ties disagree with itself shuffled.
    flat = torch.zeros(100)
    flat[:5] = 1.0
    assert attribution.spearman(flat, flat.flip(0).flip(0)) == pytest.approx(1.0)
    assert attribution.average_ranks(torch.tensor([2.0, 2.0, 2.0])).tolist() == [1.0, 1.0, 1.0]


def test_trapezoid_weights_sum_to_one_unlike_a_naive_grid_with_halved_ends():
    for n in (2, 5, 50):
        _, w = attribution.quadrature(n, "riemann_trapezoid")
        assert float(w.sum()) == pytest.approx(1.0)
        naive = torch.full((n,), 1.0 / n)
        naive[0] = naive[-1] = 0.5 / n
        assert float(naive.sum()) == pytest.approx((n - 1) / n)


def test_occlusion_accepts_tensor_baselines_and_batches_windows():
    model = zoo.load("conv5-s0")
    x = data.make_batch(2, seed=12).images
    one_by_one = attribution.occlusion(model, x, 1, window=16, stride=8, baseline=0.3,
                                       windows_per_batch=1)
    batched = attribution.occlusion(model, x, 1, window=16, stride=8, baseline=0.3,
                                    windows_per_batch=7)
    assert torch.allclose(one_by_one, batched, atol=1e-5)
    as_tensor = attribution.occlusion(model, x, 1, window=16, stride=8,
                                      baseline=torch.full((1, 3, 1, 1), 0.3))
    assert torch.allclose(as_tensor, batched, atol=1e-5)
    mean_colour = x.mean(dim=(2, 3), keepdim=True)  # a per-image baseline (N, C, 1, 1)
    per_image = attribution.occlusion(model, x, 1, window=16, stride=8, baseline=mean_colour)
    manual = x.clone()
    manual[:, :, :16, :16] = mean_colour.expand(-1, -1, 16, 16)
    with torch.no_grad():
        drop = model(x)[:, 1] - model(manual)[:, 1]
    # Pixels (0..7, 0..7) are covered by the first window only.
    assert torch.allclose(per_image[:, 0, 0, 0], drop, atol=1e-5)


def test_occlusion_refuses_a_stride_larger_than_the_window():
    x = torch.rand(1, 3, 12, 12)
    with pytest.raises(ValueError, match="stride .* is larger than the window"):
        attribution.occlusion(zoo.load("conv5-s0"), x, 0, window=2, stride=4)


def test_integrated_gradients_broadcasts_a_single_baseline():
    model = zoo.load("conv5-s0")
    x = data.make_batch(3, seed=13).images
    base = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    a = attribution.integrated_gradients(model, x, 2, baselines=base, n_steps=8)
    b = attribution.integrated_gradients(model, x, 2, baselines=base.expand(3, -1, -1, -1), n_steps=8)
    c = attribution.integrated_gradients(model, x, 2, baselines=base[0], n_steps=8)
    assert torch.allclose(a, b) and torch.allclose(a, c)


def test_silent_mistakes_get_clear_errors():
    lin = nn.Linear(3, 4)
    x = torch.rand(2, 3)
    with pytest.raises(TypeError, match="integer class index"):
        attribution.saliency(lin, x, 2.5)
    with pytest.raises(TypeError, match="integer class indices"):
        attribution.integrated_gradients(lin, x, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="internal_batch_size must be at least 1"):
        attribution.integrated_gradients(lin, x, 1, internal_batch_size=0)
    images = (torch.rand(1, 3, 8, 8) * 255).to(torch.uint8)
    with pytest.raises(TypeError, match="floating point.*255"):
        attribution.integrated_gradients(zoo.load("conv5-s0"), images, 0)


def test_a_model_in_training_mode_is_warned_about_evaluated_in_eval_mode_and_restored():
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    with torch.no_grad():
        model(torch.randn(16, 3))  # give BatchNorm some running statistics
    model.train()
    stats_before = model[1].running_mean.clone()
    x = torch.randn(4, 3)
    with pytest.warns(UserWarning, match="training mode"):
        a = attribution.saliency(model, x, 1)
    assert model.training and model[2].training  # restored
    assert torch.equal(model[1].running_mean, stats_before)  # BatchNorm did not update
    model.eval()
    assert torch.equal(a, attribution.saliency(model, x, 1))  # the eval-mode answer


def test_layers_can_be_given_as_modules_as_in_captum():
    model = zoo.load("conv5-s0")
    x = data.make_batch(2, seed=14).images
    assert torch.equal(attribution.grad_cam(model, x, 1, model.relu3),
                       attribution.grad_cam(model, x, 1, "relu3"))
    assert torch.equal(attribution.channel_attribution(model, x, 1, model.relu2),
                       attribution.channel_attribution(model, x, 1, "relu2"))
    r = attribution.cascading_randomization(model, x, 1, {"s": attribution.saliency},
                                            layers=[model.fc, "conv4"])
    assert r.layers == ["fc", "conv4"]


def test_channel_attribution_per_position_sums_to_the_per_channel_total():
    model = zoo.load("conv5-s0")
    x = data.make_batch(2, seed=15).images
    maps = attribution.channel_attribution(model, x, 3, "relu3", per_position=True)
    total = attribution.channel_attribution(model, x, 3, "relu3")
    assert maps.shape == (2, model.conv3.out_channels, 16, 16)
    assert torch.allclose(maps.sum(dim=(2, 3)), total, atol=1e-5)


def test_smoothgrad_forms():
    lin = nn.Linear(4, 2)
    x = torch.randn(3, 4)
    w = lin.weight[1].detach().expand(3, 4)
    kw = dict(attribution=attribution.saliency, absolute=False, n_samples=5)
    assert torch.allclose(attribution.smoothgrad(lin, x, 1, form="smoothgrad_sq", **kw), w**2)
    assert torch.allclose(attribution.smoothgrad(lin, x, 1, form="vargrad", **kw),
                          torch.zeros(3, 4), atol=1e-6)
    model = zoo.load("conv5-s0")
    imgs = data.make_batch(1, seed=16).images
    var = attribution.smoothgrad(model, imgs, 0, form="vargrad", n_samples=4, absolute=False)
    assert (var >= -1e-7).all() and var.max() > 0  # a ReLU net's gradient does vary with noise
    with pytest.raises(ValueError, match="unknown form"):
        attribution.smoothgrad(lin, x, 1, form="smoothgrad_cubed")


def test_bad_input_is_explained():
    model = zoo.load("conv5-s0")
    x = data.make_batch(2, seed=0).images
    with pytest.raises(ValueError, match="target 10 is out of range: the model has 10 outputs"):
        attribution.saliency(model, x, 10)
    with pytest.raises(ValueError, match="choose one with target="):
        attribution.saliency(model, x, None)
    with pytest.raises(ValueError, match="do not broadcast against the inputs"):
        attribution.integrated_gradients(model, x, 0, baselines=torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="n_steps must be at least 1"):
        attribution.integrated_gradients(model, x, 0, n_steps=0)
    with pytest.raises(ValueError, match="unknown method"):
        attribution.integrated_gradients(model, x, 0, method="simpson")
    with pytest.raises(ValueError, match="must fit inside"):
        attribution.occlusion(model, x, 0, window=100)
    with pytest.raises(ValueError, match="convolutional layer"):
        attribution.grad_cam(model, x, 0, "fc")


# --- cases from Captum's own tests ------------------------------------------------------

def captum_one_conv_net():
    """Captum's BasicModel_ConvNet_One_Conv, as a Sequential: conv (1 -> 2 channels, 3x3,
    weights 1, biases -50 and -75), ReLU, flatten, linear (8 -> 4: +1 on the first five
    inputs, -1 on the last three), ReLU. Layer "0" is the conv."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4), nn.ReLU())
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.copy_(torch.tensor([-50.0, -75.0]))
        net[3].weight.copy_(torch.cat([torch.ones(4, 5), -torch.ones(4, 3)], dim=1))
        net[3].bias.zero_()
    return net.eval()


def test_layer_methods_work_on_a_model_whose_parameters_are_frozen():
    # Captum's test_grad_cam.py, test_simple_input_conv_no_grad: some code freezes every
    # parameter before interpreting a model; Grad-CAM must still find the layer's gradient.
    x = torch.arange(16.0).view(1, 1, 4, 4)
    live = captum_one_conv_net()
    frozen = captum_one_conv_net()
    for p in frozen.parameters():
        p.requires_grad = False
    cam = attribution.grad_cam(frozen, x, 0, "0", relu=False, upsample=False)
    assert torch.allclose(cam, torch.tensor([[[[11.25, 13.5], [20.25, 22.5]]]]))  # Captum's values
    assert torch.equal(cam, attribution.grad_cam(live, x, 0, "0", relu=False, upsample=False))
    assert torch.equal(attribution.channel_attribution(frozen, x, 0, "0"),
                       attribution.channel_attribution(live, x, 0, "0"))
    assert not any(p.requires_grad for p in frozen.parameters())  # the caller's flags stay
    assert all(p.requires_grad for p in live.parameters())
    assert all(p.grad is None for p in [*frozen.parameters(), *live.parameters()])


class CaptumBasicModel(nn.Module):
    """Captum's BasicModel: f(x) = 1 - ReLU(1 - x), one number in, one number out: inputs (N,)."""

    def forward(self, x):
        return 1 - torch.relu(1 - x)


@pytest.mark.parametrize("method", ["riemann_right", "riemann_left", "riemann_middle",
                                    "riemann_trapezoid", "gausslegendre"])
def test_integrated_gradients_on_inputs_of_one_number_per_example(method):
    # Captum's test_integrated_gradients_basic.py, _assert_univariable: BasicModel at 1, 0 and
    # -1 against a zero baseline, with every quadrature rule; here the three as one batch (N,).
    x = torch.tensor([1.0, 0.0, -1.0])
    attr, delta = attribution.integrated_gradients(CaptumBasicModel(), x, None, method=method,
                                                   n_steps=1500, return_convergence_delta=True)
    assert attr.shape == (3,) and delta.shape == (3,)
    assert torch.allclose(attr, torch.tensor([1.0, 0.0, -1.0]), atol=0.05)  # f(x) - f(0)
    assert delta.abs().max() < 0.05


@pytest.mark.parametrize("method", ["riemann_left", "riemann_trapezoid", "gausslegendre"])
def test_integrated_gradients_quadrature_rule_passes_through_smoothgrad(method):
    # Captum's _assert_univariable again, through NoiseTunnel(ig).attribute(..., method=method):
    # SmoothGrad's own option names the attribution function, so IG's `method` reaches IG.
    x = torch.tensor([1.0, 0.0, -1.0])
    sg = attribution.smoothgrad(CaptumBasicModel(), x, None, attribution=attribution.integrated_gradients,
                                method=method, n_steps=200, stdev=0.002, n_samples=20)
    assert torch.allclose(sg, torch.tensor([1.0, 0.0, -1.0]), atol=0.05)
    model = zoo.load("conv3-s0")
    imgs = data.make_batch(1, seed=17).images
    through = attribution.smoothgrad(model, imgs, 2, attribution=attribution.integrated_gradients,
                                     method=method, n_steps=4, n_samples=2, seed=3)
    by_hand = attribution.smoothgrad(model, imgs, 2, n_samples=2, seed=3, attribution=functools.partial(
        attribution.integrated_gradients, method=method, n_steps=4))
    assert torch.equal(through, by_hand)
    other = "riemann_right" if method != "riemann_right" else "riemann_left"
    assert not torch.allclose(through, attribution.smoothgrad(
        model, imgs, 2, attribution=attribution.integrated_gradients, method=other, n_steps=4,
        n_samples=2, seed=3))  # the rule really is used
    with pytest.raises(TypeError, match="attribution="):  # the old spelling is explained
        attribution.smoothgrad(model, imgs, 2, method=attribution.integrated_gradients)


def plain_conv_net():
    """A conv net with no input check of its own (unlike the zoo's organisms)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2)).eval()


@pytest.mark.parametrize("method", [
    attribution.saliency,
    attribution.input_x_gradient,
    functools.partial(attribution.integrated_gradients, n_steps=4),
    functools.partial(attribution.smoothgrad, n_samples=2),
    functools.partial(attribution.occlusion, window=4, stride=4),
    functools.partial(attribution.grad_cam, layer="1"),
    functools.partial(attribution.channel_attribution, layer="1"),
], ids=["saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "occlusion",
        "grad_cam", "channel_attribution"])
def test_one_image_without_its_batch_dimension_is_refused_in_plain_words(method):
    net = plain_conv_net()
    image = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match=r"one image \(C, H, W\)\? add a batch dimension with "
                                         r"x\.unsqueeze\(0\)"):
        method(net, image, 1)
    assert method(net, image.unsqueeze(0), 1).shape[0] == 1  # the batch of one works


def test_methods_that_need_images_say_so_and_gradient_methods_stay_generic():
    mlp = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.rand(3, 5)
    for method in (attribution.grad_cam, attribution.channel_attribution):
        with pytest.raises(ValueError, match=r"needs images \(N, C, H, W\)"):
            method(mlp, x, 1, "1")
    assert attribution.saliency(mlp, x, 1).shape == (3, 5)
    assert attribution.integrated_gradients(mlp, x, 1, n_steps=4).shape == (3, 5)
    assert attribution.occlusion(mlp, x, 1, window=1, stride=1).shape == (3, 5)
