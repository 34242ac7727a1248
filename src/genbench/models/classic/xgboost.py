"""Gradient-boosted trees (XGBoost, histogram method), stored in XGBoost's own JSON format."""

from __future__ import annotations

import json
from pathlib import Path

from genbench.config import Params
from genbench.errors import DataError

FILE_NAME = "model.json"


def build(params: Params, seed: int):
    from xgboost import XGBClassifier

    p = params.classic.xgboost
    return XGBClassifier(
        n_estimators=p.n_estimators,
        max_depth=p.max_depth,
        learning_rate=p.learning_rate,
        subsample=p.subsample,
        colsample_bytree=p.colsample_bytree,
        n_jobs=p.n_jobs,
        tree_method="hist",
        random_state=seed,
    )


def max_train_samples(params: Params) -> int | None:
    return None


def save(estimator, model_dir: Path) -> None:
    from genbench import artifacts

    with artifacts.atomic_path(model_dir / FILE_NAME) as tmp:
        estimator.save_model(tmp)


def load(model_dir: Path):
    from xgboost import XGBClassifier
    from xgboost.core import XGBoostError

    path = model_dir / FILE_NAME
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the train stage first") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict) or "learner" not in document:
        raise DataError(f"{path}: not a readable XGBoost model (expected XGBoost's JSON model format)")
    estimator = XGBClassifier()
    try:
        estimator.load_model(path)
    except (XGBoostError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable XGBoost model ({str(e).splitlines()[0]})") from None
    return estimator
