"""Support vector classifier (libsvm through scikit-learn)."""

from __future__ import annotations

from genbench.config import Params
from genbench.models.classic.sklearn_format import load, save  # noqa: F401  (the module's interface)


def build(params: Params, seed: int):
    from sklearn.svm import SVC

    p = params.classic.svm
    return SVC(C=p.C, kernel=p.kernel, gamma=p.gamma, random_state=seed)


def max_train_samples(params: Params) -> int | None:
    return params.classic.svm.max_train_samples
