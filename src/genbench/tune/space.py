"""A model's search space (params.yaml: tune.space.<model>) in its own schema's types and in Optuna's terms."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import ValidationError

from genbench.config import SearchDimension
from genbench.schema import Section


def number_type(schema: type[Section], key: str) -> type | None:
    """float or int where the model's schema takes numbers of that type for `key` (perhaps beside other values,
    such as None or "scale"); None where it takes no numbers."""
    annotation = schema.model_fields[key].annotation
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    plain = {get_args(m)[0] if get_origin(m) is Annotated else m for m in members}
    return float if float in plain else int if int in plain else None


def problem(given: Section, key: str, dimension: SearchDimension) -> str | None:
    """Why `dimension` cannot search `key` of a model whose settings are `given`; None where it can."""
    schema = type(given)
    if key not in schema.model_fields:
        return f"unknown key; the model's keys: {', '.join(schema.model_fields)}"
    if dimension.choices is not None:
        values = dimension.choices
    else:
        kind = number_type(schema, key)
        if kind is None:
            return "a range needs a numeric setting; give choices"
        if kind is int and not (dimension.low.is_integer() and dimension.high.is_integer()):
            return f"an integer setting: low and high must be whole numbers (got {dimension.low:g}, {dimension.high:g})"
        values = [kind(dimension.low), kind(dimension.high)]
    for value in values:
        try:
            changed = schema.model_validate(given.model_dump() | {key: value})
        except ValidationError as e:
            return f"{value!r} is not a value the model takes: {e.errors(include_url=False)[0]['msg']}"
        if hasattr(given, "is_conditional") and changed.is_conditional() != given.is_conditional():
            return f"{value!r} changes whether the model is conditional, its role in the comparison; not searchable"
    return None


def distributions(schema: type[Section], space: dict[str, SearchDimension]) -> dict[str, Any]:
    """Optuna's distribution of each searched key."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found = {}
    for key, dimension in space.items():
        if dimension.choices is not None:
            found[key] = CategoricalDistribution(dimension.choices)
        elif number_type(schema, key) is int:
            found[key] = IntDistribution(int(dimension.low), int(dimension.high), log=dimension.log)
        else:
            found[key] = FloatDistribution(dimension.low, dimension.high, log=dimension.log)
    return found
