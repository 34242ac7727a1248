"""train@D-M for the classic baselines: fit on the flattened training split."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.errors import ConfigError
from genbench.data import splits
from genbench.models.classic import module_for


def stage(params: Params, job) -> dict:
    d, m = job.dataset, job.model
    return run(params, m, job.seed, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, m, job.seed))


def run(params: Params, model: str, seed: int, data_path: Path, meta_path: Path, model_dir: Path) -> dict:
    """Fit and save the model; returns its fitting time, which stays out of the model's folder."""
    n_classes = len(records.read(meta_path, records.DatasetMeta).classes)
    arrays = splits.load(data_path, ("train",), n_classes=n_classes)
    estimator, info = fit(params, model, arrays["x_train"], arrays["y_train"], seed)
    with artifacts.atomic_directory(model_dir) as staging:
        module_for(model).save(estimator, staging)
        artifacts.write_json(staging / paths.TRAIN_INFO, {"n_train": info["n_train"], "max_train_samples": info["max_train_samples"]})
    return {"fit_seconds": info["fit_seconds"]}


def fit(params: Params, model: str, images: np.ndarray, labels: np.ndarray, seed: int):
    """The classic `model` fitted on `images` (N, C, H, W) as params say, its randomness (the training cap,
    the estimator's own) drawn from `seed`; (estimator, training info)."""
    module = module_for(model)
    cap = module.max_train_samples(params)
    x, y = stratified_cap(flatten(images), labels, cap, seed, key=f"classic.{model}.max_train_samples")
    estimator = module.build(params, seed)
    start = time.perf_counter()
    with single_threaded_blas():
        estimator.fit(x, y)
    fit_seconds = time.perf_counter() - start
    return estimator, {"fit_seconds": fit_seconds, "n_train": int(len(y)), "max_train_samples": cap}


def single_threaded_blas():
    """BLAS sums in a thread-count-dependent order; one thread makes the fitted
    weights identical whatever OMP_NUM_THREADS the runner sets (Snakemake sets 1)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def stratified_cap(x: np.ndarray, y: np.ndarray, cap: int | None, seed: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """At most `cap` rows, keeping the class proportions; all rows when cap is None or not smaller.
    `key`: the params key that set the cap, named if it cannot be honoured."""
    if cap is None or cap >= len(y):
        return x, y
    from sklearn.model_selection import train_test_split

    try:
        x_kept, _, y_kept, _ = train_test_split(x, y, train_size=cap, stratify=y, random_state=seed)
    except ValueError as e:
        raise ConfigError(f"params.yaml: {key}: a stratified subset of {cap} images: {e}") from None
    return x_kept, y_kept
