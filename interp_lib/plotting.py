"""Figures for the course: image grids, feature maps, tuning curves, weights, attributions.

Small helpers so that chapters show pictures, not tensors, without long
plotting code in the notebooks. Each returns the matplotlib Figure.

Sizes are for the book's column, about 7 inches at 100 dots per inch, with
text of 10 points or more (`book_style()` sets that up): a figure no wider
than `COLUMN` inches is shown at its own size, not shrunk. Signed quantities
(weights, signed attributions) use a diverging colour map centred on zero:
red for positive, blue for negative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

COLUMN = 7.0  # inches: the book's text column at 100 dpi
SIGNED = "RdBu_r"  # red positive, blue negative, white zero


def book_style() -> None:
    """Matplotlib settings for the book: 100 dpi, 10-point text, no frame clutter.

    >>> book_style(); plt.rcParams["font.size"]
    10.0
    """
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 10,
        "axes.labelsize": 10, "xtick.labelsize": 10, "ytick.labelsize": 10,
        "legend.fontsize": 10, "figure.titlesize": 11, "axes.spines.top": False,
        "axes.spines.right": False,
    })


def to_numpy_image(img: Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) for imshow.

    >>> img = torch.zeros(3, 4, 5); img[0, 1, 2] = 1.5  # a too-bright red pixel at row 1, column 2
    >>> to_numpy_image(img)[1, 2].tolist()  # colour last, clamped into [0, 1]
    [1.0, 0.0, 0.0]
    """
    return img.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()


