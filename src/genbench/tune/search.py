"""What a tune stage searches: the model's settings as given, its space and budget, the splits its trials
score on, and what names its study."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from genbench import artifacts, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import ConfigError
from genbench.models import base
from genbench.schema import Section


@dataclass(frozen=True)
class Search:
    model: str
    module: ModuleType
    key: str  # the model's params section, such as classic.svm
    given: Section  # its settings as the params give them
    space: dict  # tune.space.<model>
    budget: int  # trials; 0 without a space or with tune.trials 0

    def trial_settings(self, trial) -> Section:
        """The settings as given, with the trial's draws in place."""
        return base.validated(self.module.Params, self.given.model_dump() | trial.params, self.key)

    def identity(self, params: Params, data_path: Path, objective: str) -> dict:
        """What every trial's score depends on, whatever the model (a stage adds its own): its digest names the
        study."""
        return {
            "space": {name: d.model_dump() for name, d in self.space.items()},
            "given": self.given.model_dump(),
            "data": artifacts.sha256_of(data_path),
            "objective": objective,
            "seed": params.tune.seed,
        }


def of(params: Params, model: str) -> Search:
    module = base.module_of(model)
    space = params.tune.space.get(model, {})
    return Search(
        model,
        module,
        base.training_section(model, module.KIND),
        base.settings(params, model, module),
        space,
        params.tune.trials if space else 0,
    )


def training_and_validation(dataset: str, data_path: Path, meta_path: Path) -> tuple[dict, records.DatasetMeta]:
    """The training and validation splits, and the dataset's record; a dataset without a validation split stops."""
    meta = records.read(meta_path, records.DatasetMeta)
    arrays = splits.load(data_path, ("train", "val"), n_classes=len(meta.classes))
    if len(arrays["y_val"]) < 2:
        raise ConfigError(f"params.yaml: tune.trials: {dataset} has no validation split; set data.val_fraction")
    return arrays, meta
