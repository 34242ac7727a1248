"""Multinomial logistic regression (L-BFGS through scikit-learn)."""

from __future__ import annotations

from genbench.config import Params
from genbench.models.classic.sklearn_format import load, save  # noqa: F401  (the module's interface)


def build(params: Params, seed: int):
    from sklearn.linear_model import LogisticRegression

    p = params.classic.logreg
    return LogisticRegression(C=p.C, max_iter=p.max_iter, random_state=seed)


def max_train_samples(params: Params) -> int | None:
    return None
