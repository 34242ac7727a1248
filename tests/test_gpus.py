"""One GPU per local process (genbench/gpus.py), tested without a GPU: the claims themselves, and
Snakemake running deep jobs side by side under `--resources gpu=2`."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLAIM_AND_WAIT = """
import sys
from genbench import gpus
print(gpus.claim(poll_seconds=0.05), flush=True)
if sys.stdin.readline().strip() == "fail":
    raise RuntimeError("the job fails")
"""


class Claimant:
    """A process that claims a GPU of `pool`, says which, and holds it until told to end."""

    def __init__(self, pool: str, locks: Path):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=pool, GENBENCH_GPU_LOCKS=str(locks), PYTHONPATH=str(ROOT / "src"))
        env.pop("SLURM_JOB_ID", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLAIM_AND_WAIT],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def gpu(self) -> str:
        return line_of(self.process.stdout)

    def end(self, how: str) -> int:
        if how == "kill":
            self.process.send_signal(signal.SIGKILL)
        else:
            self.process.stdin.write(how + "\n")
            self.process.stdin.flush()
        return self.process.wait(timeout=30)


def line_of(stream, timeout: float = 30) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"nothing written within {timeout} s"
    return stream.readline().strip()


def test_claims_are_distinct_wait_for_a_free_gpu_and_end_with_the_process_however_it_ends(tmp_path):
    locks = tmp_path / "locks"
    first, second = Claimant("0,1", locks), Claimant("0,1", locks)
    first_gpu, second_gpu = first.gpu(), second.gpu()
    assert sorted([first_gpu, second_gpu]) == ["0", "1"]
    third = Claimant("0,1", locks)
    assert (
        line_of(third.process.stderr)
        == "genbench: waiting for a free GPU of 0,1 (each held by another genbench process)"
    )
    assert first.end("fail") == 1
    assert third.gpu() == first_gpu, "a failed process's GPU comes free"
    assert second.end("kill") == -signal.SIGKILL
    fourth = Claimant("0,1", locks)
    assert fourth.gpu() == second_gpu, "so does a killed one's: the lock ends with the process"
    assert third.end("ok") == fourth.end("ok") == 0


def test_no_claim_under_slurm_or_without_a_pool(monkeypatch, tmp_path):
    from genbench import gpus

    monkeypatch.setattr(gpus, "LOCK_DIR", tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpus.claim() is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # SLURM gives each job its own GPUs
    assert gpus.claim() is None and list(tmp_path.iterdir()) == []


@pytest.mark.pipeline
@pytest.mark.minutes(1)
def test_deep_jobs_side_by_side_each_see_their_own_gpu(finished_workspace, tmp_path):
    ws = finished_workspace
    params = yaml.safe_load(ws.path("params.yaml").read_text())
    params["train"]["device"] = (
        "auto"  # each deep job asks for a GPU; on this GPU-less machine it then trains on the CPU
    )
    ws.path("params.yaml").write_text(yaml.safe_dump(params))
    ws.extra_env |= {"CUDA_VISIBLE_DEVICES": "0,1", "GENBENCH_GPU_LOCKS": str(tmp_path / "locks")}
    models = ("featurenet", "vae", "gan", "ddpm")
    targets = [f"data/models/digits/seed-0/{m}/weights.safetensors" for m in models]
    ws.run("snakemake", "--cores", "3", "--resources", "gpu=2", "--force", *targets)

    jobs = []
    for model in models:
        record = json.loads(ws.path(f"reports/timings/train/digits-{model}-seed-0.json").read_text())
        finished = datetime.strptime(
            record["finished"], "%Y-%m-%dT%H:%M:%S%z"
        ).timestamp()  # whole seconds, rounded down
        jobs.append((record["gpu_claimed_at"], finished, record["gpu"], model))
    jobs.sort()
    assert {gpu for *_, gpu, _ in jobs} == {"0", "1"}
    for i, (claimed, _, gpu, model) in enumerate(jobs):
        for _, earlier_finished, earlier_gpu, earlier_model in jobs[:i]:
            if earlier_gpu == gpu:
                assert claimed >= earlier_finished, f"{model} claimed GPU {gpu} while {earlier_model} held it"
    overlapping = [(a[3], b[3]) for i, a in enumerate(jobs) for b in jobs[i + 1 :] if b[0] < a[1]]
    assert overlapping, "no two jobs ran at the same time; the test proves nothing"
