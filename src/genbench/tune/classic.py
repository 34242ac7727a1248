"""tune@D-M for the classic baselines: settings chosen by validation accuracy, with the same budget for every model.

The model is fitted on the training split with each trial's settings and scored on the validation
split; the test split is never read. The params as given are scored too, outside the budget, so the
page shows what tuning gained. The chosen settings go to the file the model's training reads
(tune/choice.py), with the splits to fit them on: with tune.refit, the training and validation splits together, as a
search that chooses on a held-out split refits on all it may use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import ConfigError
from genbench.models import base, classic
from genbench.tune import choice, space, study

OBJECTIVE = "validation accuracy"


def stage(params: Params, io) -> dict:
    return run(
        params,
        io.dataset,
        io.model,
        io.input("data"),
        io.input("meta"),
        io.output("settings"),
        io.output("summary"),
        paths.study_file(io.dataset, io.model),
    )


def run(
    params: Params,
    dataset: str,
    model: str,
    data_path: Path,
    meta_path: Path,
    settings_path: Path,
    summary_path: Path,
    journal: Path,
) -> dict:
    """Write the settings training reads and the study's record; returns the trials' time, which stays out of both."""
    module = base.module_of(model)
    key = base.training_section(model, module.KIND)
    given = base.settings(params, model, module)
    searched = params.tune.space.get(model, {})
    budget = params.tune.trials if searched else 0
    trials, given_value = [], None
    if budget:
        n_classes = len(records.read(meta_path, records.DatasetMeta).classes)
        arrays = splits.load(data_path, ("train", "val"), n_classes=n_classes)
        if len(arrays["y_val"]) == 0:
            raise ConfigError(f"params.yaml: tune.trials: {dataset} has no validation split; set data.val_fraction")

        def score(settings) -> float:
            estimator, _ = classic.fit(module, settings, arrays["x_train"], arrays["y_train"], params.tune.seed, key)
            return float(np.mean(classic.predict(estimator, arrays["x_val"]) == arrays["y_val"]))

        def objective(trial) -> float:
            return score(base.validated(module.Params, given.model_dump() | trial.params, key))

        search = {
            "space": {name: d.model_dump() for name, d in searched.items()},
            "given": given.model_dump(),
            "data": artifacts.sha256_of(data_path),
            "objective": OBJECTIVE,
            "seed": params.tune.seed,
        }
        distributions = space.distributions(module.Params, searched)
        name = study.study_name(model, search)
        trials = study.optimise(journal, name, "maximize", distributions, budget, params.tune.seed, objective)
        given_value = study.remembered(journal, name, "maximize", "given_value", lambda: score(given))
    fit_on = ["train", "val"] if params.tune.refit else ["train"]
    choice.write(
        settings_path, summary_path, model, OBJECTIVE, "maximize", given, searched, budget, given_value, trials, fit_on
    )
    return {"trial_seconds": sum(t.user_attrs["seconds"] for t in trials)}
