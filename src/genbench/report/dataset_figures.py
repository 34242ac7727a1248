"""The figures of one dataset's section, drawn from the pipeline's artifacts.

Each figure is kept twice: as a PNG file under reports/figures/ (for Snakemake's report and
`dvc plots`) and inline in the HTML page, which must open from disk with no other file.
"""

from __future__ import annotations

import base64
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genbench import artifacts, paths, pipeline, views
from genbench.config import Params
from genbench.data import splits
from genbench.errors import DataError
from genbench.report import figures

GRID_COLUMNS = 10
UNCONDITIONAL_ROWS = 10


@dataclass
class Figure:
    uri: str
    alt: str
    caption: str


@dataclass
class FigureFiles:
    """PNG bytes by path under reports/figures/, collected while the page is rendered."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, name: str, fig, alt: str, caption: str) -> Figure:
        data = figures.png(fig)
        self.files[name] = data
        return Figure("data:image/png;base64," + base64.b64encode(data).decode("ascii"), alt, caption)


def classifier_figures(
    params: Params,
    dataset: str,
    seed: int,
    classes: list[str],
    image_shape: list[int],
    metrics: dict[str, dict],
    out: FigureFiles,
) -> list[Figure]:
    """Seed `seed`'s confusion matrices, and the figures each classic model drew of itself (its figures() hook)."""
    shown = [
        out.add(
            f"{dataset}/confusion-{model}.png",
            figures.confusion_matrix(m["confusion_matrix"], classes, f"{model} on {dataset}, seed {seed}"),
            f"confusion matrix of {model} on {dataset}",
            f"{model}, seed {seed}: test images by true and predicted class.",
        )
        for model, m in metrics.items()
    ]
    for model in params.models.classic:
        for pixel_map in views.load_maps(paths.model_figures_file(dataset, model, seed), tuple(image_shape)):
            shown.append(
                out.add(
                    f"{dataset}/{pixel_map.name}-{model}.png",
                    figures.pixel_heatmap(pixel_map.values, pixel_map.title, pixel_map.label),
                    pixel_map.alt,
                    pixel_map.caption,
                )
            )
    return shown


def generative_figures(
    params: Params,
    dataset: str,
    seed: int,
    classes: list[str],
    image_shape: tuple[int, int, int],
    conditional: dict[str, bool],
    out: FigureFiles,
) -> dict[str, list[Figure]]:
    """Seed `seed`'s samples, views, feature-space projection and training curves."""
    models = list(params.models.generative)
    test = splits.load(paths.processed_data(dataset), ("test",), n_classes=len(classes))
    shown = {
        "samples": [
            out.add(
                f"{dataset}/real.png",
                figures.image_grid(
                    _rows_by_class(test["x_test"], test["y_test"], len(classes)),
                    classes,
                    f"real test images, {dataset}",
                ),
                f"real test images of {dataset}",
                "Real test images, one row per class: what the samples should look like.",
            )
        ]
    }
    for model in models:
        samples = _samples(paths.samples_dir(dataset, model, seed) / paths.SAMPLES, image_shape, len(classes))
        if conditional[model]:
            rows, labels, how = (
                _rows_by_class(samples["x"], samples["y"], len(classes)),
                classes,
                "one row per class asked for",
            )
        else:
            flat = samples["x"][: GRID_COLUMNS * UNCONDITIONAL_ROWS]
            rows, labels, how = (
                [flat[i : i + GRID_COLUMNS] for i in range(0, len(flat), GRID_COLUMNS)],
                [""] * UNCONDITIONAL_ROWS,
                "random draws",
            )
        shown["samples"].append(
            out.add(
                f"{dataset}/samples-{model}.png",
                figures.image_grid(rows, labels[: len(rows)], f"{model} samples, {dataset}"),
                f"samples of {model} on {dataset}",
                f"{model}: {how}.",
            )
        )
    shown["how"] = _model_views(dataset, seed, models, image_shape, out)
    shown["features"] = [_projection(dataset, seed, models, out)] if models else []
    shown["training"] = [_training_curves(dataset, seed, [pipeline.FEATURE_SPACE, *models], out)]
    return shown


