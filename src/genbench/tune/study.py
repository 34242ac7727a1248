"""An Optuna study kept in a journal file on disk, run to a budget of trials by one worker or several.

A killed tune resumes where it stopped and reaches the same choice as one never stopped: each
trial's sampler is seeded by the tune seed and the trial's place among the trials that count, so the
draws depend on the study's history only, and a trial a dead worker left running is set aside and
drawn again. A study's name carries a digest of everything its trials' values depend on (the
space, the settings as given, the data, the objective, the seed): a changed search starts a new
study in the same journal, and raising the budget continues the old one.

Several workers (processes, or cluster jobs on a shared file system) may run one study: each asks
for trials while the finished and the running ones fall short of the budget, then waits for the
others' running trials, so every worker returns the same trials. Optuna's journal storage keeps no
heartbeat (its RDB storage does), so a worker marks its running trial every HEARTBEAT_SECONDS, and
a running trial is a dead worker's when its mark is older than STALE_SECONDS, or when it is this
machine's and its process is gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genbench import randomness
from genbench.config import canonical_json
from genbench.errors import DataError

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 120.0
WAIT_SECONDS = 2.0  # between looks at the other workers' running trials
SET_ASIDE = "set_aside"  # a trial's mark: a dead worker left it running, and it is drawn again


class TrialFailed(Exception):
    """A trial whose settings the model cannot train with (a loss that diverged): it counts against the budget and
    is never chosen; the stage goes on."""


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
    pruner=None,
) -> list:
    """The study's first `budget` finished trials, once it has them and no worker runs another;
    `objective(trial)` reads trial.params, and may report to the pruner and raise optuna.TrialPruned."""
    import optuna
    from tqdm import tqdm

    optuna.logging.set_verbosity(logging.WARNING)  # tqdm shows the progress; the summary record holds the trials
    study = _open(journal, name, direction, pruner)
    worker = this_worker()
    finished = _finished(study)
    with tqdm(total=budget, initial=min(len(finished), budget), desc=f"tune {name}", unit="trial") as progress:
        while True:
            _set_aside_the_dead(study, worker)
            finished, running = _finished(study), _running(study)
            progress.update(min(len(finished), budget) - progress.n)
            if len(finished) >= budget and not running:
                break
            if len(finished) + len(running) < budget:
                _run_trial(study, distributions, seed, objective, worker)
            else:
                time.sleep(WAIT_SECONDS)  # the others' trials complete the budget
    return finished[:budget]


def this_worker() -> dict:
    """Who runs trials here: the host and process, and the SLURM job where there is one."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "job": os.environ.get("SLURM_JOB_ID")}


def remembered(journal: Path, name: str, direction: str, key: str, compute: Callable[[], float]) -> float:
    """A value kept in the study's own attributes, such as the settings as given scored: computed once, then read
    back, so that a study already at its budget answers without training again."""
    study = _open(journal, name, direction, None)
    if key not in study.user_attrs:
        study.set_user_attr(key, compute())
    return study.user_attrs[key]


def _run_trial(study, distributions: dict[str, Any], seed: int, objective: Callable, worker: dict) -> None:
    import optuna
    from optuna.samplers import TPESampler
    from optuna.trial import TrialState

    trial = _ask_marked(study, worker)
    draw = _draw_number(study, trial.number)
    trial.set_user_attr("draw", draw)
    study.sampler = TPESampler(seed=randomness.seed_of(seed, f"tune/trial-{draw}"))
    for key, distribution in distributions.items():
        _suggest(trial, key, distribution)
    start = time.perf_counter()
    with _Heartbeat(study, trial):
        try:
            value, state = objective(trial), TrialState.COMPLETE
        except optuna.TrialPruned:
            value, state = None, TrialState.PRUNED
        except TrialFailed as e:
            value, state = None, TrialState.FAIL
            trial.set_user_attr("failure", str(e))
    trial.set_user_attr("seconds", time.perf_counter() - start)
    study.tell(trial, value, state=state)


def _ask_marked(study, worker: dict):
    """study.ask(), with the worker's mark written in the same journal line as the new trial: a worker killed
    between asking and marking would leave a running trial that no one could tell from a live worker's."""
    import optuna
    from optuna.trial import TrialState, create_trial

    study._thread_local.cached_all_trials = None  # as ask() does: the samplers read the journal afresh
    template = create_trial(state=TrialState.RUNNING, user_attrs={"worker": worker})
    return optuna.Trial(study, study._storage.create_new_trial(study._study_id, template_trial=template))


def _draw_number(study, number: int) -> int:
    """What seeds trial `number`'s sampler: its place among the trials that count (those set aside do not), so
    that a trial drawn again after its worker died draws what it drew before; the next free one where another
    trial that counts has it (a worker that died while others drew), so no two trials draw alike."""
    set_aside = _set_aside(study)
    gone = {t.number for t in set_aside}
    taken = {
        t.user_attrs.get("draw")
        for t in study.get_trials(deepcopy=False)
        if t.number != number and t.number not in gone
    }
    draw = number - sum(1 for t in set_aside if t.number < number)
    while draw in taken:
        draw += 1
    return draw


def _suggest(trial, key: str, distribution) -> None:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        trial.suggest_categorical(key, distribution.choices)
    elif isinstance(distribution, IntDistribution):
        trial.suggest_int(key, distribution.low, distribution.high, log=distribution.log)
    else:
        trial.suggest_float(key, distribution.low, distribution.high, log=distribution.log)


class _Heartbeat:
    """Marks the trial as alive every HEARTBEAT_SECONDS while its objective runs, from a thread."""

    def __init__(self, study, trial):
        self._storage, self._trial_id = study._storage, trial._trial_id  # Optuna's own heartbeat reaches in too
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self._storage.set_trial_user_attr(self._trial_id, "heartbeat", time.time())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _set_aside_the_dead(study, me: dict) -> None:
    from optuna.trial import TrialState

    for trial in _running(study):
        if _is_dead(trial, me):
            # Marked before it is failed, as a time alone cannot tell: a worker killed between its trial's time and
            # its value left a time on it. Killed between the two, the marked trial is still running: set aside again.
            study._storage.set_trial_user_attr(trial._trial_id, SET_ASIDE, True)
            study.tell(trial.number, state=TrialState.FAIL)


def _is_dead(trial, me: dict) -> bool:
    worker = trial.user_attrs.get("worker")
    last_sign = trial.user_attrs.get("heartbeat", trial.datetime_start.timestamp())
    if time.time() - last_sign > STALE_SECONDS:
        return True
    if worker is None or worker["host"] != me["host"]:
        return False
    return worker["pid"] == me["pid"] or not _process_exists(worker["pid"])


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def _finished(study) -> list:
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False, states=done) if not was_set_aside(t)]


def _set_aside(study) -> list:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if was_set_aside(t)]


def was_set_aside(trial) -> bool:
    """A finished trial counts when its objective ran to the end (its time is kept) and no worker set it aside."""
    return SET_ASIDE in trial.user_attrs or "seconds" not in trial.user_attrs


def _open(journal: Path, name: str, direction: str, pruner):
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
        pruner=pruner,
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
