"""The schema of params.yaml's shared sections, and the file read by it.

A model's own sections (classic.<name>, featurenet, generative.<name>, sampling.<name>) are kept
here as given: each model's module owns their schema (models/base.py: settings), so that a stage
reads the schema of its own model only. Before any stage works, the whole file is checked against
every registered model's schema (genbench/validate.py), so a typo anywhere stops the pipeline at
once with one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from genbench import pipeline
from genbench.errors import ConfigError
from genbench.schema import Section

OWN_DATASET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$"  # safe in paths, stage names and Snakemake wildcards
MODEL_NAME = r"^[a-z][a-z0-9_]{0,63}$"  # a module name under genbench/models/
ModelName = Annotated[str, Field(pattern=MODEL_NAME)]
# A model's section as given; its schema lives in its module.
ModelSection = dict[str, Any]


class DownloadParams(Section):
    timeout_s: float = Field(60.0, gt=0, description="give up on a connection silent for this long")
    retries: int = Field(4, ge=0, le=20, description="further attempts per URL after a connection error or 5xx")
    backoff_s: float = Field(2.0, ge=0, description="wait before the first retry; doubles each time")


class DataParams(Section):
    seed: int = Field(0, ge=0, lt=2**32, description="the splits, and the real images every replicate is compared with")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="share of each class held out as the test set")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of the training set held out for validation")


class OwnDataset(Section):
    """A dataset of your own (data/own.py): named in `datasets`, read by its download stage."""

    path: str = Field(
        description="a folder with one subfolder of PNG or JPEG images per class, or an .npz holding x and y; inside "
        "data/own/"
    )
    channels: Literal[1, 3] = Field(description="1: grey, 3: colour; every image is converted")
    size: list[Annotated[int, Field(ge=4, le=4096)]] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="[height, width] every image is brought to; null: the images' own, which must agree",
    )
    fit: Literal["resize", "pad"] = Field(
        "resize", description="how an image reaches `size`: resized, or centred on black (never cropped)"
    )


class TrainParams(Section):
    """Shared by every deep model's training stage."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA where torch sees a GPU, else the CPU"
    )
    threads: int = Field(2, ge=1, le=256, description="CPU threads for torch; CPU results depend on it")
    checkpoint_every: int = Field(500, ge=1, description="steps between checkpoints a killed run resumes from")
    log_every: int = Field(50, ge=1, description="steps between logged loss values")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto",
        description="auto: fp32 on the CPU; on a GPU bf16 where it has it, else fp16 with a gradient scaler",
    )
    processes: int = Field(
        1,
        ge=1,
        le=1024,
        description="ranks per deep training job (torch.distributed), each on its share of every batch",
    )


