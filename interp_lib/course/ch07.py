"""Checks for chapter 7, probes and concept directions.

Each check builds data whose answer is known by construction: random labels that
no honest probe can predict from held-out rows (a probe that saw its test rows
memorises them), features that tell types apart and nothing else (a consistent
control task is then as easy as the real one), noise that is large along one
channel (the CAV, a classifier's normal, turns away from it; the difference of the
means does not). The random exercises are checked over many draws; features come
as they do in the wild (still requiring grad, with units that never fire, float64
from scikit-learn); TCAV also runs on a network laid out as torchvision's (dotted
names, in-place ReLUs, dropout, a linear layer). Cost is timed on the chapter's
sizes: TCAV on 60 images at conv5-s0's relu4, removal on a batch of relu4 and on
INLP's 2000 rows of features.
"""

from __future__ import annotations

import copy
import math

import torch

from interp_lib import hooks, probes
from interp_lib.course.checks import (call, check, expect_close, expect_detached, expect_fast,
                                      expect_gradient, expect_shape, fail)
from interp_lib.course.wild import attached, call_nested, torchvision_shaped_net
from interp_lib.organism.models import Architecture, ConvNet, init_weights, tiny_net

TITLE = "Probes and concepts"

DEAD_UNIT = ("channel {c} is 0 for every row, as a unit that never fires after a ReLU is, and "
             "dividing by its spread (0) gives NaN. Fit on the features as they are (logistic "
             "regression needs no scaling here), or divide only by spreads above 0.")


def _number(out, what: str) -> float:
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.item()
    if not isinstance(out, (int, float)) or isinstance(out, bool) or math.isnan(out):
        fail(f"{what} should return a number (a float), got {out!r}")
    return float(out)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _call_dead_unit(fn, *args, channel: int, what: str, **kwargs):
    """`call`, on features with a dead unit: NaN from dividing by its spread gets a plain message."""
    try:
        return call(fn, *args, what=what, **kwargs)
    except ValueError as e:
        if "nan" not in str(e).lower():
            raise
        fail(f"{what} raised ValueError ({_first_line(e)}): {DEAD_UNIT.format(c=channel)}")


def _noise_task(n: int, c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels with nothing in common: no probe can beat chance on held-out rows."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randint(2, (n,), generator=g)


@check("held_out_accuracy", points=2, twins=["interp_lib.probes.fit_probe", "interp_lib.probes.train_split"])
def check_held_out_accuracy(fn) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g)
    y = (x[:, 2] > 0).long()
    acc = _number(call(fn, x, y, test_fraction=0.3, seed=0, what="held_out_accuracy(features, labels)"),
                  "held_out_accuracy")
    if acc < 0.9:
        fail(f"the label is the sign of channel 2, which a linear probe reads perfectly, but your "
             f"accuracy is {acc:.2f}: fit on the training rows' features and labels, in the same "
             "order, and score on the held-out rows.")
    caller = torch.get_rng_state()  # the grader's own random state, restored below
    try:
        torch.manual_seed(123)  # a state no answer's own seeding reproduces by chance
        state = torch.get_rng_state()
        call(fn, x, y, test_fraction=0.3, seed=0, what="held_out_accuracy(features, labels)")
        kept = torch.equal(state, torch.get_rng_state())
    finally:
        torch.set_rng_state(caller)
    if not kept:
        fail("held_out_accuracy changed torch's global random state (torch.manual_seed, or a "
             "draw without a generator): the caller's next random numbers now depend on your "
             "function. Draw the split from a generator of your own, "
             "torch.randperm(n, generator=torch.Generator().manual_seed(seed)).")
    noise, labels = _noise_task(120, 100, seed=1)
    accs = [_number(fn(noise, labels, test_fraction=0.3, seed=s), "held_out_accuracy")
            for s in range(3)]
    if min(accs) > 0.8:
        fail(f"on labels that are pure noise your probe scores {min(accs):.2f} or more: no probe "
             "can predict coin flips it has not seen, so it saw the rows it was scored on (fitted "
             "on all the rows, or scored on the training rows). Fit on the training rows only "
             "and score on the held-out rows.")
    if max(accs) > 0.75:
        fail(f"on labels that are pure noise your probe scores up to {max(accs):.2f} on held-out "
             "rows; an honest split gives about 0.5. Keep the held-out rows out of the fit.")
    x = torch.randn(196, 3, generator=g)
    y = (x[:, 0] + torch.randn(196, generator=g) > 0).long()  # a noisy task: accuracy strictly inside (0, 1)
    results = [_number(fn(x, y, test_fraction=0.25, seed=s), "held_out_accuracy") for s in range(6)]
    if any(abs(a * 49 - round(a * 49)) > 1e-6 for a in results):
        fail("with 196 rows and test_fraction=0.25 the held-out set has 49 rows, so the accuracy is "
             "a multiple of 1/49; yours is not: hold out round(n * test_fraction) rows (not "
             "test_fraction of them for training).")
    if len(set(results)) == 1:
        fail("six different seeds gave exactly the same accuracy: the split should be random and "
             "depend on `seed` (torch.randperm with a generator seeded with it).")
    again = [_number(fn(x, y, test_fraction=0.25, seed=3), "held_out_accuracy") for _ in range(3)]
    if any(a != results[3] for a in again):
        fail("the same seed gave a different accuracy: draw the split from a generator seeded with "
             "`seed`, not from torch's global random state.")
    # In the wild: features read from a model can still require grad, and a ReLU layer has
    # units that never fire.
    wild = attached(torch.cat([x, torch.zeros(196, 1)], dim=1))
    _number(_call_dead_unit(fn, wild, y, channel=3, test_fraction=0.25, seed=0,
                            what="held_out_accuracy(features that require grad, one unit never firing)"),
            "held_out_accuracy")
    # Over many seeds every row is as likely to be held out as any other. With the labels
    # sorted and features that hold nothing, the probe answers the training rows' majority
    # label: a random split holds out both labels in near-equal numbers and scores about 0.45.
    blank, ordered = torch.zeros(200, 2), (torch.arange(200) >= 100).long()
    mean = sum(_number(fn(blank, ordered, test_fraction=0.25, seed=s), "held_out_accuracy")
               for s in range(20)) / 20
    if mean < 0.3:
        fail(f"with the labels sorted (100 rows of 0, then 100 of 1) and features that hold nothing, "
             f"your accuracy averages {mean:.2f} over 20 seeds, where a random split scores about "
             "0.45: your held-out rows are mostly of one label, a block of consecutive rows. Hold "
             "out a random subset of the rows (torch.randperm), whatever their order.")