def _grid(n: int, ncols: int, image_inches: float, extra_height: float = 0.0, **kwargs):
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols,
                             figsize=(image_inches * ncols, image_inches * nrows + extra_height),
                             squeeze=False, **kwargs)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def show_images(images: Tensor, titles: Sequence[str] | None = None, *, ncols: int = 8,
                image_inches: float = 0.85, suptitle: str | None = None,
                row_labels: Sequence[str] | None = None) -> plt.Figure:
    """A grid of images (N, 3, H, W) in [0, 1], with optional titles and row labels.

    The default image_inches fits eight images across the book's column.

    >>> fig = show_images(torch.rand(4, 3, 8, 8), ["a", "b", "c", "d"], ncols=2)
    """
    n = len(images)
    fig, axes = _grid(n, ncols, image_inches, 0.3 * bool(titles) + 0.3 * bool(suptitle))
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.imshow(to_numpy_image(images[i]), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=10)
    if row_labels is not None:
        for r, label in enumerate(row_labels[:axes.shape[0]]):
            axes[r, 0].axis("on")
            axes[r, 0].set_xticks([])
            axes[r, 0].set_yticks([])
            for spine in axes[r, 0].spines.values():
                spine.set_visible(False)
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
        # Widen the figure by the labels' width, so that they do not shrink the images.
        longest = max(len(line) for label in row_labels for line in str(label).split("\n"))
        width, height = fig.get_size_inches()
        fig.set_size_inches(width + 0.075 * longest + 0.2, height)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_feature_maps(acts: Tensor, channels: Sequence[int] | None = None, *,
                      image: Tensor | None = None, titles: Sequence[str] | None = None,
                      vmax: float | None = None, ncols: int = 8, image_inches: float = 0.85,
                      title: str | None = None) -> plt.Figure:
    """Feature maps of one image: acts (C, H, W), one panel per channel, all on one colour
    scale (black: 0; brightest: `vmax`, by default the largest value shown, and anything
    above it), so that a dark panel is a weak channel. image: the input (3, H', W'), shown
    first; titles: one per channel shown (default: the channel's index).

    >>> fig = show_feature_maps(torch.rand(4, 6, 6), image=torch.rand(3, 6, 6), ncols=5,
    ...                         titles=["a", "b", "c", "d"])
    >>> [ax.get_title() for ax in fig.axes]  # the input first, then one panel per channel
    ['input', 'a', 'b', 'c', 'd']
    """
    channels = list(range(acts.shape[0])) if channels is None else list(channels)
    if titles is not None and len(titles) != len(channels):
        raise ValueError(f"give one title per channel shown: {len(channels)} channels, "
                         f"{len(titles)} titles")
    vmax = (float(acts[channels].max()) if vmax is None else float(vmax)) or 1.0
    first = int(image is not None)
    fig, axes = _grid(len(channels) + first, ncols, image_inches, 0.3 + 0.3 * bool(title))
    if image is not None:
        axes.flat[0].imshow(to_numpy_image(image), interpolation="nearest")
        axes.flat[0].set_title("input", fontsize=10)
    for i, (ax, c) in enumerate(zip(list(axes.flat)[first:], channels)):
        ax.imshow(acts[c].detach().cpu().numpy(), cmap="magma", vmin=0, vmax=vmax,
                  interpolation="nearest")
        ax.set_title(f"{c}" if titles is None else titles[i], fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _closed(orientations_deg: Tensor, r: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Angles (radians) and radii with the first point repeated, so the curve closes."""
    theta = torch.deg2rad(torch.cat([orientations_deg, orientations_deg[:1]])).numpy()
    return theta, torch.cat([r, r[:1]]).numpy()


def _polar_axes(ax) -> None:
    """A tuning curve's polar axis: clockwise, like image coordinates (y down), with the
    four compass angles marked."""
    ax.set_theta_direction(-1)
    ax.set_yticklabels([])
    ax.set_xticks(np.deg2rad([0, 90, 180, 270]))
    ax.set_xticklabels(["0", "90", "180", "270"], fontsize=10)
    ax.tick_params(pad=-2)


def _polar(ax, orientations_deg: Tensor, r: Tensor, colour: str = "tab:blue") -> None:
    theta, rr = _closed(orientations_deg, r)
    ax.plot(theta, rr, color=colour, lw=1.2)
    ax.fill(theta, rr, color=colour, alpha=0.2)
    _polar_axes(ax)


def polar_tuning(orientations_deg: Tensor, responses: Tensor, labels: Sequence[str], *,
                 ncols: int = 6, panel_inches: float = 1.15, title: str | None = None) -> plt.Figure:
    """One polar plot per unit: response (radius) against orientation (angle), the angle
    drawn clockwise from the right, as on screen (y points down).

    responses: (U, O).

    >>> fig = polar_tuning(torch.arange(8) * 45.0, torch.rand(3, 8), ["a", "b", "c"])
    """
    n = len(responses)
    fig, axes = _grid(n, ncols, panel_inches, 0.35 + 0.3 * bool(title),
                      subplot_kw={"projection": "polar"})
    for ax, r, label in zip(axes.flat, responses, labels):
        ax.axis("on")
        _polar(ax, orientations_deg, r.detach().cpu().float())
        ax.set_title(label, fontsize=10, pad=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def families_polar(orientations_deg: Tensor, families: Mapping[str, Tensor], *, ncols: int = 3,
                   panel_inches: float = 2.0) -> plt.Figure:
    """Several families of tuning curves, one polar plot per family (a model, a layer):
    every curve normalised to its own peak and overlaid, coloured by its preferred
    orientation, so that the family's coverage of the circle, and its gaps, show at once.

    families: label -> (U, O) responses; families may have different U.

    >>> fig = families_polar(torch.arange(8) * 45.0, {"a": torch.rand(3, 8), "b": torch.rand(2, 8)})
    """
    fig, axes = _grid(len(families), ncols, panel_inches, 0.45, subplot_kw={"projection": "polar"})
    cmap = plt.get_cmap("hsv")  # cyclic, like orientation; no colour fades into the background
    for ax, (label, responses) in zip(axes.flat, families.items()):
        ax.axis("on")
        responses = responses.detach().cpu().float()
        for r in responses:
            r = r / r.max().clamp_min(1e-12)
            hue = float(orientations_deg[int(r.argmax())]) / 360
            ax.plot(*_closed(orientations_deg, r), color=cmap(hue), lw=1.1)
        _polar_axes(ax)
        ax.set_title(f"{label} ({len(responses)})", fontsize=10, pad=10)
    fig.tight_layout()
    return fig


def crop(images: Tensor, window: tuple[tuple[float, float], int]) -> Tensor:
    """Images (N, C, H, W) cut to a square `window` ((x, y) centre, side) in pixels, grey
    where the window leaves the image: a neuron's render shown as the neuron sees it.

    >>> x = torch.zeros(1, 3, 8, 8); x[..., 2:4, 2:4] = 1.0
    >>> crop(x, ((3.0, 3.0), 2))[0, 0]
    tensor([[1., 1.],
            [1., 1.]])
    """
    (cx, cy), side = window
    pad = side
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), value=0.5)
    top, left = round(cy - side / 2) + pad, round(cx - side / 2) + pad
    return padded[..., top:top + side, left:left + side]


def _arc_glyph(ax, orientation_deg: float) -> None:
    """A small arc bulging towards `orientation_deg` (clockwise from right, y down)."""
    a = np.deg2rad(orientation_deg)
    u = np.array([np.cos(a), -np.sin(a)])  # y points up in the glyph's axes
    phi = np.linspace(-1.1, 1.1, 40) + np.arctan2(u[1], u[0])
    centre = -u
    ax.plot(centre[0] + np.cos(phi), centre[1] + np.sin(phi), color="black", lw=2.0,
            solid_capstyle="round")
    ax.plot([0], [0], marker="o", color="tab:red", ms=3)  # the arc's midpoint
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")


def curve_family(renders: Tensor, window: tuple[tuple[float, float], int],
                 preferred_deg: Tensor | Sequence[float], labels: Sequence[str], *,
                 orientations_deg: Tensor | None = None, responses: Tensor | None = None,
                 crops: Sequence[Tensor] | None = None, crop_labels: Sequence[Sequence[str]] | None = None,
                 per_row: int = 6, image_inches: float = 1.0, polar_inches: float | None = None,
                 crop_inches: float | None = None, half_peak: bool = False,
                 glyph_inches: float = 0.3) -> plt.Figure:
    """A family of detectors as Zoom In shows one, readable at the book's width: a block per
    unit, in the order given, `per_row` blocks a row. Each block: its label and a small arc
    glyph bulging towards its preferred orientation (beside the render, not over it); its
    render cut to the receptive field `window` ((x, y), side), `image_inches` wide (at 100
    dots per inch, 1.0 is 100 px); then, if given, its tuning curve (responses (U, O) at
    orientations_deg; `polar_inches` wide, beside the render when the block has room; with
    `half_peak`, a dashed circle at half the peak, so a reader can count its lobes) and its
    top dataset examples (crops: U tensors (k, 3, h, w), each `crop_inches` wide, titled
    underneath by `crop_labels[u][j]` if given, e.g. the drawing's class). `glyph_inches`:
    the arc glyph's side (and the title row's height).

    >>> fig = curve_family(torch.rand(2, 3, 16, 16), ((8.0, 8.0), 8), [0.0, 90.0], ["a", "b"],
    ...                    orientations_deg=torch.arange(8) * 45.0, responses=torch.rand(2, 8),
    ...                    crops=[torch.rand(3, 3, 6, 6)] * 2)
    >>> float(round(fig.get_size_inches()[0], 2))  # two blocks of 1.04 inches and the row labels
    2.86

    Crops as wide as the render, each titled with its class, so a reader can check them:

    >>> fig = curve_family(torch.rand(2, 3, 16, 16), ((8.0, 8.0), 8), [0.0, 90.0], ["a", "b"],
    ...                    crops=[torch.rand(3, 3, 6, 6)] * 2, crop_labels=[["wave", "arc", "wave"]] * 2,
    ...                    crop_inches=1.0, per_row=2)
    >>> sorted({round(float(ax.get_position().width * fig.get_size_inches()[0]), 2) for ax in fig.axes})
    [0.3, 1.0]
    >>> sum(t.get_text() == "wave" for t in fig.texts)  # two of the three crops of each unit
    4
    """
    pictures = crop(renders.detach().cpu().float(), window)
    n = len(pictures)
    preferred = [float(p) for p in torch.as_tensor(preferred_deg).reshape(-1)]
    k = min(max((len(c) for c in crops), default=0), 3) if crops is not None else 0
    gap, margin = 0.04, 0.78  # inches
    title_h = glyph_inches
    polar_h = 0.85 * image_inches if polar_inches is None else polar_inches
    polar_h = polar_h if responses is not None else 0.0
    crop_w = image_inches / 3 - 0.02 if crop_inches is None else crop_inches
    crop_step = image_inches / 3 if crop_inches is None else crop_inches + gap
    crop_h = crop_w if k else 0.0
    label_h = 0.22 if k and crop_labels is not None else 0.0
    block = max(image_inches, k * crop_step - (crop_step - crop_w))
    beside = bool(polar_h) and block >= image_inches + gap + polar_h  # room for the polar plot
    if beside:
        top_h = max(image_inches, polar_h)
    else:
        top_h = image_inches + (polar_h + gap if polar_h else 0)
    row_h = title_h + top_h + (crop_h + gap + label_h if k else 0)
    block_gap = gap if block == image_inches else 0.3  # wide blocks need a visible gutter
    cols = min(per_row, n)
    rows = (n + per_row - 1) // per_row
    width = margin + cols * (block + block_gap)
    height = rows * (row_h + 0.15) + 0.05
    fig = plt.figure(figsize=(width, height))

    def axes(x: float, y: float, w: float, h: float, **kwargs):  # inches from the top left
        return fig.add_axes([x / width, 1 - (y + h) / height, w / width, h / height], **kwargs)

    for i in range(n):
        r, c = divmod(i, per_row)
        x, y = margin + c * (block + block_gap), 0.05 + r * (row_h + 0.15)
        _arc_glyph(axes(x, y, title_h, title_h), preferred[i])
        fig.text((x + title_h + 0.04) / width, 1 - (y + title_h / 2) / height, labels[i],
                 ha="left", va="center", fontsize=10)
        ax = axes(x, y + title_h, image_inches, image_inches)
        ax.imshow(to_numpy_image(pictures[i]), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a thin grey frame, not black axis lines
            spine.set_visible(True)
            spine.set_color("0.75")
        if responses is not None:
            px, py = ((x + image_inches + gap + 0.1, y + title_h) if beside else
                      (x + (block - polar_h) / 2, y + title_h + image_inches + gap))
            ax = axes(px, py, polar_h, polar_h, projection="polar")
            response = responses[i].detach().cpu().float()
            _polar(ax, orientations_deg, response)
            if half_peak:
                ax.plot(np.linspace(0, 2 * np.pi, 97), np.full(97, 0.5 * float(response.max())),
                        color="0.3", lw=0.8, ls="--")
            ax.set_xticklabels([])
        y_next = y + title_h + top_h + gap
        for j, example in enumerate(crops[i][:k] if k else []):
            ax = axes(x + j * crop_step, y_next, crop_w, crop_h)
            ax.imshow(to_numpy_image(example), interpolation="nearest")
            ax.axis("off")
            if crop_labels is not None:
                fig.text((x + j * crop_step + crop_w / 2) / width, 1 - (y_next + crop_h + 0.02) / height,
                         crop_labels[i][j], ha="center", va="top", fontsize=10)
    for r in range(rows):
        y = 0.05 + r * (row_h + 0.15)
        texts = [("render,\ntuning\ncurve" if beside else "render", title_h + image_inches / 2)]
        if responses is not None and not beside:
            texts.append(("tuning\ncurve", title_h + image_inches + gap + polar_h / 2))
        if k:
            texts.append(("dataset\nexamples", title_h + top_h + gap + crop_h / 2))
        for text, dy in texts:
            fig.text(0.05 / width, 1 - (y + dy) / height, text, ha="left", va="center",
                     fontsize=10)
    return fig


def matched_renders(renders: Mapping[str, Tensor],
                    windows: Mapping[str, tuple[tuple[float, float], int]],
                    preferred_deg: Mapping[str, Sequence[float]], labels: Mapping[str, Sequence[str]],
                    *, row_labels: Sequence[str] | None = None, image_inches: float = 1.0,
                    glyph_inches: float = 0.3, gap: float = 0.08) -> plt.Figure:
    """Matched units of several networks side by side (Zoom In's universality figures): one
    column per network, in the order of `renders` (name -> (R, 3, H, W), one render per row),
    each render cut to its network's receptive field `windows[name]` ((x, y), side in pixels)
    and shown `image_inches` wide whatever the field's size, under a small arc glyph bulging
    towards the unit's preferred orientation `preferred_deg[name][r]` (`glyph_inches` square)
    and its label; `gap` inches between columns.

    >>> fig = matched_renders({"a": torch.rand(2, 3, 16, 16), "b": torch.rand(2, 3, 12, 12)},
    ...                       {"a": ((8.0, 8.0), 8), "b": ((6.0, 6.0), 6)},
    ...                       {"a": [0, 90], "b": [10, 80]}, {"a": ["1", "2"], "b": ["3", "4"]})
    >>> shown = [ax for ax in fig.axes if ax.images]  # an 8-px and a 6-px field, the same width
    >>> len(shown), {round(float(ax.get_position().width * fig.get_size_inches()[0]), 2) for ax in shown}
    (4, {1.0})
    """
    names = list(renders)
    rows = len(renders[names[0]])
    margin, head, title_h, row_gap = (0.8 if row_labels else 0.05), 0.3, glyph_inches, 0.12
    width = margin + len(names) * (image_inches + gap)
    row_h = title_h + image_inches + row_gap
    height = head + rows * row_h
    fig = plt.figure(figsize=(width, height))

    def axes(x: float, y: float, w: float, h: float):  # inches from the top left
        return fig.add_axes([x / width, 1 - (y + h) / height, w / width, h / height])

    for j, name in enumerate(names):
        x = margin + j * (image_inches + gap)
        fig.text((x + image_inches / 2) / width, 1 - head / 2 / height, name, ha="center",
                 va="center", fontsize=10)
        pictures = crop(renders[name].detach().cpu().float(), windows[name])
        for r in range(rows):
            y = head + r * row_h
            _arc_glyph(axes(x, y, title_h, title_h), float(preferred_deg[name][r]))
            fig.text((x + title_h + 0.04) / width, 1 - (y + title_h / 2) / height, labels[name][r],
                     ha="left", va="center", fontsize=10)
            ax = axes(x, y + title_h, image_inches, image_inches)
            ax.imshow(to_numpy_image(pictures[r]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():  # a thin frame: a white render on a white page
                spine.set_visible(True)
                spine.set_color("0.75")
    for r, label in enumerate(row_labels or []):
        fig.text(0.05 / width, 1 - (head + r * row_h + title_h + image_inches / 2) / height, label,
                 ha="left", va="center", fontsize=10)
    return fig


def probe_scores(table, *, figsize: tuple[float, float] = (6.9, 4.9)) -> plt.Figure:
    """Probe scores layer by layer, one panel per property, from a `probes.ProbeTable`:
    each network's held-out score (the first solid, the next dashed), the first
    network's control-task score (dotted: selectivity is the gap above it) and the
    chance level (grey).

    >>> from types import SimpleNamespace
    >>> keys = [(n, "size", l) for n in ("trained", "untrained") for l in ("pixels", "relu1")]
    >>> t = SimpleNamespace(layers=["pixels", "relu1"], networks=["trained", "untrained"],
    ...                     properties={"size": "continuous"}, chance={"size": 0.0},
    ...                     row=lambda net, prop, control=False: [0.1, 0.5 if net == "trained" else 0.2])
    >>> fig = probe_scores(t)
    >>> len(fig.axes[0].lines)  # two networks, the control task, chance
    4
    """
    props = list(table.properties)
    ncols = min(3, len(props))
    fig, axes = plt.subplots((len(props) + ncols - 1) // ncols, ncols, figsize=figsize, squeeze=False)
    x = np.arange(len(table.layers))
    colours = ["#1f4e79", "#c55a11", "#548235"]
    for ax, prop in zip(axes.flat, props):
        for i, net in enumerate(table.networks):
            ax.plot(x, table.row(net, prop), "-" if i == 0 else "--", marker="o", ms=3.5,
                    color=colours[i % 3], label=f"{net}")
        ax.plot(x, table.row(table.networks[0], prop, control=True), ":", marker="^", ms=3.5,
                color=colours[0], alpha=0.8, label=f"{table.networks[0]}, control task")
        ax.axhline(table.chance[prop], color="0.6", lw=1, label="chance")
        ax.set_title(prop)
        ax.set_xticks(x, table.layers, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
        ax.set_ylabel("accuracy" if table.properties[prop] == "categorical" else "R$^2$")
    for ax in axes.flat[len(props):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if len(props) < axes.size:
        axes.flat[-1].legend(handles, labels, loc="center", frameon=False)
    else:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout()
    return fig


def tcav_scores(results: Mapping[str, Mapping[str, object]], *,
                figsize: tuple[float, float] = (COLUMN, 2.9)) -> plt.Figure:
    """TCAV scores, one panel per concept, one column per class: the bar is the mean
    score over the concept's CAVs, filled dots each CAV's score, open dots the
    random-versus-random CAVs'; a star marks p < 0.05 (`probes.TCAVResult`s).

    results: concept -> class name -> a result with .scores, .random_scores, .p_value.

    >>> from types import SimpleNamespace
    >>> r = SimpleNamespace(scores=torch.ones(4), random_scores=torch.rand(4), p_value=0.01)
    >>> fig = tcav_scores({"curved": {"circle": r, "square": r}})
    >>> len(fig.axes[0].patches)  # one bar per class
    2
    """
    fig, axes = plt.subplots(1, len(results), figsize=figsize, sharey=True, squeeze=False)
    jitter = np.random.default_rng(0)
    for ax, (concept, by_class) in zip(axes[0], results.items()):
        for i, r in enumerate(by_class.values()):
            scores, rand = r.scores.float().numpy(), r.random_scores.float().numpy()
            ax.bar(i, scores.mean(), width=0.6, color="#9dc3e6", edgecolor="#1f4e79")
            ax.plot(i - 0.12 + jitter.uniform(-0.06, 0.06, len(scores)), scores, "o", ms=4,
                    color="#1f4e79", alpha=0.7)
            ax.plot(i + 0.16 + jitter.uniform(-0.06, 0.06, len(rand)), rand, "o", ms=4,
                    mfc="none", color="0.35", alpha=0.8)
            if r.p_value < 0.05:
                ax.text(i, 1.12, "*", ha="center", va="center", fontsize=14)
        ax.axhline(0.5, color="0.6", lw=1)
        ax.set_xticks(range(len(by_class)), list(by_class))
        ax.set_ylim(-0.05, 1.2)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_title(f"concept: {concept}")
    axes[0, 0].set_ylabel("TCAV score")
    fig.tight_layout()
    return fig


def removal_effects(result, names: Sequence[str], *, groups: Tensor | None = None,
                    group_label: str = "grouped", figsize: tuple[float, float] = (COLUMN, 2.8)
                    ) -> plt.Figure:
    """What removing directions costs a network (a `probes.AmnesicResult`): its accuracy
    intact and without each named set of directions (bars), and without as many random
    directions (dots, one per draw, over a bar at their mean; one random bar for sets
    that share their random draws). With groups (n_classes,), a second panel scores its
    answers by the coarser label.

    >>> from types import SimpleNamespace
    >>> r = SimpleNamespace(accuracy=lambda name=None, groups=None: 0.9, random={"curvature": 1},
    ...                     random_accuracy=lambda name, groups=None: torch.tensor([0.5, 0.6]))
    >>> fig = removal_effects(r, ["curvature"])
    >>> len(fig.axes[0].patches)  # intact, removed, random
    3
    """
    panels = [(None, "accuracy")] + ([(groups, group_label)] if groups is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=True, squeeze=False)
    for ax, (grp, title) in zip(axes[0], panels):
        bars = [("intact", result.accuracy(groups=grp), "0.75", None)]
        bars += [(f"without\n{name}", result.accuracy(name, groups=grp), "#c55a11", None) for name in names]
        shown: list[object] = []
        for name in names:  # the random draws after the named sets, once per shared baseline
            if not any(result.random[name] is r for r in shown):
                shown.append(result.random[name])
                label = "random\ndirections" if all(result.random[n] is result.random[name]
                                                    for n in names) else f"random\n({name})"
                bars.append((label, None, "#f4cfb6", result.random_accuracy(name, groups=grp).numpy()))
        for x, (_, value, colour, draws) in enumerate(bars):
            ax.bar(x, value if draws is None else draws.mean(), color=colour, width=0.7)
            if draws is not None:
                ax.plot(np.full(len(draws), float(x)), draws, "o", ms=3.5, color="0.3")
        ax.set_xticks(range(len(bars)), [b[0] for b in bars])
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
    axes[0, 0].set_ylabel("share right")
    fig.tight_layout()
    return fig


def direction_and_units(cosines: Tensor, members: Sequence[int], *, preferred: Tensor | None = None,
                        probe_angles: Tensor | None = None,
                        figsize: tuple[float, float] = (COLUMN, 2.9)) -> plt.Figure:
    """A probe's direction against a layer's units: the cosine with each unit, sorted,
    with a family of units (members) in colour; and, given each member's preferred
    orientation and the angle a two-output probe (sine, cosine) gives it (both (F,), in
    degrees), one against the other.

    >>> fig = direction_and_units(torch.tensor([0.5, -0.2, 0.8, 0.1]), [2],
    ...                           preferred=torch.tensor([90.0]), probe_angles=torch.tensor([80.0]))
    >>> len(fig.axes)
    2
    """
    two = preferred is not None and probe_angles is not None
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=figsize, squeeze=False,
                             gridspec_kw={"width_ratios": [1.7, 1]} if two else None)
    cos = cosines.detach().cpu().float()
    order = cos.argsort(descending=True)
    family = set(int(m) for m in members)
    colours = ["#c55a11" if int(u) in family else "0.7" for u in order]
    ax = axes[0, 0]
    ax.bar(np.arange(len(cos)), cos[order].numpy(), color=colours, width=1.0)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xlabel("units, by cosine")
    ax.set_ylabel("cosine with the direction")
    ax.set_title("curve family in orange")
    if two:
        ax = axes[0, 1]
        ax.plot([0, 360], [0, 360], color="0.6", lw=1)
        ax.plot(preferred.numpy(), probe_angles.numpy(), "o", color="#c55a11")
        ax.set_xlim(0, 360)
        ax.set_ylim(0, 360)
        ax.set_xticks([0, 90, 180, 270, 360])
        ax.set_yticks([0, 90, 180, 270, 360])
        ax.set_xlabel("preferred orientation (°)")
        ax.set_ylabel("probe's angle (°)")
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def signed_image(ax, w: Tensor, *, vmax: float | None = None, title: str | None = None) -> None:
    """Draw a 2-D signed array on ax with the diverging map centred on 0 (red +, blue -).

    >>> fig, ax = plt.subplots(); signed_image(ax, torch.randn(5, 5))
    """
    w = w.detach().cpu().float()
    vmax = float(w.abs().max()) or 1.0 if vmax is None else vmax
    ax.imshow(w.numpy(), cmap=SIGNED, vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def input_kernels(renders: Tensor, window: tuple[tuple[float, float], int], excitation: Tensor,
                  inhibition: Tensor, titles: Sequence[str], *, image_inches: float = 1.0
                  ) -> plt.Figure:
    """What feeds a unit, one column per input unit: its render (N, 3, H, W) cut to
    `window` ((x, y), side in pixels), then the weights from it split by sign as
    `circuits.split_sign` gives them, excitation (N, k, k) in red and inhibition (N, k, k,
    both >= 0) in blue, on one colour scale.

    >>> w = torch.randn(2, 5, 5)
    >>> fig = input_kernels(torch.rand(2, 3, 16, 16), ((8.0, 8.0), 8), w.clamp(min=0),
    ...                     (-w).clamp(min=0), ["a", "b"])
    >>> len(fig.axes), fig.axes[0].images[0].get_array().shape[:2]  # 3 rows of 2; renders cut to 8 px
    (6, (8, 8))
    >>> bool(fig.axes[4].images[0].get_array().max() <= 0)  # inhibition drawn below zero: blue
    True
    """
    pictures = crop(renders.detach().cpu().float(), window)
    n = len(pictures)
    vmax = float(torch.cat([excitation.flatten(), inhibition.flatten()]).abs().max()) or 1.0
    fig, axes = plt.subplots(3, n, figsize=(0.9 + image_inches * n, 3 * image_inches + 0.4),
                             squeeze=False)
    for j in range(n):
        axes[0, j].imshow(to_numpy_image(pictures[j]), interpolation="nearest")
        axes[0, j].set_title(titles[j], fontsize=10)
        signed_image(axes[1, j], excitation[j], vmax=vmax)
        signed_image(axes[2, j], -inhibition[j], vmax=vmax)  # blue: inhibition
    for r, label in enumerate(("input unit", "excitation", "inhibition")):
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=10)
    fig.tight_layout()
    return fig


def show_signed(maps: Tensor, titles: Sequence[str] | None = None, *, ncols: int = 8,
                image_inches: float = 0.85, shared_scale: bool = True, suptitle: str | None = None
                ) -> plt.Figure:
    """A grid of signed 2-D maps (N, H, W) (weights, expanded weights, signed
    attributions): red positive, blue negative, one colour scale unless shared_scale=False.

    >>> fig = show_signed(torch.randn(3, 5, 5), ["a", "b", "c"])
    """
    n = len(maps)
    vmax = float(maps.abs().max()) or 1.0
    fig, axes = _grid(n, ncols, image_inches, 0.3 * bool(titles) + 0.3 * bool(suptitle))
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.axis("on")
            signed_image(ax, maps[i], vmax=vmax if shared_scale else None,
                         title=None if titles is None else titles[i])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def composite_reading(reading, orientations_deg: Tensor, *,
                      figsize: tuple[float, float] = (3.4, 3.4)) -> plt.Figure:
    """Draw a `circuits.composite_reading`: in each cell of the unit's k x k window, the
    arc that the family member exciting it most there prefers (orientations_deg: (F,),
    each member's preferred orientation in degrees), faded by the weight; a blank cell
    where no member excites the unit.

    >>> from interp_lib.circuits import CompositeReading
    >>> reading = CompositeReading("conv4", 7, best=torch.tensor([[0, -1], [1, 1]]),
    ...                            weight=torch.tensor([[1.0, -0.2], [0.5, 0.25]]))
    >>> fig = composite_reading(reading, torch.tensor([90.0, 270.0]))  # bulging down, then up
    >>> [len(ax.images) for ax in fig.axes]  # an arc in each cell but the inhibiting one
    [1, 0, 1, 1]
    """
    from interp_lib.organism import stimuli

    k = reading.best.shape[-1]
    value = reading.weight.detach().cpu().float().clamp(min=0)
    vmax = float(value.max()) or 1.0
    fig, axes = plt.subplots(k, k, figsize=figsize, squeeze=False)
    for y in range(k):
        for x in range(k):
            ax = axes[y, x]
            ax.axis("off")
            member = int(reading.best[y, x])
            if member >= 0:
                glyph = stimuli.curves(float(orientations_deg[member]), radius=7.0, size=24,
                                       width=3.0)[0]
                alpha = float(value[y, x]) / vmax
                ax.imshow(to_numpy_image(1 - alpha * glyph))  # a dark arc, faded by the weight
    fig.suptitle(f"unit {reading.channel} of {reading.layer}: the strongest curve input at "
                 "each position", fontsize=10)
    fig.tight_layout()
    return fig


def heatmap(matrix: Tensor, *, row_labels: Sequence[str] | None = None,
            col_labels: Sequence[str] | None = None, signed: bool = False,
            figsize: tuple[float, float] = (4.0, 3.4), title: str | None = None,
            xlabel: str | None = None, ylabel: str | None = None, annotate: bool = False
            ) -> plt.Figure:
    """A labelled matrix with a colour bar: CKA between layers, weights between families.
    signed=True centres a diverging map on 0.

    >>> fig = heatmap(torch.rand(3, 4), row_labels=list("abc"), col_labels=list("wxyz"))
    """
    m = matrix.detach().cpu().float()
    fig, ax = plt.subplots(figsize=figsize)
    if signed:
        vmax = float(m.abs().max()) or 1.0
        im = ax.imshow(m.numpy(), cmap=SIGNED, vmin=-vmax, vmax=vmax, aspect="auto")
    else:
        im = ax.imshow(m.numpy(), cmap="viridis", aspect="auto")
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels, fontsize=10)
    if col_labels is not None:
        crowded = len(col_labels) * max(len(c) for c in col_labels) > 40
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=90 if crowded else 0,
                      fontsize=10)
    if annotate:
        for (i, j), v in np.ndenumerate(m.numpy()):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=10,
                    color="white" if not signed and v < m.mean() else "black")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def weight_by_orientation(panels: Mapping[str, tuple[Tensor, Tensor, Tensor]], *,
                          bin_deg: float = 30.0, panel_inches: float = 3.1) -> plt.Figure:
    """Is a curve circuit wired same to same? One panel per title in `panels`, each
    (weights (T, F) from `circuits.family_weights`, to_orientations_deg (T,),
    from_orientations_deg (F,)): a dot per pair of units at their orientation difference
    (0 to 180 degrees) and summed weight, and the mean weight per `bin_deg` bin (black).
    Same-to-same wiring falls from left (same orientation) to right (opposite). The y
    axis spans the middle 98% of the weights, so that a few large ones do not flatten it.

    >>> w = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])  # each excites its own kind
    >>> fig = weight_by_orientation({"toy": (w, torch.tensor([0.0, 180.0]), torch.tensor([0.0, 180.0]))})
    >>> [float(y) for y in fig.axes[0].lines[0].get_ydata()[[0, -1]]]  # mean weight: same, opposite
    [1.0, -1.0]
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_inches * len(panels), 0.8 * panel_inches),
                             squeeze=False, sharey=False)
    edges = np.arange(0.0, 180.0 + bin_deg, bin_deg)
    for ax, (title, (w, to_deg, from_deg)) in zip(axes[0], panels.items()):
        d = (to_deg.float()[:, None] - from_deg.float()[None, :]).abs() % 360
        d = torch.minimum(d, 360 - d).flatten().numpy()
        v = w.detach().cpu().float().flatten().numpy()
        ax.scatter(d, v, s=6, color="tab:blue", alpha=0.35, linewidths=0)
        which = np.clip(np.digitize(d, edges) - 1, 0, len(edges) - 2)
        centres = [(edges[b] + edges[b + 1]) / 2 for b in range(len(edges) - 1) if (which == b).any()]
        means = [v[which == b].mean() for b in range(len(edges) - 1) if (which == b).any()]
        ax.plot(centres, means, color="black", marker="o", ms=4, lw=1.5)
        ax.axhline(0, color="0.6", lw=0.8)
        low, high = np.percentile(v, [1, 99])
        pad = 0.1 * (high - low) or 1.0
        ax.set_ylim(min(low, min(means)) - pad, max(high, max(means)) + pad)
        ax.set_xticks([0, 45, 90, 135, 180])
        ax.set_xlabel("orientation difference (°)")
        ax.set_title(title, fontsize=10)
    axes[0, 0].set_ylabel("summed weight")
    fig.tight_layout()
    return fig


