"""Deep training on the real one-node SLURM cluster (tests/slurm_cluster.py): a data-parallel job of two
tasks, sent SLURM's time-limit signal and later requeued by `scontrol requeue`, comes back each time,
resumes from its checkpoint and ends with the bytes of an uninterrupted run that torchrun's launcher
started on this machine. Part of tests/test_pipeline.py's SLURM test, which has the cluster running:
a second cluster would wait for the first to stop."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import slurm_cluster
import torch
import yaml
from conftest import Workspace

MODEL_DIR = "data/models/digits/seed-0/ddpm"
STEPS = 300  # long enough for two interruptions at checkpoints 20 steps apart
CHECKPOINT = "data/checkpoints/digits/seed-0/ddpm/checkpoint.pt"


def two_ranks_long_enough_to_interrupt(ws: Workspace) -> None:
    params = yaml.safe_load(ws.path("params.yaml").read_text())
    params["train"] |= {"processes": 2, "checkpoint_every": 20}
    params["train"]["device"] = "cpu"
    params["generative"]["ddpm"]["steps"] = STEPS
    ws.path("params.yaml").write_text(yaml.safe_dump(params))


def checkpoint_step(ws: Workspace) -> int:
    path = ws.path(CHECKPOINT)
    try:
        return int(torch.load(path, weights_only=True)["step"]) if path.exists() else 0
    except (OSError, RuntimeError, EOFError):  # removed between the check and the load: the run ended
        return 0


def training_job() -> str | None:
    """The id of the training job (the executor puts the rule's name in each job's comment)."""
    queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout.splitlines()
    return next((line.split()[0] for line in queue if "rule_train_generative" in line), None)


def job_fields(job: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    return dict(pair.split("=", 1) for pair in shown.split() if "=" in pair)


def wait_until(condition, what: str, snakemake: subprocess.Popen, cluster: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and snakemake.poll() is None:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(
        f"no {what} within {timeout} "
        f"s\n{snakemake.stderr.read() if snakemake.poll() is not None else ''}\n{slurm_cluster.state(cluster)}"
    )


def signal_then_requeue_a_two_task_training_job(ws: Workspace, scratch: Path, cluster: Path) -> None:
    """The workspace holds a finished tiny run; prints the timeline of signals, checkpoints and restarts."""
    two_ranks_long_enough_to_interrupt(ws)
    reference = Workspace(scratch / "reference")
    shutil.copytree(ws.root, reference.root, symlinks=True)
    for each in (ws, reference):  # the settings with STEPS steps
        each.run("genbench", "tune", "--dataset", "digits", "--model", "ddpm")
    reference.run(
        "genbench", "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0"
    )  # torchrun's launcher, uninterrupted

    started = time.monotonic()
    timeline: list[tuple[float, str]] = []

    def note(event: str) -> None:
        timeline.append((round(time.monotonic() - started, 1), event))

    snakemake = subprocess.Popen(
        [
            "timeout",
            "-s",
            "KILL",
            "600",
            "snakemake",
            "--profile",
            "profiles/slurm",
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--slurm-keep-successful-logs",
            # Only the training job: train.processes changed every deep job's params, and the featurenet's
            # jobs would run first for nothing (its tuned settings are already in place, above).
            "--rerun-triggers",
            "mtime",
            "input",
            "--force",
            f"{MODEL_DIR}/weights.safetensors",
        ],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    job = wait_until(lambda: training_job(), "training job in the queue", snakemake, cluster)
    first = wait_until(lambda: checkpoint_step(ws), "first checkpoint", snakemake, cluster)
    fields = job_fields(job)
    assert fields["NumTasks"] == "2" and fields["Requeue"] == "1", fields  # two tasks, and it may come back
    note(f"checkpoint at step {first}; SIGUSR1 to the job's tasks, as SLURM sends it ahead of the time limit")
    subprocess.run(["scancel", "--signal=USR1", job], check=True)

    def running_again(restarts: int):
        fields = job_fields(job)
        return fields if fields.get("Restarts") == str(restarts) and fields.get("JobState") == "RUNNING" else None

    wait_until(lambda: running_again(1), "restart after the job requeued itself", snakemake, cluster)
    resumed_at = checkpoint_step(ws)
    note(f"running again (Restarts=1), from the checkpoint at step {resumed_at}")
    second = wait_until(
        lambda: (step := checkpoint_step(ws)) > resumed_at and step, "checkpoint after the restart", snakemake, cluster
    )
    note(f"checkpoint at step {second}; scontrol requeue (SIGTERM)")
    subprocess.run(["scontrol", "requeue", job], check=True)
    wait_until(lambda: running_again(2), "restart after scontrol requeue", snakemake, cluster)
    note(f"running again (Restarts=2), from the checkpoint at step {checkpoint_step(ws)}")
    out, err = snakemake.communicate(timeout=600)
    note(f"snakemake exited {snakemake.returncode}")
    print("\n".join(f"{seconds:6.1f} s  {event}" for seconds, event in timeline))
    assert snakemake.returncode == 0, f"{err[-6000:]}\n{slurm_cluster.state(cluster)}"

    job_log = "".join(
        p.read_text() for p in ws.path(".snakemake/slurm_logs/rule_train_generative/digits_0_ddpm").glob("*.log")
    )
    stops = re.findall(r"stopped by (SIGUSR1|SIGTERM) after step (\d+)", job_log)
    resumes = [int(step) for step in re.findall(r"resuming from the checkpoint at step (\d+)", job_log)]
    assert [signal for signal, _ in stops] == ["SIGUSR1", "SIGTERM"], job_log[-4000:]
    assert resumes == [int(step) for _, step in stops], "each run resumes where the one before stopped"
    assert first <= resumes[0] < second <= resumes[1] < STEPS
    for name in ("weights.safetensors", "train.json", "config.json"):
        assert ws.path(f"{MODEL_DIR}/{name}").read_bytes() == reference.path(f"{MODEL_DIR}/{name}").read_bytes(), name
    assert not ws.path(CHECKPOINT).exists()
