"""An Optuna study kept in a journal file on disk, run to a budget of trials.

A killed tune resumes where it stopped and reaches the same choice as one never stopped: each
trial's sampler is seeded by the tune seed and the number of trials already finished, so the draws
depend on the study's history only, and a trial a killed process left running is set aside and
drawn again. A study's name carries a digest of everything its trials' values depend on (the
space, the settings as given, the data, the objective, the seed): a changed search starts a new
study in the same journal, and raising the budget continues the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genbench import randomness
from genbench.config import canonical_json
from genbench.errors import DataError


def study_name(model: str, search: dict) -> str:
    return f"{model}-{hashlib.sha256(canonical_json(search).encode()).hexdigest()[:16]}"


def optimise(
    journal: Path,
    name: str,
    direction: str,
    distributions: dict[str, Any],
    budget: int,
    seed: int,
    objective: Callable[[Any], float],
) -> list:
    """The study's finished trials after running it to `budget` of them; `objective(trial)` reads trial.params."""
    import optuna
    from optuna.samplers import TPESampler
    from optuna.trial import TrialState
    from tqdm import tqdm

    optuna.logging.set_verbosity(logging.WARNING)  # tqdm shows the progress; the summary record holds the trials
    study = _open(journal, name, direction)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)  # one process tunes a model: a running trial is a dead one's

    finished = _finished(study)
    with tqdm(total=budget, initial=min(len(finished), budget), desc=f"tune {name}", unit="trial") as progress:
        while len(finished) < budget:
            study.sampler = TPESampler(seed=randomness.seed_of(seed, f"tune/trial-{len(finished)}"))
            trial = study.ask(distributions)
            start = time.perf_counter()
            value = objective(trial)
            trial.set_user_attr("seconds", time.perf_counter() - start)
            study.tell(trial, value)
            finished = _finished(study)
            progress.update(1)
    return finished[:budget]


def _finished(study) -> list:
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    # A trial without its time is one a killed process left running, set aside and drawn again.
    return [t for t in study.get_trials(deepcopy=False, states=done) if "seconds" in t.user_attrs]


def _open(journal: Path, name: str, direction: str):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    problem = _not_a_journal(journal)
    if problem:
        raise DataError(f"{journal}: not an Optuna journal ({problem}); move it away to start the studies again")
    journal.parent.mkdir(parents=True, exist_ok=True)
    # An absolute path: Optuna's lock is a symlink to the journal, and a relative one would point nowhere, so a
    # lock left by a killed process would never be found stale.
    return optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(journal.resolve()))),
        study_name=name,
        direction=direction,
        load_if_exists=True,
    )


def _not_a_journal(journal: Path) -> str | None:
    """Why the file cannot be Optuna's journal, checked before Optuna appends to it; None where it can."""
    if not journal.exists():
        return None
    # Optuna's journal is JSON lines, each an operation; a last line cut short by a kill is skipped by Optuna.
    for number, line in enumerate(journal.read_bytes().splitlines(keepends=True), start=1):
        if not line.endswith(b"\n"):
            break
        try:
            operation = json.loads(line)
        except ValueError:
            return f"line {number} is not JSON"
        if not isinstance(operation, dict) or "op_code" not in operation:
            return f"line {number} is not a journal operation"
    return None