@check("control_labels", points=2)
def check_control_labels(fn) -> None:
    g = torch.Generator().manual_seed(2)
    types = torch.randint(400, (4000,), generator=g)
    labels = (torch.rand(4000, generator=g) < 0.1).long()  # 90% zeros
    out = call(fn, types, labels, seed=0, what="control_labels(types, labels)")
    expect_shape(out, (4000,), "control_labels(types, labels) for 4000 rows")
    if out.dtype != labels.dtype:
        fail(f"control labels should have the labels' dtype ({labels.dtype}), got {out.dtype}.")
    for t in types.unique()[:50]:
        if len(out[types == t].unique()) != 1:
            fail(f"the rows of type {int(t)} got different control labels: a control task gives every "
                 "row of a type the same label (drawn once per type, not once per row).")
    per_type = torch.stack([out[types == t][0] for t in types.unique()]).float()
    if len(per_type.unique()) == 1:
        fail(f"all 400 types got the same control label ({int(per_type[0])}): each type needs a draw "
             "of its own. Create the generator once, before the loop over the types; seeding it "
             "again inside the loop repeats the same draw for every type.")
    if abs(float(per_type.mean()) - 0.1) > 0.06:
        fail(f"{float(1 - per_type.mean()):.0%} of the types got label 0, but 90% of the rows have it: "
             "draw each type's label from the labels' own distribution (a random row's label), "
             "not uniformly from the label values.")
    nested = torch.arange(600) // 3  # 200 types of 3 rows; each type's real label is fixed
    real = (nested % 2).long()
    same = float((fn(nested, real, seed=1) == real).float().mean())
    if same > 0.75:
        fail(f"the control labels agree with the real ones on {same:.0%} of the rows (chance: about "
             "50%): a control label is random, drawn from the whole set, not taken from the "
             "type's own rows.")
    if not torch.equal(fn(types, labels, seed=0), out):
        fail("the same seed gave different control labels: draw only from a generator seeded with "
             "`seed`.")
    if torch.equal(fn(types, labels, seed=5), out):
        fail("a different seed gave the same control labels: the draw should depend on `seed`.")
    odd = torch.tensor([1000, 1000, -3, -3, 7, 7])
    out = call(fn, odd, torch.tensor([0, 1, 0, 1, 0, 1]), seed=0, what="control_labels with type ids "
               "1000, -3 and 7")
    if not (out[0::2] == out[1::2]).all():
        fail("with type ids 1000, -3 and 7, rows of one type got different labels: any integers can "
             "name types; loop over types.unique() rather than indexing an array with them.")
    _expect_row_distribution(fn)
    negative = torch.tensor([-5, -5, -2, -2])
    call(fn, negative, torch.tensor([0, 1, 0, 1]), seed=0, what="control_labels with type ids -5 and -2")
    # Types -1 and 6 are different types: over many seeds their labels agree about half the time.
    wrap = torch.tensor([-1, -1, 6, 6, 0, 0, 3, 3])
    halves = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])  # half the rows, and half the types, 1
    agree = sum(int(fn(wrap, halves, seed=s)[0] == fn(wrap, halves, seed=s)[2]) for s in range(40))
    if agree >= 36:
        fail(f"types -1 and 6 got the same control label for {agree} of 40 seeds (independent draws "
             "agree about half the time): a table indexed by type id wraps -1 round to its last "
             "entry. Give each of types.unique() its own draw.")


