"""Multinomial logistic regression (L-BFGS through scikit-learn)."""

from __future__ import annotations

from pydantic import Field

from genbench.models.base import Capability, Kind
from genbench.models.sklearn_format import load, save  # noqa: F401  (the module's interface)
from genbench.schema import PositiveFloat, Section

KIND = Kind.CLASSIC
CAPABILITIES: frozenset[Capability] = frozenset()


class Params(Section):
    """classic.logreg"""

    C: PositiveFloat = Field(1.0, description="inverse L2 regularisation strength")
    max_iter: int = Field(2000, ge=1, description="solver iterations at most (lbfgs)")


def build(settings: Params, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=settings.C, max_iter=settings.max_iter, random_state=seed)


def max_train_samples(settings: Params) -> int | None:
    return None
