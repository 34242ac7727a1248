"""The building blocks of params.yaml's schema, shared by config.py and the model registry."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveFloat = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    # strict: "3" is not a number and true is not 1; extra="forbid": typos are errors.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeepModelParams(Section):
    """What every deep model's training section holds."""

    steps: int = Field(ge=1, le=10_000_000, description="optimiser steps")
    batch_size: int = Field(128, ge=1, le=65_536, description="images per step")

    def side_multiple(self) -> int:
        """The images' height and width must be multiples of this (a model that halves them n times: 2**n)."""
        return 1


class GenerativeParams(DeepModelParams):
    """What every generative model's training section holds."""

    def is_conditional(self) -> bool:
        """Whether its samples follow the class asked for: such a model's samples get a CAS (models.cas)."""
        return True