def _expect_row_distribution(fn) -> None:
    """Over many draws a type's label follows the rows' distribution, whatever the types'
    sizes and however many classes there are."""
    g = torch.Generator().manual_seed(20)
    # 20 large types of 50 rows all labelled 0; 200 types of one row, labelled 1: 1 row in 6.
    types = torch.cat([torch.arange(20).repeat_interleave(50), torch.arange(20, 220)])
    labels = torch.cat([torch.zeros(1000), torch.ones(200)]).long()
    order = torch.randperm(1200, generator=g)
    types, labels = types[order], labels[order]
    ones = [float(torch.zeros(220).index_put_((types,), fn(types, labels, seed=s).float()).mean())
            for s in range(10)]
    share = sum(ones) / len(ones)
    if not 0.1 < share < 0.24:
        fail(f"over 10 seeds, {share:.0%} of the types got label 1, but only 1 row in 6 has it (20 "
             "types of 50 rows are labelled 0, 200 types of one row 1). A type's label is a random "
             "row's label (torch.randint(len(labels), ...)), so label 1 comes up for about 1 type "
             "in 6; not a random type's label, nor the types' own labels shuffled among them.")
    # Ten classes in unequal shares, 500 types of 4 rows (the chapter's 2000 drawings).
    p = torch.arange(1, 11).float() / 55
    labels = torch.multinomial(p, 2000, replacement=True, generator=g)
    types = torch.arange(500).repeat_interleave(4)
    drawn = torch.cat([fn(types, labels, seed=s)[::4] for s in range(4)])
    if not set(drawn.unique().tolist()) <= set(labels.unique().tolist()) or len(drawn.unique()) < 5:
        fail(f"with ten classes (0 to 9) your control labels take the values {drawn.unique().tolist()}: "
             "a type's label is a random row's label, so any class can come up, each as often as "
             "its rows do; a yes-or-no draw with the share of ones fits two classes only.")
    freq = torch.bincount(drawn, minlength=10).float() / len(drawn)
    rows = torch.bincount(labels, minlength=10).float() / len(labels)
    if float((freq - rows).abs().sum()) / 2 > 0.1:
        fail(f"over 4 seeds, the ten classes come up for your types in the proportions "
             f"{[round(v, 2) for v in freq.tolist()]}, far from the rows' own "
             f"{[round(v, 2) for v in rows.tolist()]}: draw a random row's label for each type.")


def _selectivity(fn, *args, what: str) -> float:
    try:
        return _number(call(fn, *args, seed=0, what=what), "selectivity")
    except ValueError as e:
        if "class" not in str(e):
            raise
        fail(f"{what}: a probe saw one class only ({_first_line(e)}). Over dozens of types, control "
             "labels drawn per type almost surely hold both labels: did you draw them per class "
             "(control_labels(labels, ...)) rather than per type (control_labels(types, labels))?")


@check("selectivity", points=1,
       twins=["interp_lib.probes.probe_layers", "interp_lib.probes.linear.ProbeTable.selectivity"])
def check_selectivity(fn) -> None:
    g = torch.Generator().manual_seed(3)
    n_types = 40
    types = torch.randint(n_types, (800,), generator=g)
    prototypes = torch.randn(n_types, 60, generator=g) * 3
    by_type = prototypes[types] + 0.3 * torch.randn(800, 60, generator=g)  # tells types apart
    labels = (types % 2).long()
    both = _selectivity(fn, by_type, labels, types, what="selectivity(features, labels, types)")
    if both > 0.2:
        fail(f"these features tell the 40 types apart and hold nothing else, so a consistent control "
             f"task over the types is as easy as the real one and selectivity is about 0; yours is "
             f"{both:.2f}. Are your control labels the same for every row of a type?")
    labels = torch.randint(2, (800,), generator=g)
    only = torch.cat([labels[:, None].float() * 3 + torch.randn(800, 1, generator=g),
                      torch.randn(800, 5, generator=g)], dim=1)  # the property, and noise
    # 400 types: a control task's labels then split near 50:50 whatever the draw, and
    # selectivity lies between 0.3 and 0.5 for every seed (with 40 types, 0.25 to 0.5).
    types = torch.randint(400, (800,), generator=g)
    sel = _selectivity(fn, attached(only), labels, types,
                       what="selectivity(features that require grad, labels, types)")
    if sel < -0.1:
        fail(f"selectivity is the real task's accuracy minus the control task's; yours is {sel:.2f}, "
             "the other way round.")
    if abs(sel) < 1e-9:
        fail("on features that hold the label and nothing about types your control task is exactly "
             "as easy as the real one: its labels follow the real labels, one control label per "
             "class, as control_labels(labels, types) gives with its arguments in the wrong order. "
             "The types come first: control_labels(types, labels, seed=seed).")
    if sel < 0.2:
        fail(f"these features hold the label and nothing about types, so the real task is easy "
             f"(about 0.93) and a control task over the types is at chance (about 0.5): selectivity "
             f"0.3 to 0.5. Yours is {sel:.2f}. Are the control labels random per type, drawn "
             "independently of the real label of the type's rows?")
    if sel > 0.6:
        fail(f"these features hold the label and nothing about types, so the control task should "
             f"sit at chance for its classes: selectivity 0.3 to 0.5. Yours is {sel:.2f}: your control "
             "task is far harder than the real one. Did the control probe predict the type ids "
             "themselves (400 classes) instead of control_labels(types, labels), which gives each "
             "type one of the real task's labels?")
    if any(_number(fn(only, labels, types, seed=0), "selectivity") != sel for _ in range(3)):
        fail("the same seed gave a different selectivity: draw the split and the control labels "
             "from generators seeded with `seed`, not from torch's global random state.")
    _expect_seed_passed_on(fn, only, labels, types)
    # More features than rows, as a wide layer gives: a probe fits its training rows whatever
    # their labels, so only held-out rows tell the real task from the control one.
    g = torch.Generator().manual_seed(9)
    wide_labels = torch.randint(2, (120,), generator=g)
    wide = torch.randn(120, 200, generator=g)
    wide[:, 0] += 3 * wide_labels.float()
    wide_sel = _selectivity(fn, wide, wide_labels, torch.randint(60, (120,), generator=g),
                            what="selectivity(features (120, 200), labels, types)")
    if abs(wide_sel) < 0.02:
        fail(f"with 200 features for 120 rows your selectivity is {wide_sel:.2f}: both probes "
             "scored 1.0, as a probe does on the rows it was fitted on. Score each probe on "
             "held-out rows (your held_out_accuracy), where the real task stays easy and the "
             "control task falls to chance.")


