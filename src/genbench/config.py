"""The schema of params.yaml.

Every stage validates the whole file before doing any work, so a typo stops the
pipeline at once with one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genbench.data.sources import DATASET_NAMES
from genbench.errors import ConfigError

CLASSIC_MODELS = ("xgboost", "svm", "logreg")

DatasetName = Literal[DATASET_NAMES]
ClassicModelName = Literal[CLASSIC_MODELS]
PositiveFloat = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    # strict: "3" is not a number and true is not 1; extra="forbid": typos are errors.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DownloadParams(Section):
    timeout_s: float = Field(60.0, gt=0, description="give up on a connection silent for this long")
    retries: int = Field(4, ge=0, le=20, description="further attempts per URL after a connection error or 5xx")
    backoff_s: float = Field(2.0, ge=0, description="wait before the first retry; doubles each time")


class DataParams(Section):
    test_fraction: float = Field(0.2, gt=0, lt=1, description="share of each class held out as the test set")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of the training set held out for validation")


class XGBoostParams(Section):
    n_estimators: int = Field(300, ge=1, le=10_000)
    max_depth: int = Field(4, ge=1, le=32)
    learning_rate: float = Field(0.1, gt=0, le=1)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample_bytree: float = Field(1.0, gt=0, le=1)
    n_jobs: int = Field(2, ge=1, description="threads; results do not depend on it")


class SVMParams(Section):
    C: PositiveFloat = 10.0
    kernel: Literal["rbf", "linear", "poly", "sigmoid"] = "rbf"
    gamma: PositiveFloat | Literal["scale", "auto"] = "scale"
    max_train_samples: int | None = Field(
        20_000, ge=1, description="stratified cap on training images (keeps MNIST and CIFAR-10 tractable); null uses all"
    )


class LogRegParams(Section):
    C: PositiveFloat = 1.0
    max_iter: int = Field(2000, ge=1)


class ClassicParams(Section):
    xgboost: XGBoostParams = XGBoostParams()
    svm: SVMParams = SVMParams()
    logreg: LogRegParams = LogRegParams()


class ModelLists(Section):
    classic: list[ClassicModelName] = Field(default_factory=lambda: list(CLASSIC_MODELS))

    @field_validator("classic")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return _require_unique(names)


class Params(Section):
    seed: int = Field(0, ge=0, lt=2**32)
    datasets: list[DatasetName] = Field(default_factory=lambda: ["digits"], min_length=1)
    models: ModelLists = ModelLists()
    download: DownloadParams = DownloadParams()
    data: DataParams = DataParams()
    classic: ClassicParams = ClassicParams()

    @field_validator("datasets")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return _require_unique(names)

    def section(self, dotted_key: str) -> Any:
        """The validated value at a dotted key such as "classic.svm"."""
        value: Any = self
        for part in dotted_key.split("."):
            value = getattr(value, part)
        return value


def _require_unique(names: list[str]) -> list[str]:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names must be unique; repeated: {', '.join(repeated)}")
    return names


def load_params(path: Path | str = "params.yaml") -> Params:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run from the repository root or pass --params") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_one_line(path, e)) from None


def canonical_json(value: Any) -> str:
    """A normalised text of a validated value: 5 and 5.0 give the same string."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _one_line(path: Path, error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    key = ".".join(str(p) for p in first["loc"]) or "<top level>"
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(first["loc"][:-1]))
        message = f"unknown key; allowed keys here: {allowed}"
    else:
        message = f"{first['msg'].removeprefix('Value error, ')} (got {_short(first.get('input'))})"
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return f"{path}: {key}: {message}{more}"


def _allowed_keys(parent_loc: tuple) -> list[str]:
    model: type[BaseModel] = Params
    for part in parent_loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return list(model.model_fields)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
