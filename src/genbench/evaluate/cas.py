"""cas@D: classification accuracy score (Ravuri and Vinyals, 2019) of the class-conditional models.

A classic baseline trained on generated images only, tested on the real test split. A model whose
samples carry their classes scores close to the train-on-real accuracy, the floor: the same
classifier trained on as many real training images. The classifiers keep the real models' params,
so this stage, and no other evaluation of the generative models, reruns when they change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import ConfigError
from genbench.train.classic import fit, flatten, single_threaded_blas, stratified_cap

CAS_MODELS = ("svm", "xgboost")


def stage(params: Params, job) -> None:
    d = job.dataset
    samples = {model: paths.samples_dir(d, model) for model in params.models.generative}
    run(params, paths.processed_data(d), paths.processed_meta(d), samples, paths.cas_file(d))


def run(params: Params, data_path: Path, meta_path: Path, samples: dict[str, Path], out: Path) -> None:
    """`samples`: each generative model's sample folder; the unconditional ones have no score."""
    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("train", "test"), n_classes=len(classes))
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    scores = {}
    for model, folder in samples.items():
        if not records.read(folder / paths.SAMPLE_INFO, records.SampleInfo).conditional:
            continue
        path = folder / paths.SAMPLES
        generated = artifacts.load_npz(path, ("x", "y"))
        artifacts.check_images(path, "x", generated["x"], x_test.shape[1:])
        artifacts.check_labels(path, "y", generated["y"], len(generated["x"]), len(classes))
        scores[model] = {name: score(params, name, generated["x"], generated["y"], x_test, y_test) for name in CAS_MODELS}
    # Stratified, like the class-balanced samples of a conditional model: every class is present.
    real_x, real_y = stratified_cap(arrays["x_train"], arrays["y_train"], params.evaluate.n_samples, params.seed + 3, key="evaluate.n_samples")
    floor = {name: score(params, name, real_x, real_y, x_test, y_test) for name in CAS_MODELS}
    artifacts.write_json(out, {"models": scores, "real_train": floor})


def score(params: Params, model: str, images: np.ndarray, labels: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    """Accuracy on (x_test, y_test) of `model` fitted on (images, labels) with the real model's params."""
    missing = sorted(set(np.unique(y_test).tolist()) - set(np.unique(labels).tolist()))
    if missing:
        raise ConfigError(f"params.yaml: evaluate.n_samples: {len(labels)} images leave out classes {missing}; CAS needs every class")
    estimator, info = fit(params, model, images, labels)
    with single_threaded_blas():
        predicted = estimator.predict(flatten(x_test))
    return {"accuracy": float(np.mean(predicted == y_test)), "n_train": info["n_train"]}
