"""Support vector classifier (libsvm through scikit-learn)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genbench.models.base import Capability, Kind
from genbench.models.sklearn_format import load, save  # noqa: F401  (the module's interface)
from genbench.schema import PositiveFloat, Section

KIND = Kind.CLASSIC
CAPABILITIES: frozenset[Capability] = frozenset()


class Params(Section):
    """classic.svm"""

    C: PositiveFloat = Field(10.0, description="inverse regularisation strength")
    kernel: Literal["rbf", "linear", "poly", "sigmoid"] = Field("rbf", description="scikit-learn's SVC kernel")
    gamma: PositiveFloat | Literal["scale", "auto"] = Field(
        "scale", description="kernel width; scale: 1 / (pixels x pixel variance), as scikit-learn"
    )
    max_train_samples: int | None = Field(
        20_000,
        ge=1,
        description="stratified cap on training images (keeps MNIST and CIFAR-10 tractable); null uses all",
    )


def build(settings: Params, seed: int):
    from sklearn.svm import SVC

    return SVC(C=settings.C, kernel=settings.kernel, gamma=settings.gamma, random_state=seed)


def max_train_samples(settings: Params) -> int | None:
    return settings.max_train_samples