class EvaluateParams(Section):
    n_samples: int = Field(1000, ge=10, le=1_000_000, description="samples drawn from each generative model")
    kid_subsets: int = Field(100, ge=1, le=10_000, description="random subsets KID averages over")
    nearest_neighbours: int = Field(3, ge=1, le=100, description="k of the k-NN manifolds of precision/recall")
    iwae_samples: int = Field(1000, ge=1, le=100_000, description="importance samples per test image for the VAE bound")
    ddpm_bound: bool = Field(True, description="compute the DDPM's variational bound")
    bound_images: int | None = Field(
        None, ge=2, le=1_000_000, description="test images the likelihood bounds use, stratified; null: all of them"
    )
    bound_timesteps: int | None = Field(
        100,
        ge=1,
        le=1_000_000,
        description="timesteps per image behind the DDPM bound, one per stratum; null: every one",
    )
    cnf_tolerance: float = Field(
        1e-5, gt=0, le=1, description="the CNF's likelihood: its adaptive solver's atol and rtol"
    )
    cnf_trace: Literal["hutchinson", "exact"] = Field(
        "hutchinson", description="the CNF's likelihood: Hutchinson's trace (one probe per image) or the exact one"
    )
    timing_samples: int = Field(20, ge=1, le=100_000, description="images drawn to time each sampler of a model")
    timing_steps: int = Field(
        50, ge=1, le=1_000_000, description="network calls each sampler is timed over, scaled to its whole run"
    )
    feature_seed: int = Field(
        0, ge=0, lt=2**32, description="the featurenet replicate whose features every comparison uses"
    )
    bootstrap_resamples: int = Field(200, ge=20, le=100_000, description="resamples behind each bootstrap interval")
    feature_spaces: list[str] = Field(
        [pipeline.FEATURE_SPACE],
        min_length=1,
        description="the feature spaces every FID, KID, precision, recall, density and coverage is computed in; "
        "the featurenet first: the main tables and the tune stage read it",
    )

    @field_validator("feature_spaces")
    @classmethod
    def _featurenet_first_known_and_once(cls, spaces: list[str]) -> list[str]:
        known = pipeline.FEATURE_SPACES
        if spaces[0] != known[0] or len(set(spaces)) != len(spaces) or not set(spaces) <= set(known):
            raise ValueError(f"must start with {known[0]} and name each space once, from {list(known)} (got {spaces})")
        return spaces

    @model_validator(mode="after")
    def _enough_samples_for_the_neighbours(self) -> EvaluateParams:
        if self.nearest_neighbours >= self.n_samples:
            raise ValueError(
                f"nearest_neighbours ({self.nearest_neighbours}) must be below n_samples ({self.n_samples})"
            )
        return self


class SearchDimension(Section):
    """One setting's search: a range (low to high, both included; int or float as the model's schema says) or
    listed choices."""

    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="a range searched on a log scale (both ends above 0)")
    choices: list[str | bool | int | float | None] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind_not_empty(self) -> SearchDimension:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("either low and high, or choices")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs low and high (or give choices)")
        if self.low >= self.high:
            raise ValueError(f"an empty range: low {self.low:g} is not below high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range starts above 0 (got low {self.low:g})")
        return self


class TuneParams(Section):
    """Equal-budget tuning (Optuna's seeded TPE) of each listed model's settings on the validation split."""

    trials: int = Field(
        0, ge=0, le=100_000, description="the budget every model with a search space gets; 0: the params as given"
    )
    seed: int = Field(0, ge=0, lt=2**32, description="seeds the sampler and the fits the trials make")
    refit: bool = Field(
        True,
        description="fit the classic models on the training and validation splits together once their settings are "
        "chosen; the featurenet and the generative models never train on the validation split (the floor's images)",
    )
    checks: int = Field(
        3,
        ge=0,
        le=100,
        description="validation scores of a deep model's trial before its end, evenly spaced; the pruner stops a "
        "trial whose score is worse than the median of the finished trials' at the same point; 0: no pruning",
    )
    images: int = Field(
        1000,
        ge=2,
        le=1_000_000,
        description="generated images a generative model's trial is judged by, against as many validation images "
        "(all of them where fewer)",
    )
    prune_after: int = Field(
        5, ge=0, le=100_000, description="trials that run to their end before the pruner stops any"
    )
    space: dict[str, dict[str, SearchDimension]] = Field(
        default_factory=dict, description="search spaces by model name: a training key to a range or choices"
    )


class JobResources(Section):
    mem_mb: int = Field(ge=64, le=100_000_000, description="memory a job asks a cluster for, in MB")
    runtime: int = Field(ge=1, le=1_000_000, description="wall time a job asks a cluster for, in minutes")


class ResourcesParams(Section):
    """What each Snakemake job asks a cluster scheduler for. No result depends on it, so no DVC stage reads it."""

    light: JobResources = JobResources(mem_mb=2000, runtime=30)
    deep: JobResources = Field(
        JobResources(mem_mb=8000, runtime=240), description="deep models' train, sample and evaluate jobs"
    )


