import torch
import torch.nn.functional as F


def _ascent(sign=1.0, clamp=True, detach=True):
    def step(image, score_fn, lr):
        x = image.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(score_fn(x), x, create_graph=not detach)
        out = x + sign * lr * grad
        out = out.clamp(0, 1) if clamp else out
        return out.detach() if detach else out
    return step


def _diversity(sign=-1.0, diagonal=False, normalise=True):
    def div(acts):
        n, c = acts.shape[:2]
        flat = acts.reshape(n, c, -1)
        gram = torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1)
        v = F.normalize(gram, dim=1) if normalise else gram
        sim = v @ v.T
        if diagonal:
            return sign * sim.mean()
        return sign * (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    return div


def _swapped(acts, channel, x=None, y=None):
    h, w = acts.shape[2:]
    row = (w // 2 if x is None else x) % h  # x used as the row
    col = h // 2 if y is None else y
    return acts[:, channel, row, col]


def _step_only(image, score_fn, lr):
    x = image.detach().requires_grad_(True)
    return (lr * torch.autograd.grad(score_fn(x), x)[0]).detach()


MUTANTS = {
    "neuron_value": [
        ("rows and columns swapped", _swapped),
        ("corner instead of centre", lambda a, c, x=None, y=None: a[:, c, y or 0, x or 0]),
        ("mean over positions", lambda a, c, x=None, y=None: a[:, c].mean(dim=(1, 2))),
        ("off-by-one centre", lambda a, c, x=None, y=None: a[
            :, c, a.shape[2] // 2 - 1 if y is None else y, a.shape[3] // 2 - 1 if x is None else x]),
    ],
    "channel_value": [
        ("sum over positions", lambda a, c: a[:, c].sum(dim=(1, 2))),
        ("off-by-one channel", lambda a, c: a[:, c + 1].mean(dim=(1, 2))),
        ("max over positions", lambda a, c: a[:, c].amax(dim=(1, 2))),
        ("mean over the batch too", lambda a, c: a[:, c].mean().expand(a.shape[0])),
    ],
    "deepdream_value": [
        ("forgot to square", lambda a: a.mean(dim=(1, 2, 3))),
        ("squared the mean", lambda a: a.mean(dim=(1, 2, 3)) ** 2),
        ("sum instead of mean", lambda a: (a**2).sum(dim=(1, 2, 3))),
        ("absolute value instead of square", lambda a: a.abs().mean(dim=(1, 2, 3))),
    ],
    "class_probability_value": [
        ("softmax over the batch", lambda z, k: torch.softmax(z, dim=0)[:, k]),
        ("sigmoid", lambda z, k: torch.sigmoid(z[:, k])),
        ("log-probability", lambda z, k: torch.log_softmax(z, dim=1)[:, k]),
        ("the logit itself", lambda z, k: z[:, k]),
    ],
    "ascent_step": [
        ("descent: sign flipped", _ascent(sign=-1.0)),
        ("no clamp", _ascent(clamp=False)),
        ("not detached", _ascent(detach=False)),
        ("returns the step, not the new image", _step_only),
    ],
    "diversity_value": [
        ("sign flipped", _diversity(sign=1.0)),
        ("diagonal included", _diversity(diagonal=True)),
        ("Gram vectors not normalised", _diversity(normalise=False)),
    ],
}
