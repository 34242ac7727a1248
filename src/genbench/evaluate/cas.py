"""cas@D-M-S: classification accuracy score (Ravuri and Vinyals, 2019) of a class-conditional model's samples.

A classic baseline trained on one seed's generated images only, tested on the real test split, with
a Wilson interval over the test images. A model whose samples carry their classes scores close to
the train-on-real accuracy, the floor (evaluate/references.py: the same classifiers trained on as
many real training images). Only the models listed in models.cas, all conditional, get this stage.
The classifiers keep the real models' params, so this stage, and no other evaluation of the
generative models, reruns when they change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, paths, pipeline, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import ConfigError, DataError
from genbench.evaluate import intervals
from genbench.models import classic


def stage(params: Params, io) -> None:
    run(params, io.model, io.seed, io.input("data"), io.input("meta"), io.input("samples").parent, io.output("metrics"))


def run(params: Params, model: str, seed: int, data_path: Path, meta_path: Path, samples_dir: Path, out: Path) -> None:
    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("test",), n_classes=len(classes))
    if not records.read(samples_dir / paths.SAMPLE_INFO, records.SampleInfo).conditional:
        raise DataError(
            f"{samples_dir / paths.SAMPLE_INFO}: unconditional samples have no class to score; rerun sample"
        )
    path = samples_dir / paths.SAMPLES
    generated = artifacts.load_npz(path, ("x", "y"))
    artifacts.check_images(path, "x", generated["x"], arrays["x_test"].shape[1:])
    artifacts.check_labels(path, "y", generated["y"], len(generated["x"]), len(classes))
    found = {
        "model": model,
        "seed": seed,
        "scores": scores(params, generated["x"], generated["y"], arrays["x_test"], arrays["y_test"], seed),
    }
    records.CasScores.model_validate(found)  # the record the report reads (metric_table.py)
    artifacts.write_json(out, found)


def scores(
    params: Params, images: np.ndarray, labels: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int
) -> dict:
    """Each CAS classifier's test accuracy when fitted on (images, labels) with the real model's params."""
    return {name: score(params, name, images, labels, x_test, y_test, seed) for name in pipeline.CAS_MODELS}


def score(
    params: Params,
    model: str,
    images: np.ndarray,
    labels: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seed: int,
) -> dict:
    """Accuracy on (x_test, y_test) of `model` fitted on (images, labels) with the real model's params."""
    missing = sorted(set(np.unique(y_test).tolist()) - set(np.unique(labels).tolist()))
    if missing:
        raise ConfigError(
            f"params.yaml: evaluate.n_samples: {len(labels)} images leave out classes {missing}; CAS needs every class"
        )
    estimator, info = classic.fit_named(params, model, images, labels, seed)
    predicted = classic.predict(estimator, x_test)
    correct = int(np.sum(predicted == y_test))
    return {
        "accuracy": correct / len(y_test),
        "accuracy_interval": intervals.wilson(correct, len(y_test)),
        "n_train": info["n_train"],
        "n_test": len(y_test),
    }
