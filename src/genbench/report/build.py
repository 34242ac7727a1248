"""report: every metrics file of the models in params.yaml, rendered into one HTML page."""

from __future__ import annotations

from pathlib import Path

import yaml

from genbench import artifacts, paths
from genbench.config import Params
from genbench.data.sources import SOURCES
from genbench.report import figures, provenance

# Summary columns: (key in the metrics file, heading, better when "max" or "min", format).
CLASSIC_COLUMNS = (
    ("accuracy", "test accuracy", "max", "{:.2%}"),
    ("macro_f1", "macro-F1", "max", "{:.4f}"),
    ("timing.fit_seconds", "fit (s)", "min", "{:.3f}"),
    ("timing.predict_seconds", "predict (s)", "min", "{:.4f}"),
)


def run(params: Params, params_path: Path, out: Path) -> None:
    html = render(params, params_path)
    artifacts.write_text(out, html)


def render(params: Params, params_path: Path) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("genbench.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    return env.get_template("index.html.j2").render(
        datasets=[_dataset_section(params, d) for d in params.datasets],
        columns=CLASSIC_COLUMNS,
        params_text=yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False),
        params_path=str(params_path),
        provenance=provenance.collect(paths.DVC_LOCK),
    )


def _dataset_section(params: Params, dataset: str) -> dict:
    source = SOURCES[dataset]
    meta = artifacts.read_json(paths.processed_meta(dataset))
    rows = []
    for model in [*params.models.classic, "featurenet"]:
        metrics = artifacts.read_json(paths.metrics_file(dataset, model))
        rows.append({
            "model": model,
            "values": {key: _lookup(metrics, key) for key, *_ in CLASSIC_COLUMNS},
            "confusion": figures.confusion_matrix(metrics["confusion_matrix"], meta["classes"], f"{model} on {dataset}"),
        })
    best = {key: _best([row["values"][key] for row in rows], direction) for key, _, direction, _ in CLASSIC_COLUMNS}
    samples = [
        {
            "model": model,
            "grid": figures.png_file_data_uri(paths.samples_dir(dataset, model) / "grid.png"),
            "info": artifacts.read_json(paths.samples_dir(dataset, model) / "sample.json"),
        }
        for model in params.models.generative
    ]
    return {"name": dataset, "source": source, "meta": meta, "rows": rows, "best": best, "samples": samples}


def _lookup(metrics: dict, dotted_key: str):
    value = metrics
    for part in dotted_key.split("."):
        value = value[part]
    return value


def _best(values: list[float], direction: str) -> float | None:
    if not values:
        return None
    return max(values) if direction == "max" else min(values)