def attribution_heatmap(attr: Tensor) -> Tensor:
    """(C, H, W) or (1, H, W) attribution -> (H, W) magnitude in [0, 1] (99th percentile = 1).

    >>> attribution_heatmap(torch.ones(3, 4, 4)).max()
    tensor(1.)
    """
    m = attr.detach().abs().sum(dim=0).cpu()
    scale = torch.quantile(m.flatten(), 0.99).clamp_min(1e-12)
    return (m / scale).clamp(0, 1)


def signed_attribution(attr: Tensor) -> Tensor:
    """(C, H, W) attribution -> (H, W) summed over channels, scaled to [-1, 1] by its
    99th percentile of magnitude: positive pushed the score up, negative down.

    >>> signed_attribution(-torch.ones(3, 4, 4)).min()
    tensor(-1.)
    """
    m = attr.detach().sum(dim=0).cpu()
    scale = torch.quantile(m.abs().flatten(), 0.99).clamp_min(1e-12)
    return (m / scale).clamp(-1, 1)


def show_attributions(images: Tensor, maps: dict[str, Tensor], *, image_inches: float = 1.0,
                      signed: Sequence[str] = ()) -> plt.Figure:
    """Rows: images (N, 3, H, W); columns: the image, then each method's map.

    A map is shown as the magnitude of the attribution summed over channels, on
    the image in grey, scaled per image so its 99th percentile is fully bright
    (inferno); the methods named in `signed` keep their sign, on the diverging
    map (red: raised the score, blue: lowered it).

    >>> fig = show_attributions(torch.rand(2, 3, 8, 8), {"m": torch.randn(2, 3, 8, 8)}, signed=["m"])
    """
    n = len(images)
    ncols = 1 + len(maps)
    title_lines = max([name.count("\n") + 1 for name in maps] + [1])
    height = image_inches * n + 0.25 + 0.2 * title_lines
    fig, axes = plt.subplots(n, ncols, figsize=(image_inches * ncols, height), squeeze=False)
    for row in range(n):
        img = to_numpy_image(images[row])
        axes[row, 0].imshow(img)
        grey = img.mean(axis=2)
        for col, (name, attr) in enumerate(maps.items(), start=1):
            keep_sign = name in signed
            heat = (signed_attribution(attr[row]) if keep_sign else attribution_heatmap(attr[row]))
            heat = heat.numpy()
            if heat.shape != grey.shape:  # a layer map: stretch to the image
                heat = torch.nn.functional.interpolate(
                    torch.as_tensor(heat)[None, None], size=grey.shape, mode="nearest")[0, 0].numpy()
            axes[row, col].imshow(grey, cmap="gray", alpha=0.35)
            if keep_sign:
                axes[row, col].imshow(heat, cmap=SIGNED, alpha=0.85, vmin=-1, vmax=1)
            else:
                axes[row, col].imshow(heat, cmap="inferno", alpha=0.8, vmin=0, vmax=1)
            if row == 0:
                axes[row, col].set_title(name, fontsize=10)
    for ax in axes.flat:
        ax.axis("off")
    if n:
        axes[0, 0].set_title("image", fontsize=10)
    fig.tight_layout()
    return fig


