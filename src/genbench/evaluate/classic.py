"""evaluate@D-M for the classic baselines: test-set metrics, predictions, and the figures a model draws of itself."""

from __future__ import annotations

from pathlib import Path

from genbench import paths, records, views
from genbench.evaluate import classifier
from genbench.models import base, classic


def stage(params, io) -> dict:
    return run(
        params,
        io.dataset,
        io.model,
        io.seed,
        io.input("data"),
        io.input("meta"),
        io.input("model"),
        io.output("metrics"),
        io.output("predictions"),
        io.output("figures"),
    )


def run(
    params,
    dataset: str,
    model: str,
    seed: int,
    data_path: Path,
    meta_path: Path,
    model_dir: Path,
    metrics_path: Path,
    predictions_path: Path,
    figures_path: Path,
) -> dict:
    module = base.module_of(model)
    estimator = module.load(model_dir)
    train_info = records.read(model_dir / paths.TRAIN_INFO, records.TrainInfo)
    timings = classifier.run(
        lambda images: classic.predict(estimator, images),
        data_path,
        meta_path,
        train_info,
        metrics_path,
        predictions_path,
        params.evaluate.bootstrap_resamples,
        seed,
    )
    image_shape = tuple(records.read(meta_path, records.DatasetMeta).image_shape)
    views.save_maps(
        figures_path,
        module.figures(estimator, image_shape, dataset) if base.has(module, base.Capability.FIGURES) else [],
    )
    return timings
