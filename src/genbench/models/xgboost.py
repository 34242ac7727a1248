"""Gradient-boosted trees (XGBoost, histogram method), stored in XGBoost's own JSON format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import Field

from genbench.errors import DataError
from genbench.models.base import Capability, Kind
from genbench.schema import Section
from genbench.views import PixelMap

KIND = Kind.CLASSIC
CAPABILITIES = frozenset({Capability.FIGURES})
FILE_NAME = "model.json"


class Params(Section):
    """classic.xgboost"""

    n_estimators: int = Field(300, ge=1, le=10_000, description="boosting rounds (trees per class)")
    max_depth: int = Field(4, ge=1, le=32, description="depth of each tree")
    learning_rate: float = Field(0.1, gt=0, le=1, description="shrinkage of each tree's contribution")
    subsample: float = Field(1.0, gt=0, le=1, description="fraction of training images each tree sees")
    colsample_bytree: float = Field(1.0, gt=0, le=1, description="fraction of pixels each tree may split on")
    n_jobs: int = Field(2, ge=1, description="threads; the trees are repeatable for one count, not across counts")


def build(settings: Params, seed: int):
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=settings.n_estimators,
        max_depth=settings.max_depth,
        learning_rate=settings.learning_rate,
        subsample=settings.subsample,
        colsample_bytree=settings.colsample_bytree,
        n_jobs=settings.n_jobs,
        tree_method="hist",
        random_state=seed,
    )


def max_train_samples(settings: Params) -> int | None:
    return None


def figures(estimator, image_shape: tuple[int, int, int], dataset: str) -> list[PixelMap]:
    """Where it looks: the total gain of all splits on each pixel, summed over colour channels."""
    channels, height, width = image_shape
    gain = np.zeros(channels * height * width)
    for feature, value in estimator.get_booster().get_score(importance_type="total_gain").items():
        gain[int(feature.removeprefix("f"))] = value  # features are named f<index of the flattened pixel>
    return [
        PixelMap(
            "importance",
            gain.reshape(channels, height, width).sum(axis=0),
            f"xgboost on {dataset}: where it looks",
            "total gain of the splits on a pixel",
            alt=f"XGBoost feature importance on {dataset}",
            caption="XGBoost: the total gain of all splits on each pixel (summed over colour channels), in the "
            "image's shape.",
        )
    ]


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