def _expect_seed_passed_on(fn, features, labels, types) -> None:
    """selectivity(..., seed=s) should draw its control labels with seed s: watch the
    control_labels the learner's code can call (their own, or the library's)."""
    seeds: list = []

    def watching(original):
        def control_labels(*args, **kwargs):
            seeds.append(kwargs.get("seed", args[2] if len(args) > 2 else None))
            return original(*args, **kwargs)
        return control_labels

    scope = getattr(fn, "__globals__", {})
    own = scope.get("control_labels")
    library = probes.control_labels
    try:
        if callable(own):
            scope["control_labels"] = watching(own)
        probes.control_labels = watching(library)
        call(fn, features, labels, types, seed=3, what="selectivity(..., seed=3)")
    finally:
        if callable(own):
            scope["control_labels"] = own
        probes.control_labels = library
    if seeds and 3 not in seeds:
        fail(f"selectivity(..., seed=3) drew its control labels with seed={seeds[0]}: pass the "
             "seed on, control_labels(types, labels, seed=seed), so that each seed gives a control "
             "task of its own.")


@check("concept_activation_vector", points=2, twins=["interp_lib.probes.fit_probe"])
def check_concept_activation_vector(fn) -> None:
    g = torch.Generator().manual_seed(4)
    random = torch.randn(300, 4, generator=g)
    concept = torch.randn(300, 4, generator=g) + torch.tensor([0.0, 0.0, 1.5, 0.0])
    v = call(fn, concept, random, what="concept_activation_vector(concept, random)")
    expect_shape(v, (4,), "the CAV for features with 4 channels")
    v = v.detach().float()
    if abs(float(v.norm()) - 1) > 1e-3:
        fail(f"a CAV is a direction: divide it by its norm (yours has length {float(v.norm()):.3g}).")
    if float(v[2]) < 0:
        fail("your CAV points away from the concept: the concept's rows are label 1, the random "
             "rows label 0, so the classifier's normal points towards the concept.")
    if int(v.abs().argmax()) != 2:
        fail("the concept differs from the random images along channel 2 only, but your CAV's "
             f"largest weight is on channel {int(v.abs().argmax())}.")
    # Correlated noise: the classifier's normal turns away from the difference of the means.
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    chol = torch.linalg.cholesky(cov)
    random = torch.randn(600, 2, generator=g) @ chol.T
    concept = torch.randn(600, 2, generator=g) @ chol.T + torch.tensor([1.0, 0.0])
    v = fn(concept, random).detach().float()
    means = concept.mean(0) - random.mean(0)
    if torch.cosine_similarity(v, means / means.norm(), dim=0) > 0.99 and \
            torch.cosine_similarity(v, _normal(concept, random), dim=0) < 0.95:
        fail("your CAV is the difference of the two means. Kim et al.'s CAV is the normal of a "
             "linear classifier, which weighs each direction by how well it separates the sets: "
             "here the noise is large along (1, 1), and the normal turns away from it.")
    # Channels on different scales: a CAV from standardised features must be mapped back.
    scales = torch.tensor([10.0, 1.0])
    random = torch.randn(400, 2, generator=g) * scales
    concept = torch.randn(400, 2, generator=g) * scales + 0.8 * scales
    v = fn(concept, random).detach().float()
    reference = _normal(concept, random)
    if torch.cosine_similarity(v, reference, dim=0) < 0.9:
        fail(f"on channels whose spreads are 10 and 1 your CAV is {[round(x, 2) for x in v.tolist()]}; "
             f"the classifier's normal in the layer's own units is about "
             f"{[round(x, 2) for x in reference.tolist()]}. If you standardise the features, divide "
             "each weight by its channel's scale.")
    _expect_wild_cav(fn, g)


def _expect_wild_cav(fn, g: torch.Generator) -> None:
    """The chapter's sets (100 concept images, 45 random, relu4's 48 channels) as features come
    in the wild: still requiring grad, with a unit that never fires."""
    random = torch.randn(45, 48, generator=g)
    concept = torch.randn(100, 48, generator=g) + 1.5 * torch.eye(48)[5]
    what = "concept_activation_vector(100 concept rows, 45 random rows, both requiring grad)"
    try:
        v = call(fn, attached(concept), attached(random), what=what)
    except ValueError as e:
        if "inconsistent" not in str(e):
            raise
        fail(f"with 100 concept rows and 45 random rows your code raised ValueError ({_first_line(e)}): "
             "give each set one label per row of its own: torch.cat([torch.ones(len(concept)), "
             "torch.zeros(len(random))]).")
    expect_detached(v, "the CAV", "A CAV is data, a direction to compare and plot: compute it from "
                    "detached features (concept.detach(), and any scale you divide by), or return "
                    "v.detach().")
    expect_shape(v, (48,), "the CAV for relu4's 48 channels")
    reference = probes.concept_activation_vector(concept, random)
    if float(torch.cosine_similarity(v.float(), reference, dim=0)) < 0.9:
        fail("with 100 concept rows and 45 random rows, your CAV is not the normal of the boundary "
             "between them (the concept differs along channel 5): fit on both sets, all their rows.")
    concept[:, 7], random[:, 7] = 0.0, 0.0  # a unit that never fires
    v = _call_dead_unit(fn, concept, random, channel=7, what="concept_activation_vector on features with "
                        "a unit that never fires")
    if not torch.isfinite(v).all():
        fail(f"your CAV has NaN or infinite weights: {DEAD_UNIT.format(c=7)}")
    if abs(float(v[7])) > 1e-3:
        fail(f"channel 7 is 0 for every image and separates nothing, but your CAV weighs it "
             f"{float(v[7]):.2g}.")