def _rows_by_class(images: np.ndarray, labels: np.ndarray, n_classes: int) -> list[np.ndarray]:
    rows = [images[labels == c][:GRID_COLUMNS] for c in range(n_classes)]
    empty = np.ones((0, *images.shape[1:]), dtype=images.dtype)
    return [row if len(row) else empty for row in rows]


def _samples(path: Path, image_shape: tuple[int, int, int], n_classes: int) -> dict[str, np.ndarray]:
    """Images and their labels as the sample stage wrote them, checked before drawing."""
    arrays = artifacts.load_npz(path, ("x", "y"))
    artifacts.check_images(path, "x", arrays["x"], image_shape)
    artifacts.check_labels(path, "y", arrays["y"], len(arrays["x"]), n_classes)
    return arrays


def _model_views(
    dataset: str, seed: int, models: list[str], image_shape: tuple[int, int, int], out: FigureFiles
) -> list[Figure]:
    """The figures each model shows of how it generates (its views() hook, drawn at sample time)."""
    return [
        out.add(
            f"{dataset}/{grid.name}-{model}.png",
            figures.image_grid(
                list(grid.images), grid.row_labels, grid.title, grid.column_labels or None, x_label=grid.x_label
            ),
            grid.alt,
            grid.caption,
        )
        for model in models
        for grid in views.load(paths.samples_dir(dataset, model, seed) / paths.VIEWS, image_shape)
    ]


def _points(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays = artifacts.load_npz(path, keys)
    for key in ("real", "generated"):
        if arrays[key].ndim != 2 or arrays[key].shape[1] != 2 or not np.isfinite(arrays[key]).all():
            raise DataError(
                f"{path}: {key} has shape {arrays[key].shape} or points that are not finite; expected (N, 2) numbers"
            )
    return arrays


def _projection(dataset: str, seed: int, models: list[str], out: FigureFiles) -> Figure:
    keys = ("real", "generated", "explained_variance_ratio")
    projections = {m: _points(paths.projection_file(dataset, m, seed), keys) for m in models}
    first = projections[models[0]]
    ratio = first["explained_variance_ratio"]
    return out.add(
        f"{dataset}/features-2d.png",
        figures.feature_projection(
            first["real"],
            {m: p["generated"] for m, p in projections.items()},
            (f"PC 1 ({ratio[0]:.0%} of variance)", f"PC 2 ({ratio[1]:.0%} of variance)"),
            f"featurenet features, {dataset}",
        ),
        f"2-D projection of real and generated features on {dataset}",
        "Featurenet features of the real test images (grey) and of each model's samples, on the first two principal "
        "axes "
        "of the real features. Samples that cover the grey cloud evenly have high recall; samples off it, low "
        "precision.",
    )


def _training_curves(dataset: str, seed: int, models: list[str], out: FigureFiles) -> Figure:
    curves = {model: _losses(paths.training_log_dir(dataset, model, seed)) for model in models}
    return out.add(
        f"{dataset}/training.png",
        figures.training_curves({m: c for m, c in curves.items() if c}, f"training losses, {dataset}"),
        f"training curves of the deep models on {dataset}",
        "Training losses logged by dvclive (reports/training/): each model's own objective, so the scales differ.",
    )


def _losses(log_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """dvclive's loss curves of one model: {name: (steps, values)}."""
    curves = {}
    for tsv in sorted((log_dir / "plots" / "metrics" / "loss").glob("*.tsv")):
        try:
            with tsv.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            curves[tsv.stem] = (
                np.array([float(r["step"]) for r in rows]),
                np.array([float(r[tsv.stem]) for r in rows]),
            )
        except (KeyError, ValueError, TypeError, UnicodeDecodeError):
            raise DataError(
                f"{tsv}: not a dvclive curve (expected tab-separated columns step and {tsv.stem})"
            ) from None
    return curves
