import contextlib

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from interp_lib import hooks, probes


# --- held_out_accuracy ------------------------------------------------------------------------

def _accuracy(leak=False, on_train=False, fixed=False, swapped=False, global_rng=False, shuffles=False):
    def held_out_accuracy(features, labels, *, test_fraction=0.3, seed=0):
        n = len(labels)
        if fixed:
            order = torch.arange(n).flip(0)  # the last rows, always
        elif global_rng:
            order = torch.randperm(n)
        else:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        if shuffles:
            features[:] = features[order]  # "shuffles the data" in the caller's tensor
        n_test = round(n * (1 - test_fraction if swapped else test_fraction))
        test, train = order[:n_test].numpy(), order[n_test:].numpy()
        x, y = features.detach().numpy(), labels.numpy()
        fit_rows = slice(None) if leak else train
        probe = LogisticRegression(max_iter=2000).fit(x[fit_rows], y[fit_rows])
        rows = train if on_train else test
        return float(probe.score(x[rows], y[rows]))
    return held_out_accuracy


# --- control_labels ---------------------------------------------------------------------------

def _control(per_row=False, uniform=False, own=False, global_rng=False, table=False, floats=False,
             writes=False):
    def control_labels(types, labels, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        if per_row:
            return labels[torch.randint(len(labels), (len(labels),), generator=g)]
        if table:  # a table indexed by the type id, sized by the number of types
            values = labels[torch.randint(len(labels), (len(types.unique()),), generator=g)]
            return values[types]
        out = labels if writes else labels.clone()
        values = labels.unique()
        for t in types.unique():
            if own:
                out[types == t] = labels[types == t][0]
            elif uniform:
                out[types == t] = values[torch.randint(len(values), (1,), generator=g)]
            else:
                rng = None if global_rng else g
                out[types == t] = labels[torch.randint(len(labels), (1,), generator=rng)]
        return out.float() if floats else out
    return control_labels


# --- selectivity ------------------------------------------------------------------------------

def _selectivity(control="types", flipped=False):
    held_out, consistent = _accuracy(), _control()
    per_row = _control(per_row=True)

    def selectivity(features, labels, types, *, seed=0):
        real = held_out(features, labels, seed=seed)
        if control == "none":
            return real
        fake = {"types": consistent(types, labels, seed=seed), "rows": per_row(types, labels, seed=seed),
                "classes": consistent(labels, labels, seed=seed)}[control]
        ctrl = held_out(features, fake, seed=seed)
        return ctrl - real if flipped else real - ctrl
    return selectivity


# --- concept_activation_vector ----------------------------------------------------------------

def _cav(negated=False, unnormalised=False, means=False, standardised=False, centres=False):
    def concept_activation_vector(concept, random):
        if centres:
            concept -= random.mean(0)  # "centres" the caller's features
        if means:
            w = concept.mean(0) - random.mean(0)
        else:
            x = torch.cat([concept, random]).detach().numpy()
            if standardised:
                x = StandardScaler().fit_transform(x)  # the weights stay in standardised units
            y = torch.cat([torch.ones(len(concept)), torch.zeros(len(random))]).numpy()
            w = torch.as_tensor(LogisticRegression(max_iter=2000).fit(x, y).coef_[0], dtype=torch.float32)
        w = -w if negated else w
        return w if unnormalised else w / w.norm()
    return concept_activation_vector


# --- tcav_score -------------------------------------------------------------------------------

def _tcav(backward=False, centre=False, probability=False, leaves_hook=False, leaves_eval=False,
          squeezes=False, marks_images=False):
    def tcav_score(model, images, target, layer, cav):
        t = torch.zeros(len(images), requires_grad=True)

        def nudge(a):
            if centre:
                out = a.clone()
                h, w = a.shape[2] // 2, a.shape[3] // 2
                out[:, :, h, w] = a[:, :, h, w] + t[:, None] * cav[None]
                return out
            return a + t[:, None, None, None] * cav[None, :, None, None]

        if marks_images:
            images.requires_grad_(True)
        if leaves_hook:
            hooks.get_layer(model, layer).register_forward_hook(lambda m, i, o: nudge(o))
            logits = model(images)
        elif leaves_eval:
            model.eval()
            with hooks.edit(model, layer, nudge):
                logits = model(images)
        else:
            with hooks.eval_mode(model), hooks.edit(model, layer, nudge):
                logits = model(images)
        if squeezes:
            logits = logits.squeeze()
        score = logits.softmax(dim=-1)[:, target] if probability else logits[:, target]
        if backward:
            score.sum().backward()
            grad = t.grad
        else:
            (grad,) = torch.autograd.grad(score.sum(), t)
        return float((grad > 0).float().mean())
    return tcav_score


# --- remove_directions ------------------------------------------------------------------------

def _remove(normalise=True, orthogonalise=True, drop=True, last_dim=False, four_d=False, in_place=False,
            detach=False):
    def remove_directions(acts, directions):
        d = torch.atleast_2d(directions).to(acts.dtype)
        if orthogonalise:
            q, r = torch.linalg.qr(d.T)
            q = q.T[r.diagonal().abs() > 1e-6] if drop else q.T
        else:
            q = d / d.norm(dim=1, keepdim=True) if normalise else d
        if not normalise and orthogonalise:
            q = d
        if last_dim:
            return acts - torch.einsum("...w,kw->...k", acts, q) @ q
        if four_d:
            return acts - torch.einsum("nkhw,kc->nchw", torch.einsum("nchw,kc->nkhw", acts, q), q)
        out = acts
        if detach:
            out = acts.detach()
        for row in ([q] if orthogonalise or not normalise else q):  # one after the other, if asked
            row = torch.atleast_2d(row)
            coords = torch.einsum("nc...,kc->nk...", out, row)
            if in_place:
                acts -= torch.einsum("nk...,kc->nc...", coords, row)
                out = acts
            else:
                out = out - torch.einsum("nk...,kc->nc...", coords, row)
        return out
    return remove_directions


# --- unit_cosines -----------------------------------------------------------------------------

def _cosines(kind):
    def unit_cosines(directions):
        norms = directions.norm(dim=-1, keepdim=True)
        if kind == "abs":
            return (directions / norms).abs()
        if kind == "squared":
            return directions / norms**2
        if kind == "columns":
            return directions / directions.norm(dim=0, keepdim=True) if directions.ndim == 2 else \
                directions / norms
        if kind == "nan":
            return directions / norms
        if kind == "wrong error":
            if (norms == 0).any():
                raise ZeroDivisionError("division by zero")
            return directions / norms
    return unit_cosines


MUTANTS = {
    "held_out_accuracy": [
        ("leak: fitted on every row, held-out ones included", _accuracy(leak=True)),
        ("scored on the training rows", _accuracy(on_train=True)),
        ("ignores the seed: the last rows are always held out", _accuracy(fixed=True)),
        ("test_fraction taken as the training share", _accuracy(swapped=True)),
        ("hard-coded: splits with torch's global random state", _accuracy(global_rng=True)),
        ("side effect: shuffles the caller's features in place", _accuracy(shuffles=True)),
    ],
    "control_labels": [
        ("a random label per row, not per type", _control(per_row=True)),
        ("uniform over the label values, not their distribution", _control(uniform=True)),
        ("each type keeps its own rows' real label", _control(own=True)),
        ("hard-coded: draws from torch's global random state", _control(global_rng=True)),
        ("edge: a table indexed by the type ids breaks on ids like 1000", _control(table=True)),
        ("float labels", _control(floats=True)),
        ("side effect: writes into the caller's labels", _control(writes=True)),
    ],
    "selectivity": [
        ("control labels drawn per row", _selectivity(control="rows")),
        ("control minus real", _selectivity(flipped=True)),
        ("control task over the classes, not the types", _selectivity(control="classes")),
        ("no control at all: the real accuracy", _selectivity(control="none")),
    ],
    "concept_activation_vector": [
        ("points away from the concept", _cav(negated=True)),
        ("not normalised", _cav(unnormalised=True)),
        ("the difference of the means", _cav(means=True)),
        ("standardised weights, not mapped back to the layer's units", _cav(standardised=True)),
        ("side effect: centres the caller's concept features in place", _cav(centres=True)),
    ],
    "tcav_score": [
        ("side effect: .backward() leaves gradients in the model", _tcav(backward=True)),
        ("moves the centre position only", _tcav(centre=True)),
        ("the probability's derivative, not the logit's", _tcav(probability=True)),
        ("side effect: leaves its hook on the model", _tcav(leaves_hook=True)),
        ("side effect: leaves the model in eval mode", _tcav(leaves_eval=True)),
        ("edge: squeeze breaks a batch of one image", _tcav(squeezes=True)),
        ("side effect: switches requires_grad on the caller's images", _tcav(marks_images=True)),
    ],
    "remove_directions": [
        ("direction not normalised", _remove(normalise=False)),
        ("directions removed one after the other, not orthogonalised", _remove(orthogonalise=False)),
        ("a redundant direction keeps its own basis vector", _remove(drop=False)),
        ("projects along the last dimension, not the channels", _remove(last_dim=True)),
        ("edge: assumes (N, C, H, W), breaks on (N, C)", _remove(four_d=True)),
        ("side effect: subtracts in the caller's activations", _remove(in_place=True)),
        ("no gradient: works on detached activations", _remove(detach=True)),
    ],
    "unit_cosines": [
        ("the sign dropped", _cosines("abs")),
        ("divided by the squared norm", _cosines("squared")),
        ("(K, C): normalised over the wrong dimension", _cosines("columns")),
        ("edge: NaN for a direction of length 0, no error", _cosines("nan")),
        ("edge: the wrong kind of error for a direction of length 0", _cosines("wrong error")),
    ],
}


# --- issue 21's families, tagged; a third item is a phrase the check's message must hold --------

def _accuracy_numpy(features, labels, *, test_fraction=0.3, seed=0):
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(labels) * test_fraction)
    test, train = order[:n_test].numpy(), order[n_test:].numpy()
    x, y = features.numpy(), labels.numpy()  # a table from a model can still require grad
    return float(LogisticRegression(max_iter=2000).fit(x[train], y[train]).score(x[test], y[test]))


