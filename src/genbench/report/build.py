"""report: every metrics file of the models in params.yaml, rendered into one HTML page."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.data.sources import SOURCES
from genbench.errors import DataError
from genbench.report import changes, dataset_figures, provenance

# Summary columns: (key in the metrics file, heading, better when "max" or "min", format).
CLASSIC_COLUMNS = (
    ("accuracy", "test accuracy", "max", "{:.2%}"),
    ("macro_f1", "macro-F1", "max", "{:.4f}"),
    ("timing.fit_seconds", "fit (s)", "min", "{:.3f}"),
    ("timing.predict_seconds", "predict (s)", "min", "{:.4f}"),
)
# How the featurenet classifies the samples.
CLASS_COLUMNS = (
    ("classes.label_agreement", "shows the class asked for", "max", "{:.1%}"),
    ("classes.entropy_bits", "class entropy (bits)", "max", "{:.3f}"),
    ("classes.coverage", "classes covered", "max", "{:.0%}"),
)
# Likelihood bounds of different models are on different data (binarised vs every pixel level), so none is "best".
GENERATIVE_COLUMNS = (
    ("fid", "FID", "min", "{:.2f}"),
    ("kid", "KID", "min", "{:.4f}"),
    ("precision", "precision", "max", "{:.3f}"),
    ("recall", "recall", "max", "{:.3f}"),
    ("cas.svm.accuracy", "CAS, SVM", "max", "{:.2%}"),
    ("cas.xgboost.accuracy", "CAS, XGBoost", "max", "{:.2%}"),
    ("likelihood.bits_per_dim", "NLL bound (bits/dim)", None, "{:.3f}"),
    ("timing.train_seconds", "train (s)", "min", "{:.1f}"),
    ("sampling.seconds_per_1000", "sampling (s/1000)", "min", "{:.2f}"),
)


def run(params: Params, params_path: Path, out: Path, figures_dir: Path) -> None:
    figure_files = dataset_figures.FigureFiles()
    html = render(params, params_path, figure_files)
    with artifacts.atomic_directory(figures_dir) as staging:
        for name, data in figure_files.files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
    artifacts.write_text(out, html)


def render(params: Params, params_path: Path, figure_files: dataset_figures.FigureFiles) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("genbench.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    provenance_ = provenance.collect(params, paths.DVC_LOCK)
    return env.get_template("index.html.j2").render(
        datasets=[_dataset_section(params, d, figure_files) for d in params.datasets],
        columns=CLASSIC_COLUMNS,
        generative_columns=GENERATIVE_COLUMNS,
        class_columns=CLASS_COLUMNS,
        evaluate=params.evaluate,
        changes=changes.since_head(provenance_["git"]["commit"]),
        params_text=yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False),
        params_path=str(params_path),
        provenance=provenance_,
    )


def _dataset_section(params: Params, dataset: str, figure_files: dataset_figures.FigureFiles) -> dict:
    source = SOURCES[dataset]
    meta = records.read(paths.processed_meta(dataset), records.DatasetMeta).model_dump()
    classes = meta["classes"]
    classifier_metrics = {model: _classifier_metrics(paths.metrics_file(dataset, model), len(classes)) for model in [*params.models.classic, "featurenet"]}
    rows = [{"model": model, "values": _values(m, CLASSIC_COLUMNS)} for model, m in classifier_metrics.items()]
    generative_metrics = {model: _generative_metrics(paths.metrics_file(dataset, model)) for model in params.models.generative}
    generative = [{"model": model, "values": _values(m, GENERATIVE_COLUMNS)} for model, m in generative_metrics.items()]
    sample_classes = [{"model": model, "values": _values(m, CLASS_COLUMNS)} for model, m in generative_metrics.items()]
    conditional = {model: m["conditional"] for model, m in generative_metrics.items()}
    references = _reference_rows(dataset) if generative else []  # every metrics file is read and checked before any figure is drawn
    return {
        "name": dataset, "source": source, "meta": meta, "classes": classes,
        "rows": rows, "best": _best_per_column(rows, CLASSIC_COLUMNS),
        "classifier_figures": dataset_figures.classifier_figures(params, dataset, classes, meta["image_shape"], classifier_metrics, figure_files),
        "generative_figures": dataset_figures.generative_figures(params, dataset, classes, meta["image_shape"], conditional, figure_files) if generative else None,
        "generative": generative, "generative_best": _best_per_column(generative, GENERATIVE_COLUMNS),
        "sample_classes": sample_classes, "max_entropy_bits": math.log2(max(len(classes), 1)), "sample_classes_best": _best_per_column(sample_classes, CLASS_COLUMNS),
        "ddpm_samplers": generative_metrics["ddpm"]["sampler_comparison"] if "ddpm" in generative_metrics else None,
        "references": references,
        "n_compared": next((m["n_images"] for m in generative_metrics.values()), None),
        "likelihood_notes": [f"{model}: {m['likelihood']['note']}" for model, m in generative_metrics.items() if m.get("likelihood")],
    }


def _reference_rows(dataset: str) -> list[dict]:
    path = paths.references_file(dataset)
    references = _metrics_file(path, GENERATIVE_COLUMNS, ())
    for part in ("real_train_vs_test", "noise_vs_test"):
        _check_metrics(path, references.get(part), GENERATIVE_COLUMNS, HEADLINE_GENERATIVE, f"{part}.")
    return [
        {"model": "real training images (floor)", "values": _values(references["real_train_vs_test"], GENERATIVE_COLUMNS)},
        {"model": "Gaussian noise (ceiling)", "values": _values(references["noise_vs_test"], GENERATIVE_COLUMNS)},
    ]


# Keys every metrics file of its kind holds; the other columns may be absent or null (a GAN has no likelihood).
HEADLINE_CLASSIFIER = ("accuracy", "macro_f1")
HEADLINE_GENERATIVE = ("fid", "kid", "precision", "recall")


def _classifier_metrics(path: Path, n_classes: int) -> dict:
    metrics = _metrics_file(path, CLASSIC_COLUMNS, HEADLINE_CLASSIFIER)
    matrix = metrics.get("confusion_matrix")
    square = isinstance(matrix, list) and len(matrix) == n_classes and all(isinstance(row, list) and len(row) == n_classes for row in matrix)
    if not square or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for row in matrix for v in row):
        raise DataError(f"{path}: confusion_matrix is not a {n_classes}×{n_classes} table of counts; rerun its evaluate stage")
    return metrics


def _generative_metrics(path: Path) -> dict:
    metrics = _metrics_file(path, (*GENERATIVE_COLUMNS, *CLASS_COLUMNS), HEADLINE_GENERATIVE)
    if not isinstance(metrics.get("n_images"), int) or not isinstance(metrics.get("conditional"), bool):
        raise DataError(f"{path}: n_images or conditional missing or of the wrong type; rerun its evaluate stage")
    return metrics


def _metrics_file(path: Path, columns, headline: tuple[str, ...]) -> dict:
    metrics = artifacts.read_json(path)
    _check_metrics(path, metrics, columns, headline)
    return metrics


def _check_metrics(path: Path, metrics, columns, headline: tuple[str, ...], prefix: str = "") -> None:
    """Every value the report shows is a number or null (NaN included: a metric may be undefined), and the headline ones are there."""
    if not isinstance(metrics, dict):
        raise DataError(f"{path}: {prefix or 'the file'} is not a JSON object; rerun the stage that makes it")
    for key, *_ in columns:
        value = _lookup(metrics, key)
        if value is None and key in headline:
            raise DataError(f"{path}: no {prefix}{key}; rerun the stage that makes it")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DataError(f"{path}: {prefix}{key} is {value!r}; expected a number")


def _values(metrics: dict, columns) -> dict:
    return {key: _lookup(metrics, key) for key, *_ in columns}


def _best_per_column(rows: list[dict], columns) -> dict:
    return {
        key: _best([row["values"][key] for row in rows if row["values"][key] is not None], direction) if direction else None
        for key, _, direction, _ in columns
    }


def _lookup(metrics: dict, dotted_key: str):
    """The value at a dotted key; None where a model has no such metric (a GAN's likelihood)."""
    value = metrics
    for part in dotted_key.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return None
        value = value[part]
    return value


def _best(values: list[float], direction: str) -> float | None:
    if not values:
        return None
    return max(values) if direction == "max" else min(values)
