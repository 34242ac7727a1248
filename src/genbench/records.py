"""The JSON records one stage hands to the next, checked on the way in.

A record damaged or edited by hand stops the reading stage with one line naming the file
and the key, instead of a KeyError deep inside it. Records may carry more keys than
these; only what a later stage reads is checked. The metrics records are checked on the way
out too: the evaluation stage that writes one validates it first, so what evaluation writes and
what the report reads (metric_table.py's columns) cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from genbench import artifacts, paths, timings
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


# ---------------------------------------------------------------- metrics files (metric_table.py's columns)

# A metric may be undefined (NaN); its interval, where it has one, is two finite numbers.
Interval = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=2)]


class ClassifierMetrics(Record):
    """reports/metrics/<dataset>/seed-<seed>/<classifier>.json"""

    accuracy: float
    accuracy_interval: Interval
    macro_f1: float
    macro_f1_interval: Interval
    confusion_matrix: list[list[NonNegativeInt]] = Field(min_length=2)
    n_test: int = Field(ge=1)


class ModelAsClassifier(ClassifierMetrics):
    """A generative model that also classifies (its classify() hook); whether it got each test image right, in
    order, pairs it with the other classifiers (McNemar's test)."""

    correct: list[bool]


class FeatureComparison(Record):
    """An image set against the real test split in featurenet space (evaluate/comparison.py)."""

    n_images: int = Field(ge=1)
    fid: float
    fid_interval: Interval
    kid: float
    kid_interval: Interval
    precision: float
    precision_interval: Interval
    recall: float
    recall_interval: Interval
    density: float
    density_interval: Interval
    coverage: float
    coverage_interval: Interval
    intra_class_fid: float | None = None  # sets with classes: a conditional model's, the floor's
    intra_class_fid_interval: Interval | None = None


class Memorisation(Record):
    closer_to_train: float
    closer_to_train_interval: Interval


class SampleClasses(Record):
    predicted_counts: list[NonNegativeInt]
    entropy_bits: float
    coverage: float
    label_agreement: float | None = None  # a conditional model's only
    label_agreement_interval: Interval | None = None


class Likelihood(Record):
    kind: Literal["exact", "vlb", "iwae"]  # the report calls the last two bounds
    note: str
    n_images: int = Field(ge=1)
    bits_per_dim: float
    bits_per_dim_interval: Interval | None


class Rate(Record):
    rate: float
    rate_interval: Interval  # Wilson's
    n: NonNegativeInt


class Faithfulness(Record):
    """How often samples show what their prompts ask (evaluate/faithfulness.py): per row "class", each
    attribute's name and "all"; an attribute's rate counts the prompts that name it."""

    captions: Literal["measured", "given"]  # given: the dataset's own (data/own.py), only the class is checked
    attributes: list[str]
    held_out_pairs: list[str]
    seen: dict[str, Rate]
    held_out: dict[str, Rate] | None
    real_own_captions: dict[str, Rate]
    real_other_captions: dict[str, Rate] | None


class ClassScored(FeatureComparison):
    """A comparison in featurenet space, with the classifier score (the Inception Score on the featurenet's classes)."""

    classifier_score: float
    classifier_score_interval: Interval


class InSpace(FeatureComparison):
    """A comparison in a feature space beside the featurenet (evaluate/spaces.py), with its Inception Score where
    the space has classes."""

    inception_score: float | None = None
    inception_score_interval: Interval | None = None


class GenerativeMetrics(ClassScored):
    """reports/metrics/<dataset>/seed-<seed>/<generative model>.json"""

    spaces: dict[str, InSpace] | None = None  # evaluate.feature_spaces beyond the featurenet
    conditional: bool
    memorisation: Memorisation
    classes: SampleClasses
    likelihood: Likelihood | None  # a model without the likelihood capability
    faithfulness: Faithfulness | None = None  # a model that follows prompts
    classifier: ModelAsClassifier | None = None  # a model that also classifies


class CasScore(Record):
    accuracy: float
    accuracy_interval: Interval
    n_train: int = Field(ge=1)
    n_test: int = Field(ge=1)


class CasScores(Record):
    """reports/metrics/<dataset>/seed-<seed>/cas/<generative model>.json"""

    scores: dict[str, CasScore]


class Floor(ClassScored):
    memorisation: Memorisation


class SpaceReferences(Record):
    real_heldout_vs_test: InSpace
    noise_vs_test: InSpace


class References(Record):
    """reports/metrics/<dataset>/references.json: the floor and the ceiling every generative model sits between"""

    real_heldout_vs_test: Floor
    noise_vs_test: ClassScored
    cas_real_train: dict[str, CasScore]
    spaces: dict[str, SpaceReferences] | None = None  # evaluate.feature_spaces beyond the featurenet


class StageTimes(Record):
    """The figures of a timing record the report shows (genbench/timings.py)."""

    fit_seconds: float | None = None
    train_seconds: float | None = None
    predict_seconds: float | None = None
    seconds_per_1000: float | None = None
    trial_seconds: float | None = None  # a tune stage's trials, those of earlier runs of a resumed study included


def stage_times(command: str, dataset: str, model: str | None = None, seed: int | None = None) -> StageTimes:
    """The figures of one stage's timing record that the page shows, checked to be numbers."""
    path = paths.timing_file(command, dataset, model, seed)
    return validate(path, timings.read(path), StageTimes)


class TunedSettings(Record):
    """data/tuned/<dataset>/<model>.json: the settings its training reads (chosen by its tune stage, or as given)"""

    model: str
    settings: dict
    fit_on: list[Literal["train", "val"]] = Field(min_length=1)  # the splits training fits on


class Trial(Record):
    number: NonNegativeInt
    params: dict
    value: float | None  # None: the trial failed; a pruned trial's: its last intermediate score
    state: Literal["complete", "pruned", "fail"]
    checks: list[float] = []  # a deep model's scores during the trial, which the pruner compared


class Tuning(Record):
    """reports/tuning/<dataset>/<model>.json: one model's study, as the report shows it"""

    model: str
    objective: str
    direction: str  # "maximize" or "minimize"
    budget: NonNegativeInt  # trials every model with a search space gets (tune.trials)
    space: dict  # the searched keys and their ranges or choices, as params.yaml gives them
    given: dict  # the searched keys' values in params.yaml
    given_value: float | None  # the objective at the given values, scored outside the budget; None without a study
    chosen: dict  # the searched keys' chosen values (the given ones without a study)
    best_value: float | None
    trials: list[Trial]


RecordType = TypeVar("RecordType", bound=Record)


def read(path: Path, kind: type[RecordType]) -> RecordType:
    return validate(path, artifacts.read_json(path), kind)


def validate(path: Path, raw, kind: type[RecordType]) -> RecordType:
    """`raw`, read from `path`, as a `kind`; a DataError naming the file and the key otherwise."""
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(raw).__name__}; rerun the stage that makes it")
    try:
        return kind.model_validate(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{path}: {key}: {first['msg']}; rerun the stage that makes it") from None