def _normal(concept: torch.Tensor, random: torch.Tensor) -> torch.Tensor:
    """The best linear boundary's normal for two Gaussian sets (Fisher's): cov^-1 (mean difference)."""
    cov = (torch.cov(concept.T) + torch.cov(random.T)) / 2
    w = torch.linalg.solve(cov, concept.mean(0) - random.mean(0))
    return w / w.norm()


def _check_net():
    net = tiny_net(seed=3).train()  # train mode: a check of whether the mode comes back
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    return net, images


def _derivatives(net, images, target: int, layer: str, cav: torch.Tensor, *, probability: bool = False,
                 centre: bool = False, shared: bool = False) -> torch.Tensor:
    """d logit[target] / d t for each image as the layer moves by t cav at every position, in
    eval mode: the reference. The usual mistakes: at the centre only, one t for the whole
    batch, the probability's derivative (the log-probability's has the same sign)."""
    t = torch.zeros(1 if shared else len(images), requires_grad=True)
    v = cav.detach().float()

    def nudge(a):
        step = t.view(-1, *[1] * (a.ndim - 1)) * v.view(1, -1, *[1] * (a.ndim - 2))
        if centre:
            mask = torch.zeros(a.shape[2:])
            mask[a.shape[2] // 2, a.shape[3] // 2] = 1.0
            step = step * mask
        return a + step

    with hooks.eval_mode(net), hooks.edit(net, layer, nudge):
        logits = net(images)
        scores = logits.softmax(1) if probability else logits
        (grad,) = torch.autograd.grad(scores[:, target].sum(), t)
    return grad


def _share(grad: torch.Tensor) -> float:
    return float((grad > 0).float().mean())


def _expect_scores(got: list[float], net, images, layer: str, cavs: list[torch.Tensor], where: str) -> None:
    """Compare TCAV scores for targets 0, 1, ... with the reference; where they differ, name the
    mistake when one of the usual ones gives the learner's numbers."""
    grads = [_derivatives(net, images, i, layer, c) for i, c in enumerate(cavs)]
    expected = [_share(d) for d in grads]

    def near(values, tol=None):
        tol = 1.5 / len(images) if tol is None else tol  # one image whose derivative is about 0
        return all(abs(a - b) <= tol for a, b in zip(got, values))

    if near(expected):
        return

    def shares(**kw):
        return lambda: [_share(_derivatives(net, images, i, layer, c, **kw)) for i, c in enumerate(cavs)]

    mistakes = [
        (lambda: [float((d < 0).float().mean()) for d in grads], "you counted the images whose logit "
         "falls along the CAV: the TCAV score is the share whose derivative is above 0."),
        (shares(shared=True), "one step t for the whole batch gives one derivative, of the summed "
         "logits, so your score is 0 or 1: give each image its own step, "
         "t = torch.zeros(N, requires_grad=True)."),
        (shares(probability=True), "you took the derivative of the class's probability or "
         "log-probability (after softmax or log_softmax), which moves with every other class's logit "
         "too: TCAV takes the logit's."),
    ]
    if hooks.layer_activations(net, images[:1], layer).ndim == 4:
        mistakes.append((shares(centre=True), "you moved the activations along the CAV at one position "
                         "only; TCAV moves the whole layer: add the same step at every position."))
    for values, message in mistakes:
        if near(values()):
            fail(message)
    if near([float(d.mean()) for d in grads], tol=1e-4):
        fail("your score is the mean directional derivative; the TCAV score is the share of images "
             "whose derivative is above 0, (grad > 0).float().mean().")
    fail(f"on {where}, your TCAV scores {[round(v, 2) for v in got]} differ from the share of images "
         f"whose logit rises along the CAV, {[round(v, 2) for v in expected]}: move the layer's "
         "activations by t * cav at every position, one t per image, and take the gradient of the "
         "target's logit with respect to t.")


def _conv5(seed: int) -> ConvNet:
    """conv5-s0's architecture (16, 24, 96 and 48 channels, 5 x 5 kernels), random weights."""
    net = ConvNet(Architecture((16, 24, 96, 48), 5, (1, 2, 3)))
    init_weights(net, seed)
    return net.eval()


def _half_dead_net() -> torch.nn.Module:
    """A net whose second ReLU is off everywhere for a blank image (its bias is -1 and it
    sees only zeros), so the logit's derivative at relu1 is exactly 0 for such images."""
    from collections import OrderedDict
    from torch import nn
    g = torch.Generator().manual_seed(11)
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 4, 3, padding=1), relu1=nn.ReLU(), conv2=nn.Conv2d(4, 4, 3, padding=1),
        relu2=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(4, 2)))
    with torch.no_grad():
        net.conv1.weight.copy_(torch.rand(net.conv1.weight.shape, generator=g) * 0.3)
        net.conv1.bias.zero_()
        net.conv2.weight.copy_(torch.rand(net.conv2.weight.shape, generator=g) * 0.3)
        net.conv2.bias.fill_(-1.0)
        net.fc.weight.copy_(torch.randn(net.fc.weight.shape, generator=g))
    return net.eval()


