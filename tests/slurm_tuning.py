"""One study run by two SLURM jobs on the real one-node cluster (tests/slurm_cluster.py): a job array of
two `genbench tune` jobs shares the model's Optuna journal, as docs/tuning.md tells a cluster user to
spread a study. Part of tests/test_pipeline.py's SLURM test, which has the cluster running."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import optuna
import slurm_cluster
import yaml
from conftest import Workspace

from genbench.tune.study import was_set_aside

TRIALS = 8
JOURNAL = "data/studies/digits/featurenet.journal"
RECORD = "reports/tuning/digits/featurenet.json"


def finished(ws: Workspace) -> list:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(ws.path(JOURNAL))))
    (study,) = storage.get_all_studies()  # one study: the two jobs' trials went into the same one
    return [
        t
        for t in storage.get_all_trials(study._study_id, deepcopy=False)
        if t.state.is_finished() and not was_set_aside(t)
    ]


def job_states(array: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "-o", "show", "job", array], capture_output=True, text=True).stdout
    fields = [dict(pair.split("=", 1) for pair in line.split() if "=" in pair) for line in shown.splitlines()]
    return {f["JobId"]: f["JobState"] for f in fields}


def two_jobs_share_one_study(ws: Workspace, cluster: Path) -> None:
    """The workspace holds a finished tiny run (featurenet has a search space in tiny.yaml)."""
    params = yaml.safe_load(ws.path("params.yaml").read_text())
    before = ws.path("params.yaml").read_text()
    params["tune"]["trials"] = TRIALS
    params["featurenet"]["steps"] = 400  # trials of a few seconds, so that both jobs are running while trials remain
    ws.path("params.yaml").write_text(yaml.safe_dump(params))
    ws.path(JOURNAL).unlink(missing_ok=True)

    submitted = ws.run(
        "sbatch",
        "--parsable",
        "--array=0-1",
        "--partition=main",
        "--mem=1000M",
        f"--output={ws.root}/tune-%A_%a.log",
        "--wrap",
        "genbench tune --dataset digits --model featurenet",
    )
    array = submitted.stdout.strip()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        states = job_states(array)
        if len(states) == 2 and all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for s in states.values()):
            break
        time.sleep(0.5)
    logs = "".join(p.read_text() for p in ws.root.glob("tune-*.log"))
    assert set(job_states(array).values()) == {"COMPLETED"}, f"{logs[-3000:]}\n{slurm_cluster.state(cluster)}"

    trials = finished(ws)
    by_job = {}
    for t in trials:
        by_job.setdefault(t.user_attrs["worker"]["job"], []).append(t.number)
    print(f"trials by SLURM job: {by_job}")
    assert len(by_job) == 2 and all(by_job.values()), f"both jobs ran trials: {by_job}"
    assert TRIALS <= len(trials) <= TRIALS + 1, "a budget's worth (two jobs asking at once may add one)"
    record = json.loads(ws.path(RECORD).read_text())
    assert [t["number"] for t in record["trials"]] == sorted(t.number for t in trials)[:TRIALS]

    # The pipeline's own tune stage afterwards answers from the same study, with the same choice.
    ws.run("genbench", "tune", "--dataset", "digits", "--model", "featurenet")
    assert len(finished(ws)) == len(trials), "no trial run again"
    assert json.loads(ws.path(RECORD).read_text()) == record
    ws.path("params.yaml").write_text(before)
