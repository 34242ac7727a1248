"""report: every metrics file of the models in params.yaml, rendered into one HTML page."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from genbench import artifacts, git, paths, records, timings
from genbench.config import Params
from genbench.data.sources import SOURCES
from genbench.errors import DataError
from genbench.report import changes, dataset_figures, provenance

# Summary columns: (key in the row, heading, better when "max" or "min", format). A row is a model's
# metrics file; "timing." keys come from its stages' timing records, "cas." ones from the CAS stage.
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
    ("timing.sample_seconds_per_1000", "sampling (s/1000)", "min", "{:.2f}"),
)
TIMING_KEYS = ("fit_seconds", "train_seconds", "predict_seconds", "seconds_per_1000")


def stage(params: Params, job) -> None:
    run(params, job.params_path, paths.REPORT, paths.REPORT_FIGURES)


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
    # The one thing read here that is no input of the stage: the page says it is the state it was rendered in.
    rendered_at = git.head_state(ignored=("dvc.lock",))  # DVC rewrites dvc.lock during the very run
    return env.get_template("index.html.j2").render(
        datasets=[_dataset_section(params, d, figure_files) for d in params.datasets],
        columns=CLASSIC_COLUMNS,
        generative_columns=GENERATIVE_COLUMNS,
        class_columns=CLASS_COLUMNS,
        evaluate=params.evaluate,
        changes=changes.since_head(rendered_at["commit"]),
        params_text=yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False),
        params_path=str(params_path),
        rendered_at=rendered_at,
        provenance=provenance.collect(params),
    )


def _timing(command: str, dataset: str, model: str | None = None) -> dict:
    """The figures of one stage's timing record, checked to be numbers."""
    path = paths.timing_file(command, dataset, model)
    record = timings.read(path)
    figures = {key: record[key] for key in TIMING_KEYS if key in record}
    _check_metrics(path, figures, [(key,) for key in figures], ())
    return figures


def _dataset_section(params: Params, dataset: str, figure_files: dataset_figures.FigureFiles) -> dict:
    source = SOURCES[dataset]
    meta = records.read(paths.processed_meta(dataset), records.DatasetMeta).model_dump()
    classes = meta["classes"]
    classifier_metrics = {model: _classifier_metrics(paths.metrics_file(dataset, model), len(classes)) for model in [*params.models.classic, "featurenet"]}
    rows = [
        {"model": model, "values": _values(m | {"timing": _classifier_timing(dataset, model)}, CLASSIC_COLUMNS)}
        for model, m in classifier_metrics.items()
    ]
    generative_metrics = {model: _generative_metrics(paths.metrics_file(dataset, model)) for model in params.models.generative}
    generative, sample_classes, samplers, references = [], [], [], []
    if generative_metrics:  # every metrics file is read and checked before any figure is drawn
        scores = _cas(dataset)
        for model, m in generative_metrics.items():
            train, sample = _timing("train", dataset, model), _timing("sample", dataset, model)
            timing = {"train_seconds": train.get("train_seconds"), "sample_seconds_per_1000": sample.get("seconds_per_1000")}
            generative.append({"model": model, "values": _values(m | {"cas": scores["models"].get(model), "timing": timing}, GENERATIVE_COLUMNS)})
            sample_classes.append({"model": model, "values": _values(m, CLASS_COLUMNS)})
            samplers += _samplers(dataset, model)
        references = _reference_rows(dataset, scores["real_train"])
    return {
        "name": dataset, "source": source, "meta": meta, "classes": classes,
        "rows": rows, "best": _best_per_column(rows, CLASSIC_COLUMNS),
        "classifier_figures": dataset_figures.classifier_figures(params, dataset, classes, meta["image_shape"], classifier_metrics, figure_files),
        "generative_figures": dataset_figures.generative_figures(params, dataset, classes, meta["image_shape"], {m: g["conditional"] for m, g in generative_metrics.items()}, figure_files) if generative else None,
        "generative": generative, "generative_best": _best_per_column(generative, GENERATIVE_COLUMNS),
        "sample_classes": sample_classes, "max_entropy_bits": math.log2(max(len(classes), 1)), "sample_classes_best": _best_per_column(sample_classes, CLASS_COLUMNS),
        "samplers": samplers,
        "references": references,
        "n_compared": next((m["n_images"] for m in generative_metrics.values()), None),
        "likelihood_notes": [f"{model}: {m['likelihood']['note']}" for model, m in generative_metrics.items() if m.get("likelihood")],
    }


def _classifier_timing(dataset: str, model: str) -> dict:
    trained = _timing("train", dataset, model)
    return {"fit_seconds": trained.get("fit_seconds", trained.get("train_seconds")), **_timing("evaluate", dataset, model)}


def _samplers(dataset: str, model: str) -> list[dict]:
    """A model's sampler timings (its sampler_timings() hook), from its evaluate stage's timing record."""
    path = paths.timing_file("evaluate", dataset, model)
    timed = timings.read(path).get("sampler_timings")
    if timed is None:
        return []
    try:
        return [
            {"model": model, "sampler": name, "steps": int(entry["steps"]), "seconds_per_1000": float(entry["seconds_per_1000"]),
             "n_images": int(timed["n_images"]), "device": str(timed["device"])}
            for name, entry in timed["samplers"].items()
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise DataError(f"{path}: sampler_timings is not a record of steps and seconds per sampler; rerun its evaluate stage") from None


def _cas(dataset: str) -> dict:
    path = paths.cas_file(dataset)
    scores = artifacts.read_json(path)
    if not isinstance(scores, dict) or not isinstance(scores.get("models"), dict) or not isinstance(scores.get("real_train"), dict):
        raise DataError(f"{path}: expected models and real_train; rerun the stage that makes it")
    for model, by_classifier in [*scores["models"].items(), ("real_train", scores["real_train"])]:
        _check_metrics(path, {"cas": by_classifier}, [c for c in GENERATIVE_COLUMNS if c[0].startswith("cas.")], (), f"{model}.")
    return scores


def _reference_rows(dataset: str, real_train_cas: dict) -> list[dict]:
    path = paths.references_file(dataset)
    references = _metrics_file(path, GENERATIVE_COLUMNS, ())
    for part in ("real_train_vs_test", "noise_vs_test"):
        _check_metrics(path, references.get(part), GENERATIVE_COLUMNS, HEADLINE_GENERATIVE, f"{part}.")
    return [
        {"model": "real training images (floor)", "values": _values(references["real_train_vs_test"] | {"cas": real_train_cas}, GENERATIVE_COLUMNS)},
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