def _expect_zero_derivatives_not_counted(fn, g: torch.Generator) -> None:
    net = _half_dead_net()
    images = torch.cat([torch.rand(3, 3, 8, 8, generator=g), torch.zeros(3, 3, 8, 8)])
    what = "tcav_score on 6 images, 3 of them blank (their derivative is exactly 0)"
    for cav in (torch.randn(4, generator=g) for _ in range(3)):
        ref = _reference_tcav(net, images, 0, "relu1", cav)
        got = _number(call(fn, net, images, 0, "relu1", cav, what=what), "tcav_score")
        if abs(got - (ref + 0.5)) < 1e-6:
            fail(f"{what}: your score is {got}, the right one {ref}. You counted a derivative of "
                 "exactly 0 as a rise: the score is the share of images whose derivative is "
                 "greater than 0 (> 0, not >= 0).")
        if abs(got - ref) > 1e-6:
            fail(f"{what}: your score is {got}, expected {ref}.")


def _reference_tcav(model, images, target, layer, cav) -> float:
    return _share(probes.directional_derivatives(model, images, target, layer, cav))


@check("tcav_score", points=3, twins=["interp_lib.probes.directional_derivatives",
                                      "interp_lib.probes.class_gradients", "interp_lib.probes.tcav"])
def check_tcav_score(fn) -> None:
    net, images = _check_net()
    g = torch.Generator().manual_seed(6)
    cavs = [torch.randn(6, generator=g) for _ in range(4)]
    what = "tcav_score(model, images, target, layer, cav)"
    got = [_number(call(fn, net, images, i, "relu1", cav, what=what), "tcav_score")
           for i, cav in enumerate(cavs)]
    _expect_scores(got, net, images, "relu1", cavs, "a small organism's relu1")
    one = _number(call(fn, net, images[:1], 0, "relu1", cavs[0], what="tcav_score on one image"),
                  "tcav_score on one image")
    if one not in (0.0, 1.0):
        fail(f"with one image the score is 0 or 1, got {one}.")
    try:  # a CAV made with scikit-learn is float64
        got = _number(call(fn, net, images, 0, "relu1", cavs[0].double(), what="tcav_score with a float64 "
                           "CAV"), "tcav_score")
    except RuntimeError as e:
        if "double" not in str(e).lower() and "dtype" not in str(e).lower():
            raise
        fail(f"a CAV made with scikit-learn is float64 (double), and your code passed it on to a "
             f"layer that computes in float32 ({_first_line(e)}): convert it, cav.float() (or "
             "cav.to(a.dtype) inside the edit).")
    _expect_wild_tcav(fn, g)
    _expect_zero_derivatives_not_counted(fn, g)
    if torch.cuda.is_available():  # where a GPU is, the computation follows the model there
        gpu = copy.deepcopy(net).cuda()
        try:
            on_gpu = _number(call(fn, gpu, images.cuda(), 0, "relu1", cavs[0].cuda(),
                                  what="tcav_score on a model on the GPU"), "tcav_score")
        except RuntimeError as e:
            if "device" not in str(e):
                raise
            fail(f"on a model on the GPU your code mixes devices ({_first_line(e)}): make every "
                 "tensor you create on the model's device (torch.ones(..., device=x.device)).")
        on_cpu = _number(call(fn, net, images, 0, "relu1", cavs[0], what=what), "tcav_score")
        if abs(on_gpu - on_cpu) > 1e-6:
            fail(f"on a model on the GPU your score is {on_gpu}, on the CPU {on_cpu}: compute on "
                 "the model's device.")
    # Every vectorised way (a hook, the gradient at the captured activations, the library's
    # class gradients) is within 2x of the reference, and an image at a time about 3x: 20x
    # leaves room for machines and catches the batch run again for every image or position.
    g = torch.Generator().manual_seed(16)
    expect_fast(fn, _reference_tcav, _conv5(7), torch.rand(60, 3, 64, 64, generator=g), 2, "relu4",
                torch.randn(48, generator=g), what="tcav_score", ratio=20.0,
                on="the chapter's 60 images of a class at conv5-s0's relu4",
                cause="the batch run once per image (or per position)? One forward pass, with a step "
                      "of its own for each image (t of shape (N,)), and one torch.autograd.grad give "
                      "every image's derivative at once.")


