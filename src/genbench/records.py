"""The JSON records one stage hands to the next, checked on the way in.

A record damaged or edited by hand stops the reading stage with one line naming the file
and the key, instead of a KeyError deep inside it. Records may carry more keys than
these; only what a later stage reads is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genbench import artifacts
from genbench.errors import DataError


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class DatasetSource(Record):
    """Where a dataset comes from and how to cite it."""

    title: str
    license: str
    citation: str
    homepage: str


class DatasetMeta(Record):
    """data/processed/<dataset>/meta.json"""

    classes: list[str] = Field(min_length=2)
    image_shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=3, max_length=3)
    pixel_max: int = Field(ge=1)  # raw pixel values ran from 0 to this
    source: DatasetSource


class TrainInfo(Record):
    """data/models/<dataset>/<model>/train.json; deep models also record where they trained"""

    n_train: int = Field(ge=1)
    max_train_samples: int | None = None
    device: str = "cpu"
    device_name: str = ""
    precision: str = "fp32"
    processes: int = Field(1, ge=1)


class SampleInfo(Record):
    """data/samples/<dataset>/<model>/sample.json"""

    conditional: bool
    device: str
    n_samples: int = Field(ge=1)


RecordType = TypeVar("RecordType", bound=Record)


def read(path: Path, kind: type[RecordType]) -> RecordType:
    raw = artifacts.read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(raw).__name__}; rerun the stage that makes it")
    try:
        return kind.model_validate(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{path}: {key}: {first['msg']}; rerun the stage that makes it") from None