def randomization_curves(result, *, threshold: float = 0.5,
                         figsize: tuple[float, float] = (6.6, 3.0)) -> plt.Figure:
    """The sanity check's curves, from an `attribution.cascading_randomization` result: each
    method's rank correlation with its original map as layers are randomised from the top,
    a method whose name holds "control" dashed, a grey line at `threshold`.

    >>> from interp_lib.attribution import RandomizationResult
    >>> r = RandomizationResult(["fc", "conv1"], {"a": [0.9, 0.1], "edges (control)": [1.0, 1.0]})
    >>> fig = randomization_curves(r)
    >>> [line.get_linestyle() for line in fig.axes[0].lines]  # two methods, then the threshold
    ['-', '--', '-']
    """
    fig, ax = plt.subplots(figsize=figsize)
    stages = range(1, len(result.layers) + 1)
    for name, values in result.correlation.items():
        ax.plot(stages, values, marker="o", ms=3, label=name, ls="--" if "control" in name else "-")
    ax.axhline(threshold, color="0.7", lw=0.8)
    ax.set_xticks(stages, [f"+{n}" for n in result.layers])
    ax.set_xlabel("layers randomized, from the top (cumulative)")
    ax.set_ylabel("rank correlation with\nthe original map")
    ax.set_ylim(-0.1, 1.05)
    ax.legend(fontsize=10, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def neuron_stacks(W: Tensor, *, titles: Sequence[str] | None = None,
                  neuron_labels: Sequence[Sequence[str]] | None = None, ncols: int = 3,
                  figsize: tuple[float, float] | None = None) -> plt.Figure:
    """Per-neuron stacked bars, as in Toy Models of Superposition: W (P, m, n), P models
    of m neurons and n features; in each panel one bar per neuron, its weights from the
    features stacked, positive above the axis and negative below, each feature in its
    own colour (a legend below). A bar of one colour is a monosemantic neuron.
    neuron_labels: (P, m) texts under the bars. Panels of a row share their scale.

    >>> fig = neuron_stacks(torch.tensor([[[1.0, 0.0], [0.5, -0.5]]]))
    >>> len(fig.axes[0].patches)  # one rectangle per weight
    4
    """
    W = W.detach().cpu().float()
    n_models, m, n = W.shape
    colours = plt.cm.tab10(np.arange(n)) if n <= 10 else plt.cm.viridis(np.linspace(0, 0.9, n))
    rows = -(-n_models // ncols)
    fig, axes = plt.subplots(rows, min(ncols, n_models), squeeze=False, sharey="row",
                             figsize=figsize or (COLUMN, 2.3 * rows + 0.5))
    for k, ax in enumerate(axes.flat):
        if k >= n_models:
            ax.axis("off")
            continue
        for neuron in range(m):
            up = down = 0.0
            for j in range(n):
                w = float(W[k, neuron, j])
                ax.bar(neuron, w, bottom=up if w >= 0 else down, color=colours[j], width=0.8,
                       linewidth=0)
                up, down = (up + w, down) if w >= 0 else (up, down + w)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xticks(range(m))
        ax.set_xticklabels(neuron_labels[k] if neuron_labels is not None else [""] * m)
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    for row in axes:
        row[0].set_ylabel("weight")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[j]) for j in range(n)]
    fig.legend(handles, [str(j) for j in range(n)], title="feature", loc="lower center",
               ncol=min(n, 10), frameon=False, fontsize=10, handlelength=1.0, columnspacing=1.0)
    fig.tight_layout(rect=(0, 0.12 if rows == 1 else 0.08, 1, 1))
    return fig


