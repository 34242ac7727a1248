"""What the classic models share: fitting one on flattened images, its training cap, fixed thread counts.

The training stage, the classification accuracy score and the references all fit classic models
through `fit`, so they read this module and the model's own, not each other.
"""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np

from genbench.errors import ConfigError
from genbench.models import base


def fit(module: ModuleType, settings, images: np.ndarray, labels: np.ndarray, seed: int, key: str):
    """The classic model of `module` fitted on `images` (N, C, H, W) with `settings`, its randomness (the
    training cap, the estimator's own) drawn from `seed`; (estimator, training info). `key`: the params
    key of its settings, named if its cap cannot be honoured."""
    cap = module.max_train_samples(settings)
    x, y = stratified_cap(flatten(images), labels, cap, seed, key=f"{key}.max_train_samples")
    estimator = module.build(settings, seed)
    start = time.perf_counter()
    with fixed_threads(settings):
        estimator.fit(x, y)
    fit_seconds = time.perf_counter() - start
    return estimator, {"fit_seconds": fit_seconds, "n_train": int(len(y)), "max_train_samples": cap}


def fit_named(params, name: str, images: np.ndarray, labels: np.ndarray, seed: int):
    """`fit` of the classic model `name` with its settings in params (classic.<name>)."""
    module = base.module_of(name)
    return fit(module, base.settings(params, name, module), images, labels, seed, key=f"classic.{name}")


def predict(estimator, images: np.ndarray) -> np.ndarray:
    with fixed_threads():
        return estimator.predict(flatten(images))


def fixed_threads(settings=None):
    """BLAS at one thread, and OpenMP at the model's own n_jobs where it has one (XGBoost). Both sum in an
    order that depends on the thread count, and Snakemake sets OMP_NUM_THREADS=1 where dvc leaves it
    unset: without this, the same fit gave other trees under each runner."""
    from threadpoolctl import threadpool_limits

    limits = {"blas": 1}
    if getattr(settings, "n_jobs", None):
        limits["openmp"] = settings.n_jobs
    return threadpool_limits(limits=limits)


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
