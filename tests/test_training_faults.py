"""A deep training stage killed mid-run resumes to the same bytes; a diverging one stops cleanly."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from genbench import cli
from genbench.models import vae

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = Path("data/checkpoints/digits/seed-0/ddpm/checkpoint.pt")
WEIGHTS = Path("data/models/digits/seed-0/ddpm/weights.safetensors")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A folder with params and the preprocessed digits, where stages run as in the pipeline."""
    folder = tmp_path_factory.mktemp("stage")
    params = yaml.safe_load((ROOT / "tests/params/tiny.yaml").read_text())
    params["train"] |= {"checkpoint_every": 40, "threads": 1}
    params["generative"]["ddpm"] |= {"steps": 400, "batch_size": 16}
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("download", "preprocess"):
        genbench(folder, stage, "--dataset", "digits").check_returncode()
    tune(folder)
    return folder


def tune(folder: Path) -> None:
    """The settings files the deep models' training reads (no search space: the params as given)."""
    for model in ("ddpm", "vae"):
        genbench(folder, "tune", "--dataset", "digits", "--model", model).check_returncode()


def genbench(folder: Path, *args: str, background: bool = False):
    command = [sys.executable, "-m", "genbench", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if background:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


def fresh_copy(prepared: Path, tmp_path: Path, name: str, ddpm_steps: int | None = None) -> Path:
    """A copy of the prepared folder; `ddpm_steps` shortens training where only its start matters."""
    folder = tmp_path / name
    subprocess.run(["cp", "-r", str(prepared), str(folder)], check=True)
    if ddpm_steps is not None:
        params = yaml.safe_load((folder / "params.yaml").read_text())
        params["generative"]["ddpm"]["steps"] = ddpm_steps
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        tune(folder)
    return folder


@pytest.fixture(scope="module")
def straight_weights(prepared, tmp_path_factory) -> bytes:
    """The weights of an uninterrupted run."""
    straight = fresh_copy(prepared, tmp_path_factory.mktemp("straight"), "straight")
    genbench(straight, "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0").check_returncode()
    return (straight / WEIGHTS).read_bytes()


def stopped_after_a_checkpoint(folder: Path, stop: signal.Signals) -> tuple[subprocess.Popen, bytes]:
    """The DDPM's training started in `folder` and sent `stop` past its first checkpoint; the process and its stderr."""
    process = genbench(folder, "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0", background=True)
    deadline = time.monotonic() + 120
    while not (folder / CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # past the checkpoint, mid-way to the next one
    process.send_signal(stop)
    _, err = process.communicate()
    return process, err


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "terminated"])
def test_interrupted_training_resumes_to_identical_weights(prepared, straight_weights, tmp_path, stop):
    """SIGKILL loses the steps since the last checkpoint; SIGTERM (what a scheduler sends) ends the step,
    saves the checkpoint at that step, says so and exits 75, "try again"."""
    interrupted = fresh_copy(prepared, tmp_path, "interrupted")
    process, err = stopped_after_a_checkpoint(interrupted, stop)
    assert process.returncode != 0, "the run ended before it could be stopped; raise its steps"
    assert not (interrupted / WEIGHTS).exists()
    checkpoint_step = torch.load(interrupted / CHECKPOINT, weights_only=True)["step"]
    assert 0 < checkpoint_step < 400
    if stop == signal.SIGTERM:
        assert process.returncode == 75
        assert err.decode().splitlines()[-1] == (
            f"genbench: error: ddpm on digits, seed 0: stopped by SIGTERM after step {checkpoint_step}; its "
            f"checkpoint is saved and a rerun resumes from it"
        )

    resumed = genbench(interrupted, "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0")
    resumed.check_returncode()
    assert f"resuming from the checkpoint at step {checkpoint_step}" in resumed.stderr
    assert (interrupted / WEIGHTS).read_bytes() == straight_weights
    assert not (interrupted / CHECKPOINT).exists(), "a finished run leaves no checkpoint behind"


def test_logs_cut_mid_write_by_a_kill_do_not_stop_the_resume(prepared, straight_weights, tmp_path):
    """A kill while dvclive writes (it appends rows and rewrites its summary in place, after the checkpoint
    they follow) leaves a partial row and an empty summary; the resumed run drops both and logs on."""
    interrupted = fresh_copy(prepared, tmp_path, "cut-logs")
    process, _ = stopped_after_a_checkpoint(interrupted, signal.SIGTERM)
    assert process.returncode == 75, "the run ended before it could be stopped; raise its steps"
    live = interrupted / CHECKPOINT.parent / "live"
    curves = sorted(live.glob("plots/metrics/**/*.tsv"))
    assert curves and (live / "metrics.json").exists()
    with curves[0].open("a") as tsv:
        tsv.write("17650")  # a row cut short: no tab, no newline
    (live / "metrics.json").write_text("")

    resumed = genbench(interrupted, "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0")
    resumed.check_returncode()
    assert (interrupted / WEIGHTS).read_bytes() == straight_weights
    logs = interrupted / "reports/training/digits/seed-0/ddpm"
    assert json.loads((logs / "metrics.json").read_text())["step"] == 400
    for tsv in logs.glob("plots/metrics/**/*.tsv"):
        steps = [int(row["step"]) for row in csv.DictReader(tsv.open(), delimiter="\t")]
        assert steps == list(range(5, 401, 5)), tsv.name


def test_checkpoint_of_other_params_is_not_resumed(prepared, tmp_path):
    folder = fresh_copy(prepared, tmp_path, "other", ddpm_steps=20)
    (folder / CHECKPOINT).parent.mkdir(parents=True)
    torch.save({"run_id": "something else", "step": 5}, folder / CHECKPOINT)
    done = genbench(folder, "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0")
    done.check_returncode()
    assert "belongs to other params, data or code; starting afresh" in done.stderr


def test_a_crafted_pickle_checkpoint_is_refused_and_does_not_run(prepared, tmp_path):
    folder = fresh_copy(prepared, tmp_path, "crafted", ddpm_steps=20)
    (folder / CHECKPOINT).parent.mkdir(parents=True)
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"run_id": Payload(), "step": 5}, folder / CHECKPOINT)
    done = genbench(folder, "train", "--dataset", "digits", "--model", "ddpm", "--seed", "0")
    done.check_returncode()
    assert "ignoring unreadable checkpoint" in done.stderr
    assert not marker.exists()


def test_a_diverging_loss_stops_the_stage_with_one_line(prepared, tmp_path, monkeypatch, capsys):
    folder = fresh_copy(prepared, tmp_path, "nan")
    real_recipe = vae.recipe

    def poisoned_recipe(*args, **kwargs):
        recipe = real_recipe(*args, **kwargs)
        step, calls = recipe.step, []

        def nan_at_third(x, y, generator):
            calls.append(1)
            losses = step(x, y, generator)
            return losses | {"negative_elbo": torch.tensor(float("nan"))} if len(calls) == 3 else losses

        recipe.step = nan_at_third
        return recipe

    monkeypatch.setattr(vae, "recipe", poisoned_recipe)
    monkeypatch.chdir(folder)
    code = cli.main(["train", "--dataset", "digits", "--model", "vae", "--seed", "0"])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        err.splitlines()[-1]
        == "genbench: error: vae on digits, seed 0: negative_elbo loss is nan at step 3; lower the learning rate or "
        "check the data"
    )
    assert not (folder / "data/models/digits/seed-0/vae").exists()
    assert not (folder / "data/checkpoints/digits/seed-0/vae/checkpoint.pt").exists()
