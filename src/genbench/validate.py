"""The whole of params.yaml, checked against every registered model and dataset.

A stage reads the shared sections (config.py) and its own model's (that model's schema); this check
reads every section at once, with every model's schema, the dataset registry and the rules across
sections, so that a typo anywhere stops the pipeline at once with one line. Stages run it through
genbench/params_check.py, which keeps its verdicts.
"""

from __future__ import annotations

import importlib
from functools import cache, reduce
from pathlib import Path
from typing import Literal

from pydantic import Field, create_model, model_validator

from genbench.config import ModelLists, Params, read_document, validate_document
from genbench.data import own_layout
from genbench.data.sources import DATASET_NAMES
from genbench.errors import ConfigError
from genbench.models import base, registry
from genbench.models.base import Kind
from genbench.schema import Section
from genbench.tune import space


def load_params(path: Path | str = "params.yaml") -> Params:
    """params.yaml validated whole: every model's sections by its schema, defaults filled in."""
    path = Path(path)
    params = validate_document(whole_schema(), read_document(path), path)
    own_layout.check(params, path)
    _check_ingested_sizes(params)
    return params


@cache
def whole_schema() -> type[Params]:
    """config.Params with the models' sections typed by their modules' schemas and the rules across sections."""
    modules = {name: importlib.import_module(f"genbench.models.{name}") for name in registry.MODELS}
    for name, module in modules.items():
        problem = base.contract_problem(module)
        if problem or module.KIND is not registry.MODELS[name]:
            raise ConfigError(
                f"models/registry.py: {name}: "
                f"{problem or f'registered as {registry.MODELS[name].value}, its module says {module.KIND.value}'}"
            )

    def sections(kind: Kind, schema: str) -> dict:
        return {
            name: (getattr(modules[name], schema), getattr(modules[name], schema)()) for name in registry.names(kind)
        }

    def registered(kind: Kind, key: str) -> tuple:
        """A models list narrowed to the registry's names of `kind`, described as ModelLists describes it."""
        return list[Literal[tuple(registry.names(kind))]], Field(
            [], description=ModelLists.model_fields[key].description
        )

    lists = create_model(
        "ModelLists",
        __base__=ModelLists,
        classic=registered(Kind.CLASSIC, "classic"),
        generative=registered(Kind.GENERATIVE, "generative"),
        cas=registered(Kind.GENERATIVE, "cas"),
    )
    classic = create_model("ClassicParams", __base__=Section, **sections(Kind.CLASSIC, "Params"))
    generative = create_model("GenerativeParams", __base__=Section, **sections(Kind.GENERATIVE, "Params"))
    sampling = create_model("SamplingParams", __base__=Section, **sections(Kind.GENERATIVE, "Sampling"))
    return create_model(
        "Params",
        __base__=_WholeFile,
        models=(lists, lists()),
        classic=(classic, classic()),
        generative=(generative, generative()),
        sampling=(sampling, sampling()),
        **sections(Kind.CLASSIFIER, "Params"),
    )


class _WholeFile(Params):
    """The rules that read more than one section."""

    @model_validator(mode="after")
    def _datasets_are_known(self) -> _WholeFile:
        for name in self.datasets:
            if name not in DATASET_NAMES and name not in self.own_datasets:
                raise ValueError(
                    f"datasets: {name!r} is neither a registry dataset ({', '.join(DATASET_NAMES)}) nor a key of "
                    f"own_datasets "
                    f"({', '.join(self.own_datasets) or 'none'})"
                )
        for name in self.own_datasets:
            if name in DATASET_NAMES:
                raise ValueError(f"own_datasets.{name}: the name of a registry dataset; choose another")
        for name, entry in self.own_datasets.items():
            if name in self.datasets and entry.size:
                problem = image_size_problem(self, *entry.size)
                if problem:
                    raise ValueError(f"own_datasets.{name}.size: {entry.size[0]}x{entry.size[1]}: {problem}")
        return self

    @model_validator(mode="after")
    def _search_spaces_fit_their_models(self) -> _WholeFile:
        tunable = {name: base.training_section(name, kind) for kind in Kind for name in registry.names(kind)}
        for name, searched in self.tune.space.items():
            if name not in tunable:
                raise ValueError(f"tune.space.{name}: not a registered model ({', '.join(tunable)})")
            given = reduce(getattr, tunable[name].split("."), self)
            for key, dimension in searched.items():
                problem = space.problem(given, key, dimension)
                if problem:
                    raise ValueError(f"tune.space.{name}.{key}: {problem}")
        return self

    @model_validator(mode="after")
    def _cas_models_are_conditional(self) -> _WholeFile:
        for name in self.models.cas:
            if name not in self.models.generative:
                raise ValueError(f"models.cas: {name} is not in models.generative; list it there too, or drop it here")
            if not getattr(self.generative, name).is_conditional():
                raise ValueError(
                    f"models.cas: {name} draws unconditional samples, which have no class to score; list only "
                    f"conditional models (here: {', '.join(self._conditional_models()) or 'none'})"
                )
        return self

    def _conditional_models(self) -> list[str]:
        return [name for name in self.models.generative if getattr(self.generative, name).is_conditional()]

    @model_validator(mode="after")
    def _batches_split_evenly(self) -> _WholeFile:
        processes = self.train.processes
        trained = [(name, getattr(self, name)) for name in registry.names(Kind.CLASSIFIER)]
        trained += [(f"generative.{name}", getattr(self.generative, name)) for name in self.models.generative]
        for key, settings in trained:
            if settings.batch_size % processes:
                raise ValueError(
                    f"{key}.batch_size: {settings.batch_size} is not a multiple of train.processes ({processes}); "
                    f"each rank takes an equal share"
                )
        return self


def image_size_problem(params, height: int, width: int) -> str | None:
    """Why the listed models cannot take images of this size, or None: every model needs sides of 4 or
    more, and each generative one multiples of its side_multiple()."""
    needs = {model: getattr(params.generative, model).side_multiple() for model in params.models.generative}
    failing = {model: n for model, n in needs.items() if height % n or width % n}
    if min(height, width) >= 4 and not failing:
        return None
    step = max([4, *failing.values()])
    rules = (
        ", ".join(f"{model} needs sides divisible by {n}" for model, n in failing.items())
        or "the models need sides of 4 or more"
    )
    padded = f"{max(4, -(-height // step) * step)}x{max(4, -(-width // step) * step)}"
    return f"{rules}; declare a size such as {padded} (fit: pad or resize)"


def _check_ingested_sizes(params) -> None:
    """An own dataset of the images' own size (size: null) is checked once its download stage has read them."""
    from genbench.data import own

    for name, entry in params.own_datasets.items():
        if name not in params.datasets or entry.size:
            continue
        description = own.description(name)
        if description is None:
            continue
        height, width, _ = description["image_shape"]
        problem = image_size_problem(params, height, width)
        if problem:
            raise ConfigError(
                f"{description['source']}: images of {height}x{width}: {problem} under own_datasets.{name}"
            )