def _expect_wild_tcav(fn, g: torch.Generator) -> None:
    """torchvision's layout: dotted names, in-place ReLUs, a linear layer, dropout; its scores
    lie strictly between 0 and 1, where a small organism's are often all 0 or all 1."""
    wild = torchvision_shaped_net(6)
    images = torch.rand(16, 3, 127, 127, generator=g)
    cavs = [torch.randn(16, generator=g) for _ in range(4)]
    what = "tcav_score(alexnet_like, images, target, 'features.7', cav)"
    got = [_number(call_nested(fn, wild, images, i, "features.7", c, what=what), "tcav_score")
           for i, c in enumerate(cavs)]
    _expect_scores(got, wild, images, "features.7", cavs,
                   "features.7 (an in-place ReLU inside a Sequential) of a network laid out as torchvision's")
    linear = [torch.randn(32, generator=g) for _ in range(2)]
    what = "tcav_score(alexnet_like, images, target, 'classifier.2', cav)"
    try:
        got = [_number(call_nested(fn, wild, images, i, "classifier.2", c, what=what), "tcav_score")
               for i, c in enumerate(linear)]
    except (RuntimeError, ValueError) as e:
        fail(f"on classifier.2, a linear layer whose activations are (N, C) with no positions, your "
             f"code raised {type(e).__name__} ({_first_line(e)}): shape the step to the layer, "
             "(N, 1) * (1, C) for (N, C) and (N, 1, 1, 1) * (1, C, 1, 1) for (N, C, H, W); "
             "t.view(-1, *[1] * (a.ndim - 1)) does both.")
    _expect_scores(got, wild, images, "classifier.2", linear, "classifier.2, a linear layer (N, C)")
    wild.train()  # dropout now drops random units on every pass, unless the function switches it off
    what = "tcav_score(alexnet_like in train mode, images, target, 'features.7', cav)"
    got = [_number(call_nested(fn, wild, images, i, "features.7", c, what=what), "tcav_score")
           for i, c in enumerate(cavs)]
    expected = [_share(_derivatives(wild, images, i, "features.7", c)) for i, c in enumerate(cavs)]
    if any(abs(a - b) > 1.5 / len(images) for a, b in zip(got, expected)):
        fail(f"handed over in train mode, the AlexNet-like network's dropout drops random units on "
             f"every pass, and your scores come out {[round(v, 2) for v in got]} instead of "
             f"{[round(v, 2) for v in expected]}: run the model in eval mode inside your function "
             "(with hooks.eval_mode(model): ...), which gives the mode back afterwards.")


@check("remove_directions", points=2, twins=["interp_lib.probes.orthonormal"])
def check_remove_directions(fn) -> None:
    g = torch.Generator().manual_seed(7)
    acts = torch.randn(3, 5, 4, 6, generator=g)
    d = torch.randn(5, generator=g) * 3  # one direction, not of length 1
    out = call(fn, acts, d, what="remove_directions(acts, direction)")
    expect_shape(out, (3, 5, 4, 6), "remove_directions on (3, 5, 4, 6) activations")
    ref = probes.remove_directions(acts, d)
    if torch.allclose(out, acts - ref, atol=1e-4):
        fail("you returned the part of the activations along the direction (their projection onto "
             "it); return what is left: the activations minus that part.")
    unit = d / d.norm()
    along = torch.einsum("nchw,c->nhw", out, unit)
    if along.abs().max() > 1e-4:
        fail("after the removal, the activations still have a component along the direction at "
             "some positions. Normalise the direction to length 1 before projecting, and remove "
             "it along the channel dimension (dim 1) at every position.")
    expect_close(out, ref, "remove only what lies along the direction; keep every component "
                 "orthogonal to it.", atol=1e-4)
    pair = torch.stack([torch.tensor([1.0, 0, 0, 0, 0]), torch.tensor([0.5, 0.866, 0, 0, 0])])
    out = call(fn, acts, pair, what="remove_directions with two directions at 60 degrees")
    residual = torch.einsum("nchw,kc->nkhw", out, pair).abs().max()
    if residual > 1e-4:
        fail("with two directions at 60 degrees to each other, something is left along one of them: "
             "removing them one after the other only works for orthogonal directions. Make an "
             "orthonormal basis of their span first (torch.linalg.qr).")
    triple = torch.cat([pair, pair.sum(0, keepdim=True)])  # the third adds no new direction
    out = call(fn, acts, triple, what="remove_directions with a direction that is the sum of two others")
    expect_close(out, probes.remove_directions(acts, pair), "the third direction is the sum of the "
                 "other two and adds nothing: remove the 2-D span only (drop the basis vectors "
                 "whose QR diagonal is about 0).", what="remove_directions(acts, three directions "
                 "spanning a plane)", atol=1e-4)
    flat = torch.randn(7, 5, generator=g)
    try:
        out = call(fn, flat, pair, what="remove_directions on (N, C) activations")
    except (RuntimeError, IndexError, ValueError) as e:
        fail(f"on (N, C) activations, a linear layer's (no positions), your code raised "
             f"{type(e).__name__} ({_first_line(e)}): write the projection for any number of "
             "dimensions after the channels (einsum's '...', as in 'nc...,kc->nk...').")
    expect_close(out, probes.remove_directions(flat, pair), "a linear layer's activations are (N, C), "
                 "with no positions: the same projection on dim 1.", what="remove_directions on (7, 5)",
                 atol=1e-4)
    expect_gradient(lambda a: fn(a, pair), acts, what="remove_directions (to the activations)")
    _expect_wild_directions(fn, acts, pair)
    # The chapter's sizes: a batch of relu4 in amnesic probing, INLP's 2000 rows of features.
    g = torch.Generator().manual_seed(17)
    twelve = torch.randn(12, 48, generator=g)
    expect_fast(fn, probes.remove_directions, torch.rand(256, 48, 8, 8, generator=g), twelve,
                what="remove_directions", on="a batch of conv5-s0's relu4 (256 x 48 x 8 x 8, 12 directions)",
                cause="a Python loop over the images or positions? One einsum over 'nc...' removes "
                      "the directions at every position of every image at once.")
    # 10x: every vectorised way (einsum, a C x C projection matrix, numpy) is within 3x; a loop
    # over the rows is 30 to 50x.
    expect_fast(fn, probes.remove_directions, torch.rand(2000, 48, generator=g), twelve, ratio=10.0,
                what="remove_directions", on="INLP's features (2000 x 48, 12 directions)",
                cause="a Python loop over the rows? A matrix product handles every row at once: "
                      "acts - (acts @ q.T) @ q, with q the orthonormal basis (K, C).")


