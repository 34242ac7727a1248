"""Crashes under the real runners: kill -9 of `dvc repro` and of Snakemake mid-training, two
`dvc repro` at once, an output edited by hand and a corrupted object in DVC's cache."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import pytest
import yaml

pytestmark = [pytest.mark.pipeline, pytest.mark.faults]

CHECKPOINT = "data/checkpoints/digits/seed-0/ddpm/checkpoint.pt"
WEIGHTS = "data/models/digits/seed-0/ddpm/weights.safetensors"
SAMPLES = "data/samples/digits/seed-0/ddpm"


def long_ddpm(workspace) -> None:
    """The tiny params, with a DDPM that trains long enough to be killed between checkpoints."""
    params = yaml.safe_load(workspace.path("params.yaml").read_text())
    params["train"]["checkpoint_every"] = 10
    params["generative"]["ddpm"]["steps"] = 150
    workspace.path("params.yaml").write_text(yaml.safe_dump(params))
    workspace.commit("long ddpm")


def start(workspace, *command: str) -> subprocess.Popen:
    """A runner in its own process group, as a terminal starts it, so the whole group can be killed."""
    return subprocess.Popen(
        command,
        cwd=workspace.root,
        env=workspace.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_after_first_checkpoint(workspace, runner: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not workspace.path(CHECKPOINT).exists():
        assert runner.poll() is None, f"the runner ended before training checkpointed:\n{runner.stdout.read()}"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and the training stage with it, as a lost node or OOM kill does
    runner.wait()


def assert_nothing_downstream_ran(workspace) -> None:
    assert not workspace.path(WEIGHTS).exists(), "a killed training left weights under the final name"
    assert not workspace.path(SAMPLES).exists(), "sampling ran on an unfinished model"


@pytest.mark.minutes(1)
def test_dvc_repro_killed_mid_training_resumes_and_the_cache_heals(workspace):
    long_ddpm(workspace)
    first = start(workspace, "dvc", "repro", "sample@digits-ddpm-0")
    while not workspace.path(CHECKPOINT).exists() and first.poll() is None:
        time.sleep(0.05)
    assert first.poll() is None, f"the runner ended before training checkpointed:\n{first.stdout.read()}"
    # Held mid-training, so that the second repro meets it unfinished however long DVC takes to start.
    os.killpg(first.pid, signal.SIGSTOP)

    # A second repro in the same repository while the first runs: DVC's lock on the files refuses it at once.
    second = workspace.run("dvc", "repro", "sample@digits-ddpm-0", check=False, timeout=60)
    assert second.returncode != 0
    assert f"it is being blocked by:\n  (PID {first.pid})" in second.stderr, second.stdout + second.stderr

    kill_after_first_checkpoint(workspace, first)
    assert_nothing_downstream_ran(workspace)
    lock = yaml.safe_load(workspace.path("dvc.lock").read_text()) if workspace.path("dvc.lock").exists() else {}
    assert not {"train_generative@digits-ddpm-0", "sample@digits-ddpm-0"} & set(lock.get("stages", {}))

    resumed = workspace.run("dvc", "repro", "sample@digits-ddpm-0")
    assert "resuming from the checkpoint at step" in resumed.stdout + resumed.stderr
    assert "Data and pipelines are up to date" in workspace.run("dvc", "status", "sample@digits-ddpm-0").stdout
    assert not workspace.path(CHECKPOINT).exists()
    lock = yaml.safe_load(workspace.path("dvc.lock").read_text())["stages"]
    assert {"train_generative@digits-ddpm-0", "sample@digits-ddpm-0"} <= set(lock)

    # An output edited by hand: DVC reports it, and repro puts back the recorded bytes.
    workspace.run("dvc", "repro", "train@digits-logreg-0")
    model = workspace.path("data/models/digits/seed-0/logreg/model.skops")
    recorded = model.read_bytes()
    model.write_bytes(recorded + b"edited")
    assert "modified:" in workspace.run("dvc", "status", "train@digits-logreg-0").stdout
    workspace.run("dvc", "repro", "train@digits-logreg-0")
    assert model.read_bytes() == recorded

    # A corrupted object in DVC's cache: `dvc status` finds it, and repro rebuilds the output and the object.
    cached = workspace.path(
        f".dvc/cache/files/md5/{hashlib.md5(recorded).hexdigest()[:2]}/{hashlib.md5(recorded).hexdigest()[2:]}"
    )
    cached.chmod(0o644)
    cached.write_bytes(b"corrupted")
    assert "not in cache" in workspace.run("dvc", "status", "train@digits-logreg-0").stdout
    workspace.run("dvc", "repro", "train@digits-logreg-0")
    assert model.read_bytes() == recorded
    assert hashlib.md5(cached.read_bytes()).hexdigest() == hashlib.md5(recorded).hexdigest()
    assert (
        "Data and pipelines are up to date"
        in workspace.run("dvc", "status", "train@digits-logreg-0", "sample@digits-ddpm-0").stdout
    )


@pytest.mark.minutes(1)
def test_snakemake_killed_mid_training_reruns_incomplete_jobs(workspace):
    long_ddpm(workspace)
    target = "data/samples/digits/seed-0/ddpm/samples.npz"
    runner = start(workspace, "snakemake", "--cores", "1", target)
    kill_after_first_checkpoint(workspace, runner)
    assert_nothing_downstream_ran(workspace)

    # Snakemake's lock outlives a kill -9 and says so; --unlock is the documented way out.
    locked = workspace.run("snakemake", "--cores", "1", target, check=False)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    workspace.run("snakemake", "--unlock")
    resumed = workspace.run("snakemake", "--cores", "1", "--rerun-incomplete", target)
    assert "resuming from the checkpoint at step" in resumed.stdout + resumed.stderr
    assert workspace.path(WEIGHTS).exists() and workspace.path(f"{SAMPLES}/samples.npz").exists()
    assert "Nothing to be done" in workspace.run("snakemake", "-n", "--cores", "1", target).stdout
