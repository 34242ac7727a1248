"""Report figures, drawn with matplotlib (Agg) and inlined as PNG data URIs."""

from __future__ import annotations

import base64
import io

import numpy as np

# Colour-blind-safe sequential map, readable in greyscale too.
SEQUENTIAL_CMAP = "cividis"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 100, "savefig.dpi": 100})
    return plt


def png_data_uri(fig) -> str:
    buffer = io.BytesIO()
    # Fixed metadata keeps the bytes identical for identical figures.
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_file_data_uri(path) -> str:
    from genbench.errors import DataError

    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the sample stage first") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise DataError(f"{path}: not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def confusion_matrix(matrix: list[list[int]], classes: list[str], title: str) -> str:
    plt = _pyplot()
    counts = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    image = ax.imshow(counts, cmap=SEQUENTIAL_CMAP)
    ax.set_title(title)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=90 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(ticks, classes)
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        if value:
            ax.text(col, row, str(value), ha="center", va="center", fontsize=7,
                    color="black" if value > threshold else "white")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="test images")
    return png_data_uri(fig)
