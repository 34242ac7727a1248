"""What a tune stage writes: the settings its model's training reads, and the study's record the page shows.

The chosen settings are the best finished trial's, or the params as given where no trial beat them (and
without a search space or a budget). Only trials that ran to the end compete: a pruned trial's value is
an intermediate one.
"""

from __future__ import annotations

from pathlib import Path

from genbench import artifacts, records
from genbench.tune.search import Search


def write(
    settings_path: Path,
    summary_path: Path,
    search: Search,
    objective: str,
    direction: str,
    given_value: float | None,
    trials: list,
    fit_on: list[str],
) -> None:
    from optuna.trial import TrialState

    sign = 1 if direction == "maximize" else -1
    given = {name: getattr(search.given, name) for name in search.space}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: sign * t.value, default=None)  # the first of equals: the earlier trial
    improved = best is not None and (given_value is None or sign * best.value > sign * given_value)
    summary = {
        "model": search.model,
        "objective": objective,
        "direction": direction,
        "budget": search.budget,
        "space": {name: d.model_dump(exclude_defaults=True) for name, d in search.space.items()},
        "given": given,
        "given_value": given_value,
        "chosen": best.params if improved else given,
        "best_value": best.value if improved else given_value,
        "trials": [
            {
                "number": t.number,
                "params": t.params,
                "value": t.value,
                "state": t.state.name.lower(),
                "checks": [t.intermediate_values[k] for k in sorted(t.intermediate_values)],
            }
            for t in trials
        ],
    }
    records.Tuning.model_validate(summary)
    artifacts.write_json(summary_path, summary)
    chosen = search.given.model_dump() | summary["chosen"]
    artifacts.write_json(settings_path, {"model": search.model, "settings": chosen, "fit_on": fit_on})
