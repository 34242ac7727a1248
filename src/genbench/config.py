"""The schema of params.yaml.

Every stage validates the whole file before doing any work, so a typo stops the
pipeline at once with one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from genbench.data import own_layout
from genbench.data.sources import DATASET_NAMES
from genbench.errors import ConfigError
from genbench.models.registry import GENERATIVE
from genbench.schema import DeepModelParams, PositiveFloat, Section

CLASSIC_MODELS = ("xgboost", "svm", "logreg")
GENERATIVE_MODELS = tuple(GENERATIVE)

OWN_DATASET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$"  # safe in paths, stage names and Snakemake wildcards
ClassicModelName = Literal[CLASSIC_MODELS]
GenerativeModelName = Literal[GENERATIVE_MODELS]


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

    path: str = Field(description="a folder with one subfolder of PNG or JPEG images per class, or an .npz holding x and y; inside data/own/")
    channels: Literal[1, 3] = Field(description="1: grey, 3: colour; every image is converted")
    size: list[Annotated[int, Field(ge=4, le=4096)]] | None = Field(
        None, min_length=2, max_length=2, description="[height, width] every image is brought to; null: the images' own, which must agree"
    )
    fit: Literal["resize", "pad"] = Field("resize", description="how an image reaches `size`: resized, or centred on black (never cropped)")


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


class TrainParams(Section):
    """Shared by every deep model's training stage."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(2, ge=1, le=256, description="CPU threads for torch; CPU results depend on it")
    checkpoint_every: int = Field(500, ge=1, description="steps between checkpoints a killed run resumes from")
    log_every: int = Field(50, ge=1, description="steps between logged loss values")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: fp32 on the CPU; on a GPU bf16 where it has it, else fp16 with a gradient scaler",
    )
    processes: int = Field(1, ge=1, le=1024, description="ranks per deep training job (torch.distributed), each on its share of every batch")


class FeatureNetParams(DeepModelParams):
    steps: int = Field(1500, ge=1, le=10_000_000)
    lr: PositiveFloat = 0.003
    weight_decay: float = Field(5e-4, ge=0)
    width: int = Field(32, ge=4, le=512)
    feature_dim: int = Field(128, ge=2, le=4096)


# One section per registered generative model (models/registry.py), defaults filled in.
GenerativeParams = create_model(
    "GenerativeParams", __base__=Section, **{name: (entry.train, entry.train()) for name, entry in GENERATIVE.items()}
)
SamplingParams = create_model(
    "SamplingParams", __base__=Section, **{name: (entry.sampling, entry.sampling()) for name, entry in GENERATIVE.items()}
)


class EvaluateParams(Section):
    n_samples: int = Field(1000, ge=10, le=1_000_000, description="samples drawn from each generative model")
    kid_subsets: int = Field(100, ge=1, le=10_000, description="random subsets KID averages over")
    nearest_neighbours: int = Field(3, ge=1, le=100, description="k of the k-NN manifolds of precision/recall")
    iwae_samples: int = Field(1000, ge=1, le=100_000, description="importance samples per test image for the VAE bound")
    ddpm_bound: bool = Field(True, description="compute the DDPM's variational bound")
    bound_images: int | None = Field(None, ge=2, le=1_000_000, description="compared test images the likelihood bounds use, stratified; null: all")
    bound_timesteps: int | None = Field(100, ge=1, le=1_000_000, description="timesteps per image behind the DDPM bound, one per stratum; null: every one")
    timing_samples: int = Field(20, ge=1, le=100_000, description="images drawn to time each sampler of a model")
    timing_steps: int = Field(50, ge=1, le=1_000_000, description="network calls each sampler is timed over, scaled to its whole run")
    feature_seed: int = Field(0, ge=0, lt=2**32, description="the featurenet replicate whose features every comparison uses")
    bootstrap_resamples: int = Field(200, ge=20, le=100_000, description="resamples behind each bootstrap interval")

    @model_validator(mode="after")
    def _enough_samples_for_the_neighbours(self) -> EvaluateParams:
        if self.nearest_neighbours >= self.n_samples:
            raise ValueError(f"nearest_neighbours ({self.nearest_neighbours}) must be below n_samples ({self.n_samples})")
        return self


class JobResources(Section):
    mem_mb: int = Field(ge=64, le=100_000_000, description="memory a job asks a cluster for, in MB")
    runtime: int = Field(ge=1, le=1_000_000, description="wall time a job asks a cluster for, in minutes")


