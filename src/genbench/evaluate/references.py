"""evaluate_references@D: the floor and the ceiling every generative model is read against.

Floor: real training images against the real test split (what a perfect model would score).
Ceiling: Gaussian noise with the training images' pixel mean and spread (what no model should score).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.data import splits
from genbench.evaluate import comparison, features
from genbench.models import deep
from genbench.train import loop


def stage(params: Params, job) -> None:
    d = job.dataset
    run(params, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, "featurenet"), paths.references_file(d))


def run(params: Params, data_path: Path, meta_path: Path, featurenet_dir: Path, metrics_path: Path) -> None:
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("train", "test"), n_classes=len(classes))
    net = deep.load("featurenet", featurenet_dir, device)[0]["net"]
    real = comparison.real_test_features(params, net, arrays, device)
    n = len(real)

    train_images = comparison.subset(arrays["x_train"], n, params.seed + 1)
    rng = np.random.default_rng(params.seed + 2)
    x_train = arrays["x_train"]
    noise = np.clip(rng.normal(x_train.mean(), x_train.std(), size=(n, *x_train.shape[1:])), 0, 1).astype(np.float32)

    artifacts.write_json(metrics_path, {
        "real_train_vs_test": comparison.compare(params, real, features.extract(net, train_images, device)),
        "noise_vs_test": comparison.compare(params, real, features.extract(net, noise, device)),
        "noise": f"Gaussian pixels, mean {x_train.mean():.3f} and std {x_train.std():.3f} of the training images, clipped to [0, 1]",
    })
