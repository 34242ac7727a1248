"""Classification accuracy score (Ravuri and Vinyals, 2019): a classic baseline trained on
generated images only, tested on the real test split. A class-conditional model whose samples
carry their classes scores close to the train-on-real accuracy."""

from __future__ import annotations

import numpy as np

from genbench.config import Params
from genbench.errors import ConfigError
from genbench.train.classic import fit, flatten, single_threaded_blas

CAS_MODELS = ("svm", "xgboost")


def score(params: Params, model: str, images: np.ndarray, labels: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    """Accuracy on (x_test, y_test) of `model` fitted on (images, labels) with the real model's params."""
    missing = sorted(set(np.unique(y_test).tolist()) - set(np.unique(labels).tolist()))
    if missing:
        raise ConfigError(f"params.yaml: evaluate.n_samples: {len(labels)} images leave out classes {missing}; CAS needs every class")
    estimator, info = fit(params, model, images, labels)
    with single_threaded_blas():
        predicted = estimator.predict(flatten(x_test))
    return {"accuracy": float(np.mean(predicted == y_test)), "n_train": info["n_train"], "fit_seconds": info["fit_seconds"]}
