"""evaluate_references@D: the floor and the ceiling every generative model is read against.

Floor: real training images against the real test split (what a perfect model would score),
and the CAS of as many real training images as a model draws samples (train-on-real).
Ceiling: Gaussian noise with the training images' pixel mean and spread (what no model should score).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, records
from genbench.config import Params
from genbench.data import splits
from genbench.evaluate import cas, comparison, features
from genbench.models import deep
from genbench.train import loop
from genbench.train.classic import stratified_cap


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

    floor = comparison.compare(params, real, features.extract(net, train_images, device))
    # Stratified, like the class-balanced samples of a conditional model: every class is present.
    cas_images, cas_labels = stratified_cap(x_train, arrays["y_train"], params.evaluate.n_samples, params.seed + 3, key="evaluate.n_samples")
    floor["cas"] = {
        name: cas.score(params, name, cas_images, cas_labels, arrays["x_test"], arrays["y_test"]) for name in cas.CAS_MODELS
    }
    artifacts.write_json(metrics_path, {
        "real_train_vs_test": floor,
        "noise_vs_test": comparison.compare(params, real, features.extract(net, noise, device)),
        "noise": f"Gaussian pixels, mean {x_train.mean():.3f} and std {x_train.std():.3f} of the training images, clipped to [0, 1]",
    })
