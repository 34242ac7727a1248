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

from genbench import paths
from genbench.config import Params
from genbench.models import classic
from genbench.tune import choice, search, space, study

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
    tuned = search.of(params, model)
    trials, given_value = [], None
    if tuned.budget:
        arrays, _ = search.training_and_validation(dataset, data_path, meta_path)

        def score(settings) -> float:
            x, y = arrays["x_train"], arrays["y_train"]
            estimator, _ = classic.fit(tuned.module, settings, x, y, params.tune.seed, tuned.key)
            return float(np.mean(classic.predict(estimator, arrays["x_val"]) == arrays["y_val"]))

        def objective(trial) -> float:
            return score(tuned.trial_settings(trial))

        name = study.study_name(model, tuned.identity(params, data_path, OBJECTIVE))
        distributions = space.distributions(tuned.module.Params, tuned.space)
        trials = study.optimise(journal, name, "maximize", distributions, tuned.budget, params.tune.seed, objective)
        given_value = study.remembered(journal, name, "maximize", "given_value", lambda: score(tuned.given))
    fit_on = ["train", "val"] if params.tune.refit else ["train"]
    choice.write(settings_path, summary_path, tuned, OBJECTIVE, "maximize", given_value, trials, fit_on)
    return {"trial_seconds": sum(t.user_attrs["seconds"] for t in trials)}