class ModelLists(Section):
    """Which registered models run: those listed (the deep classifier always runs: its features are the feature
    space)."""

    classic: list[ModelName] = Field(default_factory=list, description="classic classifiers, by registry name")
    generative: list[ModelName] = Field(default_factory=list, description="generative models, by registry name")
    cas: list[ModelName] = Field(
        default_factory=list,
        description="the conditional ones among the generative models whose samples get a classification accuracy "
        "score (CAS); a model left out gets no CAS stage",
    )

    @field_validator("classic", "generative", "cas")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return _require_unique(names)


class Params(Section):
    seeds: list[int] = Field(
        default_factory=lambda: [0], min_length=1, description="training replicates; the splits stay fixed (data.seed)"
    )
    datasets: list[str] = Field(
        default_factory=lambda: ["digits"], min_length=1, description="registry names and names of own_datasets"
    )
    own_datasets: dict[Annotated[str, Field(pattern=OWN_DATASET_NAME)], OwnDataset] = Field(
        default_factory=dict, description="your own image datasets, by name (see Datasets)"
    )
    models: ModelLists = ModelLists()
    download: DownloadParams = DownloadParams()
    data: DataParams = DataParams()
    classic: dict[str, ModelSection] = Field(default_factory=dict)
    train: TrainParams = TrainParams()
    featurenet: ModelSection = Field(default_factory=dict)
    generative: dict[str, ModelSection] = Field(default_factory=dict)
    sampling: dict[str, ModelSection] = Field(default_factory=dict)
    evaluate: EvaluateParams = EvaluateParams()
    tune: TuneParams = TuneParams()
    resources: ResourcesParams = ResourcesParams()

    @field_validator("datasets")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return _require_unique(names)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 or s >= 2**32 for s in seeds):
            raise ValueError("seeds must be integers in [0, 2**32)")
        return _require_unique(seeds)

    @model_validator(mode="after")
    def _feature_space_is_trained(self) -> Params:
        # The feature space is one of the featurenet replicates, so it exists without a stage of its own.
        if self.evaluate.feature_seed not in self.seeds:
            raise ValueError(
                f"evaluate.feature_seed: {self.evaluate.feature_seed} is not one of seeds "
                f"({', '.join(map(str, self.seeds))}); "
                "the feature space is the featurenet of one of the seeds"
            )
        return self

    def section(self, dotted_key: str) -> Any:
        """The value at a dotted key such as "classic.svm": validated for a shared section, as given for a model's."""
        value: Any = self
        for part in dotted_key.split("."):
            value = value.get(part, {}) if isinstance(value, dict) else getattr(value, part)
        return value


def _require_unique(names: list) -> list:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names must be unique; repeated: {', '.join(map(str, repeated))}")
    return names


def load_params(path: Path | str = "params.yaml") -> Params:
    """The shared sections validated, the models' sections as given (a stage validates its own model's)."""
    return validate_document(Params, read_document(path), Path(path))


def read_document(path: Path | str) -> dict:
    """params.yaml as a mapping, or one line saying why it is not one."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run from the repository root or pass --params") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    except _DuplicateKey as e:
        raise ConfigError(f"{path}: key {e} appears twice in one mapping (DVC refuses such a file)") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return raw


def validate_document(schema: type[Params], raw: dict, path: Path) -> Params:
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(one_line(schema, path, e)) from None


class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice is an error rather than silently the last value."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(f"{key!r} (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def canonical_json(value: Any) -> str:
    """A normalised text of a value, validated or as given: 5 and 5.0 give the same string, as DVC, which compares
    the values, sees them (Snakemake compares params by their text)."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def one_line(schema: type[BaseModel], path: Path, error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    key = ".".join(str(p) for p in first["loc"])
    if not key:  # a rule across sections: its message names the keys
        message = first["msg"].removeprefix("Value error, ")
    elif first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(schema, first["loc"][:-1]))
        message = f"{key}: unknown key; allowed keys here: {allowed}"
    else:
        message = f"{key}: {first['msg'].removeprefix('Value error, ')} (got {_short(first.get('input'))})"
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return f"{path}: {message}{more}"


def _allowed_keys(schema: type[BaseModel], parent_loc: tuple) -> list[str]:
    model = schema
    for part in parent_loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return list(model.model_fields)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