def phase_maps(maps: Mapping[str, Tensor], x: Tensor, y: Tensor, *, labels: Sequence[str],
               boundary: tuple[Tensor, Tensor, Tensor] | None = None, xlabel: str = "",
               ylabel: str = "", figsize: tuple[float, float] = (COLUMN, 3.2)) -> plt.Figure:
    """Phase diagrams side by side: each map (R, P) holds, for each y (R,) and x (P,), an
    index into `labels`, drawn as coloured cells on log axes. boundary: (x_fine, y_fine,
    phase_fine (R', P')), whose edges are drawn as black lines on every panel (a
    theory's boundaries over the trained cells, say).

    >>> fig = phase_maps({"a": torch.tensor([[0, 1], [2, 2]])}, torch.tensor([1.0, 0.1]),
    ...                  torch.tensor([0.5, 2.0]), labels=["x", "y", "z"])
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    colours = ["#d9d9d9", "#4c72b0", "#dd8452"][:len(labels)]

    def edges(v: Tensor) -> np.ndarray:  # cell edges halfway between centres, on a log scale
        lv = np.log10(v.double().numpy())
        mid = (lv[1:] + lv[:-1]) / 2
        return 10 ** np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]])

    fig, axes = plt.subplots(1, len(maps), figsize=figsize, sharey=True, squeeze=False)
    for ax, (title, phase) in zip(axes[0], maps.items()):
        ax.pcolormesh(edges(x), edges(y), phase.numpy(), cmap=ListedColormap(colours),
                      vmin=-0.5, vmax=len(colours) - 0.5)
        if boundary is not None:
            bx, by, bz = boundary
            ax.contour(bx.numpy(), by.numpy(), bz.float().numpy(),
                       levels=np.arange(0.5, len(labels) - 0.5), colors="black", linewidths=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if x[0] > x[-1]:
            ax.invert_xaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
    axes[0, 0].set_ylabel(ylabel)
    fig.legend(handles=[Patch(color=c, label=lab) for c, lab in zip(colours, labels)],
               loc="lower center", ncol=len(labels), frameon=False, fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
