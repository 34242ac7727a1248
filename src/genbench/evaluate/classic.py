"""evaluate@D-M for the classic baselines: test-set metrics and predictions."""

from __future__ import annotations

from pathlib import Path

from genbench import paths, records
from genbench.evaluate import classifier
from genbench.models.classic import module_for
from genbench.train.classic import flatten, single_threaded_blas


def stage(params, job) -> dict:
    d, m, s = job.dataset, job.model, job.seed
    return run(params, m, s, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, m, s), paths.metrics_file(d, m, s),
               paths.predictions_file(d, m, s))


def run(params, model: str, seed: int, data_path: Path, meta_path: Path, model_dir: Path, metrics_path: Path, predictions_path: Path) -> dict:
    estimator = module_for(model).load(model_dir)

    def predict(images):
        with single_threaded_blas():
            return estimator.predict(flatten(images))

    train_info = records.read(model_dir / paths.TRAIN_INFO, records.TrainInfo)
    return classifier.run(predict, data_path, meta_path, train_info, metrics_path, predictions_path, params.evaluate.bootstrap_resamples, seed)
