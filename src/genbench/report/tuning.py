"""The page's tuning section: per model, the budget, what tuning chose and what it gained on the validation
split, and Optuna's optimisation history drawn from the tune stage's record."""

from __future__ import annotations

import warnings

from genbench import paths, pipeline, records
from genbench.config import Params
from genbench.report.dataset_figures import Figure, FigureFiles


def section(params: Params, dataset: str, out: FigureFiles) -> list[dict]:
    """One row per model that had a study (a search space and tune.trials above 0)."""
    rows = []
    for model in [*params.models.classic, pipeline.FEATURE_SPACE, *params.models.generative]:
        tuning = records.read(paths.tuning_file(dataset, model), records.Tuning)
        if not tuning.trials:
            continue
        rows.append(
            {
                "model": model,
                "budget": tuning.budget,
                "pruned": sum(t.state == "pruned" for t in tuning.trials),
                "objective": tuning.objective,
                "percent": tuning.direction == "maximize",  # accuracies; FID is shown as it is
                "given": tuning.given,
                "given_value": tuning.given_value,
                "chosen": tuning.chosen,
                "best_value": tuning.best_value,
                "minutes": (records.stage_times("tune", dataset, model).trial_seconds or 0) / 60,
                "figure": _history(dataset, tuning, out),
            }
        )
    return rows


def _history(dataset: str, tuning: records.Tuning, out: FigureFiles) -> Figure:
    """Optuna's optimisation history, of a study rebuilt in memory from the record's trials."""
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=tuning.direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for trial in tuning.trials:
            if trial.state == "complete":
                study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=trial.value))
        axes = plot_optimization_history(study, target_name=tuning.objective)
    axes.set_title(f"{tuning.model} on {dataset}: {len(tuning.trials)} trials")
    axes.figure.set_size_inches(4.8, 3.2)
    return out.add(
        f"{dataset}/tuning-{tuning.model}.png",
        axes.figure,
        f"optimisation history of {tuning.model} on {dataset}",
        f"{tuning.model}: {tuning.objective} of each trial and the best so far.",
    )