class ResourcesParams(Section):
    """What each Snakemake job asks a cluster scheduler for. No result depends on it, so no DVC stage reads it."""

    light: JobResources = JobResources(mem_mb=2000, runtime=30)
    deep: JobResources = Field(JobResources(mem_mb=8000, runtime=240), description="deep models' train, sample and evaluate jobs")


class ModelLists(Section):
    classic: list[ClassicModelName] = Field(default_factory=lambda: list(CLASSIC_MODELS))
    generative: list[GenerativeModelName] = Field(default_factory=lambda: list(GENERATIVE_MODELS))

    @field_validator("classic", "generative")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return _require_unique(names)


class Params(Section):
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="training replicates; the splits stay fixed (data.seed)")
    datasets: list[str] = Field(default_factory=lambda: ["digits"], min_length=1, description="registry names and names of own_datasets")
    own_datasets: dict[Annotated[str, Field(pattern=OWN_DATASET_NAME)], OwnDataset] = Field(default_factory=dict)
    models: ModelLists = ModelLists()
    download: DownloadParams = DownloadParams()
    data: DataParams = DataParams()
    classic: ClassicParams = ClassicParams()
    train: TrainParams = TrainParams()
    featurenet: FeatureNetParams = FeatureNetParams()
    generative: GenerativeParams = GenerativeParams()
    sampling: SamplingParams = SamplingParams()
    evaluate: EvaluateParams = EvaluateParams()
    resources: ResourcesParams = ResourcesParams()

    @field_validator("datasets")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return _require_unique(names)

    @model_validator(mode="after")
    def _datasets_are_known(self) -> Params:
        for name in self.datasets:
            if name not in DATASET_NAMES and name not in self.own_datasets:
                raise ValueError(
                    f"datasets: {name!r} is neither a registry dataset ({', '.join(DATASET_NAMES)}) nor a key of own_datasets "
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
                f"evaluate.feature_seed: {self.evaluate.feature_seed} is not one of seeds ({', '.join(map(str, self.seeds))}); "
                "the feature space is the featurenet of one of the seeds"
            )
        return self

    @model_validator(mode="after")
    def _batches_split_evenly(self) -> Params:
        processes = self.train.processes
        trained = [("featurenet", self.featurenet)] + [(f"generative.{name}", getattr(self.generative, name)) for name in self.models.generative]
        for key, settings in trained:
            if settings.batch_size % processes:
                raise ValueError(f"{key}.batch_size: {settings.batch_size} is not a multiple of train.processes ({processes}); each rank takes an equal share")
        return self

    def section(self, dotted_key: str) -> Any:
        """The validated value at a dotted key such as "classic.svm"."""
        value: Any = self
        for part in dotted_key.split("."):
            value = getattr(value, part)
        return value


def image_size_problem(params: Params, height: int, width: int) -> str | None:
    """Why the listed models cannot take images of this size, or None: every model needs sides of 4 or
    more, and each generative one multiples of its side_multiple()."""
    needs = {model: getattr(params.generative, model).side_multiple() for model in params.models.generative}
    failing = {model: n for model, n in needs.items() if height % n or width % n}
    if min(height, width) >= 4 and not failing:
        return None
    step = max([4, *failing.values()])
    rules = ", ".join(f"{model} needs sides divisible by {n}" for model, n in failing.items()) or "the models need sides of 4 or more"
    padded = f"{max(4, -(-height // step) * step)}x{max(4, -(-width // step) * step)}"
    return f"{rules}; declare a size such as {padded} (fit: pad or resize)"


def _require_unique(names: list) -> list:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names must be unique; repeated: {', '.join(map(str, repeated))}")
    return names


def load_params(path: Path | str = "params.yaml") -> Params:
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
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_one_line(path, e)) from None
    own_layout.check(params, path)
    return params


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
    """A normalised text of a validated value: 5 and 5.0 give the same string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=lambda model: model.model_dump(mode="json"))


def _one_line(path: Path, error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    key = ".".join(str(p) for p in first["loc"])
    if not key:  # a rule across sections: its message names the keys
        message = first["msg"].removeprefix("Value error, ")
    elif first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(first["loc"][:-1]))
        message = f"{key}: unknown key; allowed keys here: {allowed}"
    else:
        message = f"{key}: {first['msg'].removeprefix('Value error, ')} (got {_short(first.get('input'))})"
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return f"{path}: {message}{more}"


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
