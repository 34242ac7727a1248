"""train@D-M for the classic baselines: fit with the settings tune@D-M chose, on the splits it names (the training
split, and with tune.refit the validation split too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.data import splits
from genbench.models import base, classic


def stage(params: Params, io) -> dict:
    return run(io.model, io.seed, io.input("data"), io.input("meta"), io.input("settings"), io.output("model"))


def run(model: str, seed: int, data_path: Path, meta_path: Path, settings_path: Path, model_dir: Path) -> dict:
    """Fit and save the model with the settings its tune stage chose; returns its fitting time, which stays out
    of the model's folder."""
    n_classes = len(records.read(meta_path, records.DatasetMeta).classes)
    tuned = records.read(settings_path, records.TunedSettings)
    arrays = splits.load(data_path, tuple(tuned.fit_on), n_classes=n_classes)
    module = base.module_of(model)
    key = base.training_section(model, module.KIND)
    settings = records.validate(settings_path, tuned.settings, module.Params)
    x = np.concatenate([arrays[f"x_{split}"] for split in tuned.fit_on])
    y = np.concatenate([arrays[f"y_{split}"] for split in tuned.fit_on])
    estimator, info = classic.fit(module, settings, x, y, seed, key)
    with artifacts.atomic_directory(model_dir) as staging:
        module.save(estimator, staging)
        artifacts.write_json(
            staging / paths.TRAIN_INFO, {"n_train": info["n_train"], "max_train_samples": info["max_train_samples"]}
        )
    return {"fit_seconds": info["fit_seconds"]}
