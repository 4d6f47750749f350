import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from interp_lib import hooks


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
