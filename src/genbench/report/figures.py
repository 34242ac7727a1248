"""The report's figures, in one style: matplotlib (Agg), a colour-blind-safe palette, labelled axes.

Each function returns a matplotlib figure; `png` turns it into deterministic PNG bytes.
"""

from __future__ import annotations

import io

import numpy as np

# Okabe and Ito's palette: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
REAL_COLOUR = "#9a9a9a"
# Sequential map that stays ordered in greyscale and for colour-blind readers.
SEQUENTIAL_CMAP = "cividis"
DPI = 100
IMAGE_PIXELS = 32  # screen pixels per image in a grid, at least
LABEL_CHARACTERS = 14  # longer class names are cut on axes (the page lists them whole)
ROW_LABEL_CHARACTERS = 40  # an image grid's rows may be prompts: "a thick seven slanted left (held out)"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "axes.prop_cycle": cycler(color=PALETTE),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "text.parse_math": False,  # labels from data are text, never math markup
        }
    )
    return plt


def _short(label: str, limit: int = LABEL_CHARACTERS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def png(fig) -> bytes:
    buffer = io.BytesIO()
    # No software or date metadata: identical figures give identical bytes.
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def confusion_matrix(matrix: list[list[int]], classes: list[str], title: str):
    plt = _pyplot()
    counts = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    image = ax.imshow(counts, cmap=SEQUENTIAL_CMAP)
    ax.set_title(title)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ticks = range(len(classes))
    labels = [_short(c) for c in classes]
    ax.set_xticks(ticks, labels, rotation=90 if max(map(len, labels)) > 2 else 0)
    ax.set_yticks(ticks, labels)
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        if value:
            ax.text(
                col,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=7,
                color="black" if value > threshold else "white",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="test images")
    return fig


def pixel_heatmap(values: np.ndarray, title: str, label: str):
    """A per-pixel quantity (H, W) drawn in the image's own shape."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.4, 3.0))
    image = ax.imshow(values, cmap=SEQUENTIAL_CMAP, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("pixel column")
    ax.set_ylabel("pixel row")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    return fig


def image_grid(
    rows: list[np.ndarray], row_labels: list[str], title: str, column_labels: list[str] | None = None, x_label: str = ""
):
    """Images (each row an array N x C x H x W in [0, 1]) in one mosaic, with a label per row and column."""
    plt = _pyplot()
    channels, height, width = rows[0].shape[1:]
    columns = max(len(row) for row in rows)
    pad = 1
    mosaic = np.ones((len(rows) * (height + pad) - pad, columns * (width + pad) - pad, channels), dtype=np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = r * (height + pad), c * (width + pad)
            mosaic[top : top + height, left : left + width] = image.transpose(1, 2, 0)
    scale = max(1, -(-IMAGE_PIXELS // width))
    # Axes sized to the mosaic in inches, with room for labels: no blank band around the images.
    image_w, image_h = mosaic.shape[1] * scale / DPI, mosaic.shape[0] * scale / DPI
    left, right, bottom, top = 1.0, 0.1, 0.4, 0.35
    fig_w, fig_h = image_w + left + right, image_h + bottom + top
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((left / fig_w, bottom / fig_h, image_w / fig_w, image_h / fig_h))
    if channels == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(mosaic.clip(0, 1), interpolation="nearest")
    ax.set_title(title)
    ax.set_yticks(
        [r * (height + pad) + height / 2 - 0.5 for r in range(len(rows))],
        [_short(label, ROW_LABEL_CHARACTERS) for label in row_labels],
    )
    if column_labels:
        ax.set_xticks([c * (width + pad) + width / 2 - 0.5 for c in range(len(column_labels))], column_labels)
    else:
        ax.set_xticks([])
    ax.set_xlabel(x_label)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def feature_projection(real: np.ndarray, generated: dict[str, np.ndarray], axis_labels: tuple[str, str], title: str):
    """One panel per model: its samples over the real test images, on shared axes."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        1,
        len(generated),
        figsize=(3.0 * len(generated), 3.2),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, (model, points), colour in zip(axes[0], generated.items(), PALETTE):
        ax.scatter(real[:, 0], real[:, 1], s=6, color=REAL_COLOUR, alpha=0.6, linewidths=0, label="real test images")
        ax.scatter(points[:, 0], points[:, 1], s=6, color=colour, alpha=0.7, linewidths=0, label=f"{model} samples")
        ax.set_title(model)
        ax.set_xlabel(axis_labels[0])
        ax.legend(loc="best", markerscale=2, frameon=False)
    axes[0][0].set_ylabel(axis_labels[1])
    fig.suptitle(title)
    return fig


def training_curves(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], title: str):
    """One panel per model, one line per logged loss, against the training step."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.0), squeeze=False, layout="constrained")
    for ax, (model, losses) in zip(axes[0], curves.items()):
        for name, (steps, values) in losses.items():
            ax.plot(steps, values, label=name, linewidth=1.4)
        ax.set_title(model)
        ax.set_xlabel("training step")
        ax.set_ylabel("loss (per batch)")
        if len(losses) > 1:
            ax.legend(frameon=False)
    fig.suptitle(title)
    return fig
