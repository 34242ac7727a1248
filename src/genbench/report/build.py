"""report: every metrics file of the models in params.yaml, rendered into one HTML page."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from genbench import artifacts, paths
from genbench.config import Params
from genbench.data.sources import SOURCES
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
    meta = artifacts.read_json(paths.processed_meta(dataset))
    classes = [str(c) for c in meta["classes"]]
    classifier_metrics = {model: artifacts.read_json(paths.metrics_file(dataset, model)) for model in [*params.models.classic, "featurenet"]}
    rows = [{"model": model, "values": _values(m, CLASSIC_COLUMNS)} for model, m in classifier_metrics.items()]
    generative_metrics = {model: artifacts.read_json(paths.metrics_file(dataset, model)) for model in params.models.generative}
    generative = [{"model": model, "values": _values(m, GENERATIVE_COLUMNS)} for model, m in generative_metrics.items()]
    sample_classes = [{"model": model, "values": _values(m, CLASS_COLUMNS)} for model, m in generative_metrics.items()]
    conditional = {model: bool(m.get("conditional")) for model, m in generative_metrics.items()}
    return {
        "name": dataset, "source": source, "meta": meta, "classes": classes,
        "rows": rows, "best": _best_per_column(rows, CLASSIC_COLUMNS),
        "classifier_figures": dataset_figures.classifier_figures(params, dataset, classes, meta["image_shape"], classifier_metrics, figure_files),
        "generative_figures": dataset_figures.generative_figures(params, dataset, classes, conditional, figure_files) if generative else None,
        "generative": generative, "generative_best": _best_per_column(generative, GENERATIVE_COLUMNS),
        "sample_classes": sample_classes, "max_entropy_bits": math.log2(max(len(classes), 1)), "sample_classes_best": _best_per_column(sample_classes, CLASS_COLUMNS),
        "ddpm_samplers": generative_metrics["ddpm"]["sampler_comparison"] if "ddpm" in generative_metrics else None,
        "references": _reference_rows(dataset) if generative else [],
        "n_compared": next((m["n_images"] for m in generative_metrics.values()), None),
        "likelihood_notes": [f"{model}: {m['likelihood']['note']}" for model, m in generative_metrics.items() if m.get("likelihood")],
    }


def _reference_rows(dataset: str) -> list[dict]:
    references = artifacts.read_json(paths.references_file(dataset))
    return [
        {"model": "real training images (floor)", "values": _values(references["real_train_vs_test"], GENERATIVE_COLUMNS)},
        {"model": "Gaussian noise (ceiling)", "values": _values(references["noise_vs_test"], GENERATIVE_COLUMNS)},
    ]


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