def _accuracy_standardised(features, labels, *, test_fraction=0.3, seed=0):
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(labels) * test_fraction)
    test, train = order[:n_test].numpy(), order[n_test:].numpy()
    x = features.detach()
    x = ((x - x.mean(0)) / x.std(0)).numpy()  # a dead unit's spread is 0
    y = labels.numpy()
    return float(LogisticRegression(max_iter=2000).fit(x[train], y[train]).score(x[test], y[test]))


def _accuracy_folds(features, labels, *, test_fraction=0.3, seed=0):
    n = len(labels)
    n_test = round(n * test_fraction)
    folds = max(1, n // n_test)
    start = (seed % folds) * n_test  # the seed picks a fold of consecutive rows
    test = torch.zeros(n, dtype=torch.bool)
    test[start:start + n_test] = True
    x, y = features.detach().numpy(), labels.numpy()
    probe = LogisticRegression(max_iter=2000).fit(x[~test.numpy()], y[~test.numpy()])
    return float(probe.score(x[test.numpy()], y[test.numpy()]))


def _accuracy_library(features, labels, *, test_fraction=0.3, seed=0):
    train = probes.train_split(len(labels), test_fraction=test_fraction, seed=seed)
    return probes.fit_probe(features, labels, train=train).score


def _control_by_type(shuffle=False, reseed=False, bernoulli=False):
    def control_labels(types, labels, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        kinds = types.unique()
        own = torch.stack([labels[types == t][0] for t in kinds])  # one label per type
        if shuffle:
            own = own[torch.randperm(len(kinds), generator=g)]
        out = labels.clone()
        for i, t in enumerate(kinds):
            if reseed:
                g = torch.Generator().manual_seed(seed)  # the same draw for every type
                out[types == t] = labels[torch.randint(len(labels), (1,), generator=g)]
            elif bernoulli:
                out[types == t] = (torch.rand(1, generator=g) < labels.float().mean()).long()
            elif shuffle:
                out[types == t] = own[i]
            else:  # a random type's label, not a random row's
                out[types == t] = own[torch.randint(len(kinds), (1,), generator=g)]
        return out
    return control_labels


def _selectivity_variant(numpy=False, global_rng=False, swapped=False):
    held_out, consistent = _accuracy(), _control(global_rng=global_rng)

    def selectivity(features, labels, types, *, seed=0):
        if numpy:
            features = torch.from_numpy(features.numpy())  # "a clean copy": raises if it requires grad
        real = held_out(features, labels, seed=seed)
        fake = consistent(labels, types, seed=seed) if swapped else consistent(types, labels, seed=seed)
        return real - held_out(features, fake, seed=seed)
    return selectivity


def _selectivity_library(features, labels, types, *, seed=0):
    table = probes.probe_layers({"net": {"layer": features}}, {"p": labels}, types=types, seed=seed)
    return table.selectivity("net", "p", "layer")


def _cav_variant(numpy=False, sizes=False, standardised=False, attached=False):
    def concept_activation_vector(concept, random):
        x = torch.cat([concept, random])
        n_random = len(concept) if sizes else len(random)  # "the two sets are the same size"
        y = torch.cat([torch.ones(len(concept)), torch.zeros(n_random)]).numpy()
        if standardised or attached:
            x = x.detach() if standardised else x
            scale = x.std(0) if standardised else x.std(0).clamp_min(1e-8)
            xs = ((x - x.mean(0)) / scale).detach().numpy()
            w = torch.as_tensor(LogisticRegression(max_iter=2000).fit(xs, y).coef_[0],
                                dtype=torch.float32) / scale  # back to the layer's units
        else:
            x = x.numpy() if numpy else x.detach().numpy()
            w = torch.as_tensor(LogisticRegression(max_iter=2000).fit(x, y).coef_[0], dtype=torch.float32)
        return w / w.norm()
    return concept_activation_vector


def _cav_fit_probe(concept, random):
    x = torch.cat([concept, random])
    y = torch.cat([torch.ones(len(concept)), torch.zeros(len(random))]).long()
    train = torch.ones(len(x), dtype=torch.bool)
    train[-1] = False  # fit_probe wants a held-out row
    return probes.fit_probe(x, y, train=train).directions[0]


def _tcav_variant(getattr_layer=False, four_d=False, no_eval=False, double=False, per_image=False,
                  shared=False, falls=False, mean=False, log=False):
    def tcav_score(model, images, target, layer, cav):
        t = torch.zeros(1 if shared else len(images), requires_grad=True)
        v = cav if double else cav.detach().float()

        def nudge(a):
            if four_d:
                return a + t[:, None, None, None] * v[None, :, None, None]
            return a + t.view(-1, *[1] * (a.ndim - 1)) * v.view(1, -1, *[1] * (a.ndim - 2))

        def logits_of(step):
            if getattr_layer:
                handle = getattr(model, layer).register_forward_hook(lambda m, i, o: step(o))
                try:
                    return model(images)
                finally:
                    handle.remove()
            with hooks.edit(model, layer, step):
                return model(images)

        with contextlib.ExitStack() as stack:
            if not no_eval:
                stack.enter_context(hooks.eval_mode(model))
            if per_image:  # the whole batch again for every image, only image i moved
                grads = []
                for i in range(len(images)):
                    s = torch.zeros((), requires_grad=True)
                    onehot = torch.zeros(len(images))
                    onehot[i] = 1.0

                    def step(a, s=s, onehot=onehot):
                        shape = (-1, *[1] * (a.ndim - 1))
                        return a + (s * onehot).view(shape) * v.view(1, -1, *[1] * (a.ndim - 2))

                    grads.append(torch.autograd.grad(logits_of(step)[i, target], s)[0])
                grad = torch.stack(grads)
            else:
                logits = logits_of(nudge)
                score = logits.log_softmax(-1) if log else logits
                (grad,) = torch.autograd.grad(score[:, target].sum(), t)
        if mean:
            return float(grad.mean())
        return float((grad < 0).float().mean()) if falls else float((grad > 0).float().mean())
    return tcav_score


def _tcav_library(model, images, target, layer, cav):
    return float((probes.directional_derivatives(model, images, target, layer, cav) > 0).float().mean())


def _tcav_class_gradients(model, images, target, layer, cav):
    grads = probes.class_gradients(model, images, target, layer)
    return float((grads @ cav.float() > 0).float().mean())


def _remove_variant(numpy_qr=False, mixed=False, absolute=False, positions=False, rows=False,
                    projection=False, channels_last=False, library_basis=False):
    def remove_directions(acts, directions):
        d = torch.atleast_2d(directions)
        if library_basis:
            q = probes.orthonormal(d).to(acts.dtype)
        elif numpy_qr:
            q, r = np.linalg.qr(d.numpy().T)  # raises for a probe's weights that require grad
            keep = np.abs(np.diag(r)) > 1e-6 * np.linalg.norm(d.numpy(), axis=1).max()
            q = torch.from_numpy(q.T[keep]).to(acts.dtype)
        else:
            q, r = torch.linalg.qr(d.T if mixed else d.T.to(acts.dtype))
            keep = r.diagonal().abs() > (1e-6 if absolute else 1e-6 * d.norm(dim=1).max())
            q = q.T[keep]
        if positions and acts.ndim == 4:  # a loop over images and positions
            out = acts.clone()
            for n in range(acts.shape[0]):
                for h in range(acts.shape[2]):
                    for w in range(acts.shape[3]):
                        a = acts[n, :, h, w]
                        out[n, :, h, w] = a - q.T @ (q @ a)
            return out
        if rows and acts.ndim == 2:  # a loop over the rows
            return torch.stack([a - q.T @ (q @ a) for a in acts])
        if channels_last:
            a = acts.permute(0, 2, 3, 1)  # (N, H, W, C): 4-D only
            return (a - (a @ q.T) @ q).permute(0, 3, 1, 2)
        part = torch.einsum("nk...,kc->nc...", torch.einsum("nc...,kc->nk...", acts, q), q)
        return part if projection else acts - part
    return remove_directions


def _cosines_variant(kind):
    def unit_cosines(directions):
        if kind == "numpy":
            d = directions.numpy()  # raises for a probe's weights that require grad
            return torch.from_numpy(d / np.linalg.norm(d, axis=-1, keepdims=True))
        norms = directions.norm(dim=-1, keepdim=True)
        if (norms == 0).any():
            raise ValueError("a direction of length 0 has no cosine")
        if kind == "eps":
            return directions / (norms + 1e-8)  # "to be safe"
        if kind == "l1":
            return directions / directions.abs().sum(dim=-1, keepdim=True)
        if kind == "max":
            return directions / directions.abs().amax(dim=-1, keepdim=True)
        if kind == "whole":
            return directions / directions.norm()
    return unit_cosines


MUTANTS["held_out_accuracy"] += [
    ("[learner] the library's fit_probe and train_split", _accuracy_library, "the library's own"),
    ("[wild] numpy on features that require grad", _accuracy_numpy, "requires grad"),
    ("[wild] standardised by hand: a unit that never fires gives NaN", _accuracy_standardised, "never fires"),
    ("[distribution] the seed picks a fold of consecutive rows", _accuracy_folds, "consecutive"),
]
MUTANTS["control_labels"] += [
    ("[learner] the library's control_labels", lambda types, labels, *, seed=0:
     probes.control_labels(types, labels, seed=seed), "probes.control_labels"),
    ("[distribution] a random type's label, not a random row's", _control_by_type(), "random row"),
    ("[distribution] the types' own labels shuffled among the types", _control_by_type(shuffle=True),
     "random row"),
    ("[distribution] the generator seeded again for every type", _control_by_type(reseed=True),
     "same control label"),
    ("[distribution] a yes-or-no draw with the share of ones", _control_by_type(bernoulli=True),
     "ten classes"),
]
MUTANTS["selectivity"] += [
    ("[learner] the library's probe_layers", _selectivity_library, "probes.probe_layers"),
    ("[wild] numpy on features that require grad", _selectivity_variant(numpy=True), "requires grad"),
    ("[distribution] control labels from torch's global random state", _selectivity_variant(global_rng=True),
     "same seed"),
    ("[message] control_labels(labels, types): arguments in the wrong order",
     _selectivity_variant(swapped=True), "wrong order"),
]
MUTANTS["concept_activation_vector"] += [
    ("[learner] the library's concept_activation_vector", lambda concept, random:
     probes.concept_activation_vector(concept, random), "probes.concept_activation_vector"),
    ("[learner] the library's fit_probe directions", _cav_fit_probe, "probes.fit_probe"),
    ("[wild] numpy on features that require grad", _cav_variant(numpy=True), "requires grad"),
    ("[wild] labels sized by the concept set for both sets", _cav_variant(sizes=True), "one label per row"),
    ("[wild] standardised by hand: a unit that never fires gives NaN", _cav_variant(standardised=True),
     "never fires"),
    ("[detached] mapped back by scales computed from features that require grad", _cav_variant(attached=True),
     "still attached"),
]
MUTANTS["tcav_score"] += [
    ("[learner] the library's directional_derivatives", _tcav_library, "probes.directional_derivatives"),
    ("[learner] the library's class_gradients", _tcav_class_gradients, "probes.class_gradients"),
    ("[network] getattr(model, layer) finds top-level layers only", _tcav_variant(getattr_layer=True),
     "could not find layer"),
    ("[network] a 4-D step on a linear layer's (N, C) activations", _tcav_variant(four_d=True), "(N, C)"),
    ("[network] no eval mode: dropout stays on in train mode", _tcav_variant(no_eval=True), "eval mode"),
    ("[wild] a float64 CAV (scikit-learn's) used as it is", _tcav_variant(double=True), "float64"),
    ("[cost] the whole batch run once per image", _tcav_variant(per_image=True), "slower than the reference"),
    ("[message] one step for the whole batch", _tcav_variant(shared=True), "its own step"),
    ("[message] the share of images whose logit falls", _tcav_variant(falls=True), "falls"),
    ("[message] the mean directional derivative", _tcav_variant(mean=True), "mean directional derivative"),
    ("[message] the log-probability's derivative", _tcav_variant(log=True), "log-probability"),
]
MUTANTS["remove_directions"] += [
    ("[learner] the library's remove_directions", lambda acts, directions:
     probes.remove_directions(acts, directions), "probes.remove_directions"),
    ("[learner] the library's orthonormal basis", _remove_variant(library_basis=True), "probes.orthonormal"),
    ("[wild] numpy's QR on directions that require grad", _remove_variant(numpy_qr=True), "requires grad"),
    ("[wild] float64 directions (scikit-learn's) used as they are", _remove_variant(mixed=True), "float64"),
    ("[wild] an absolute tolerance drops short directions", _remove_variant(absolute=True),
     "length does not"),
    ("[cost] a Python loop over images and positions", _remove_variant(positions=True),
     "slower than the reference"),
    ("[cost] a Python loop over the rows", _remove_variant(rows=True), "loop over the rows"),
    ("[message] returns the part along the directions", _remove_variant(projection=True), "the part"),
    ("[message] channels moved last with permute: 4-D only", _remove_variant(channels_last=True), "(N, C)"),
]
MUTANTS["unit_cosines"] += [
    ("[learner] the library's unit_cosines", lambda d: probes.unit_cosines(d), "probes.unit_cosines"),
    ("[wild] numpy on a probe's weights that require grad", _cosines_variant("numpy"), "requires grad"),
    ("[wild] a small number added to the norm", _cosines_variant("eps"), "short direction"),
    ("[message] divided by the L1 norm", _cosines_variant("l1"), "L1"),
    ("[message] divided by the largest entry", _cosines_variant("max"), "largest entry"),
    ("[message] one norm for the whole (K, C) table", _cosines_variant("whole"), "whole"),
]


# Fresh wrong answers from an independent author (issue 21's audit), now caught.
def _selectivity_types_as_labels(features, labels, types, *, seed=0):
    from solutions.ch07_probes import held_out_accuracy
    return (held_out_accuracy(features, labels, seed=seed)
            - held_out_accuracy(features, types, seed=seed))  # the type ids as the control task


MUTANTS["selectivity"] += [
    ("[fresh] the control probe predicts the type ids", _selectivity_types_as_labels, "type ids"),
]


def _control_by_id(types, labels, *, seed=0):
    g = torch.Generator().manual_seed(seed)
    table = labels[torch.randint(len(labels), (int(types.max()) + 1,), generator=g)]
    return table[types]  # -1 wraps round to the last id; all-negative ids fail


def _selectivity_on_train(features, labels, types, *, seed=0):
    on_train = _accuracy(on_train=True)
    return (on_train(features, labels, seed=seed)
            - on_train(features, probes.control_labels(types, labels, seed=seed), seed=seed))


def _selectivity_seed0_control(features, labels, types, *, seed=0):
    held_out = _accuracy()
    fake = probes.control_labels(types, labels, seed=0)  # the same control task for every seed
    return held_out(features, labels, seed=seed) - held_out(features, fake, seed=seed)


def _tcav_counts_zero(model, images, target, layer, cav):
    t = torch.zeros(len(images), requires_grad=True)
    t = t.to(images.device)

    def nudge(a):
        shape = (-1,) + (1,) * (a.ndim - 2)
        return a + t.view(-1, 1, *shape[1:]) * cav.to(a).view(1, -1, *shape[1:])

    with hooks.eval_mode(model), hooks.edit(model, layer, nudge):
        logits = model(images)
    (grad,) = torch.autograd.grad(logits[:, target].sum(), t)
    return float((grad >= 0).float().mean())  # a derivative of exactly 0 counted as a rise


MUTANTS["control_labels"] += [
    ("[fresh] a table indexed by the type id", _control_by_id, "negative dimension"),
]
MUTANTS["selectivity"] += [
    ("[fresh] both probes scored on their training rows", _selectivity_on_train, "held-out rows"),
    ("[fresh] the control labels drawn with seed 0 whatever the seed", _selectivity_seed0_control, "seed=0"),
]
MUTANTS["tcav_score"] += [
    ("[fresh] counts a derivative of exactly 0 as a rise", _tcav_counts_zero, "not >= 0"),
]


def _held_out_global_seed(features, labels, *, test_fraction=0.3, seed=0):
    torch.manual_seed(seed)  # resets the caller's random numbers
    order = torch.randperm(len(labels))
    n_test = round(len(labels) * test_fraction)
    test, train = order[:n_test].numpy(), order[n_test:].numpy()
    x, y = features.detach().cpu().numpy(), labels.cpu().numpy()
    return float(LogisticRegression(max_iter=2000).fit(x[train], y[train]).score(x[test], y[test]))


def _unit_cosines_all_zero_only(direction):
    norms = direction.norm(dim=-1, keepdim=True)
    if (norms == 0).all():  # raises only when every row is zero
        raise ValueError("a direction of length 0 has no cosine")
    return direction / norms


MUTANTS["held_out_accuracy"] += [
    ("[fresh] torch.manual_seed(seed): the caller's random state reset", _held_out_global_seed,
     "global random state"),
]
MUTANTS["unit_cosines"] += [
    ("[fresh] raises only when every direction has length 0", _unit_cosines_all_zero_only, "any row"),
]