def _expect_wild_directions(fn, acts: torch.Tensor, pair: torch.Tensor) -> None:
    """A probe's weights as they come: straight from its layer (requiring grad), float64 from
    scikit-learn, short when the probe is strongly regularised."""
    ref = probes.remove_directions(acts, pair)
    out = call(fn, acts, attached(pair), what="remove_directions(acts, a probe's weights that require grad)")
    expect_close(out, ref, "the same removal, for directions that require grad.",
                 what="remove_directions(acts, directions that require grad)", atol=1e-4)
    try:
        out = call(fn, acts, pair.double(), what="remove_directions(acts, float64 directions)")
    except RuntimeError as e:
        if "double" not in str(e).lower() and "dtype" not in str(e).lower():
            raise
        fail(f"directions from scikit-learn are float64 (double), the activations float32, and your "
             f"code mixed them ({_first_line(e)}): convert the directions, directions.to(acts.dtype).")
    if out.dtype != acts.dtype:
        fail(f"with float64 directions your result is {out.dtype}, but the activations are "
             f"{acts.dtype}: the next layer expects their dtype. Convert the directions, "
             "directions.to(acts.dtype).")
    out = call(fn, acts, pair * 1e-8, what="remove_directions(acts, directions of length 1e-8)")
    if not torch.allclose(out, ref, atol=1e-4):
        removed = "nothing" if torch.allclose(out, acts, atol=1e-6) else "something else"
        fail(f"directions of length 1e-8 (a strongly regularised probe's weights are short) span "
             f"the same plane as longer ones, but your code removed {removed}: a direction's length "
             "does not matter. Compare R's diagonal with a tolerance relative to the directions' "
             "norms, or normalise them first.")


@check("unit_cosines", points=1)
def check_unit_cosines(fn) -> None:
    d = torch.tensor([0.0, 3.0, -4.0])
    out = call(fn, d, what="unit_cosines(direction)")
    expect_shape(out, (3,), "unit_cosines of a direction with 3 channels")
    if torch.allclose(out, torch.tensor([0.0, 0.6, 0.8]), atol=1e-5):
        fail("you dropped the sign: a unit the direction points away from has a negative cosine.")
    if torch.allclose(out, d / 25, atol=1e-5):
        fail("you divided by the squared norm; the cosine divides by the norm.")
    if torch.allclose(out, d / 7, atol=1e-5):
        fail("you divided by the sum of the absolute values (the L1 norm, 7 here); the cosine "
             "divides by the length, the L2 norm (5 here).")
    if torch.allclose(out, d / 4, atol=1e-5):
        fail("you divided by the largest entry; the cosine divides by the length, the norm (5 here).")
    expect_close(out, torch.tensor([0.0, 0.6, -0.8]), "w_c / ||w||: (0, 3, -4) has length 5.")
    rows = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 0.0]])
    out = call(fn, rows, what="unit_cosines of two directions (2, 3)")
    expect_shape(out, (2, 3), "unit_cosines of two directions of 3 channels")
    if torch.allclose(out, rows / rows.norm(dim=0, keepdim=True), equal_nan=True):
        fail("you divided each column by its norm (dim 0): each row of (K, C) is a direction, "
             "divided by its own norm (dim=-1).")
    if torch.allclose(out, rows / rows.norm(), atol=1e-5):
        fail("you divided the whole (K, C) table by one norm: each row is a direction, divided by "
             "its own norm (dim=-1, keepdim=True).")
    expect_close(out, torch.tensor([[0.7071068, 0.7071068, 0.0], [0.0, 1.0, 0.0]]),
                 "each row is its own direction: divide each by its own norm.", atol=1e-5)
    # In the wild: a probe's weights straight from its layer require grad; a strongly
    # regularised probe's are short.
    weights = torch.randn(3, 96, generator=torch.Generator().manual_seed(9))
    out = call(fn, attached(weights), what="unit_cosines(a probe's weights that require grad)")
    expect_close(out, weights / weights.norm(dim=1, keepdim=True), "each row divided by its norm.",
                 what="unit_cosines(weights (3, 96) that require grad)", atol=1e-5)
    out = call(fn, d * 1e-10, what="unit_cosines(a direction of length 5e-10)")
    if not torch.allclose(out, torch.tensor([0.0, 0.6, -0.8]), atol=1e-5):
        fail(f"a short direction (length 5e-10, as a strongly regularised probe's weights can be) "
             f"has the same cosines as a long one, (0, 0.6, -0.8); yours are "
             f"{[round(v, 3) for v in out.tolist()]}: divide by the norm itself, without adding a "
             "small number to it.")
    for zero, where in ((torch.zeros(3), "a direction of length 0"),
                        (torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]),
                         "directions (2, 3) whose second row has length 0")):
        try:
            result = fn(zero)
        except ValueError:
            continue
        except Exception as e:  # any other error is the wrong kind
            fail(f"{where} should raise ValueError in plain words; it raised "
                 f"{type(e).__name__}: {e}")
        fail(f"{where} has no cosine with anything, but you returned {result}: raise a "
             "ValueError that says so (whenever any row has length 0, not only when all do).")
