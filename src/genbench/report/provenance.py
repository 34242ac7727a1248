"""Where a report's numbers came from: code version, packages, machine, and each stage's hashes and run time."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from genbench import paths, records, runlog
from genbench.config import Params

PACKAGES = (
    "genbench", "dvc", "snakemake", "numpy", "scikit-learn", "xgboost-cpu", "skops", "torch", "torchmetrics",
    "dvclive", "pydantic", "matplotlib", "jinja2",
)


def collect(params: Params, dvc_lock: Path) -> dict:
    return {
        "git": _git_state(),
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "devices": _training_devices(params),
        "stages": _stages(dvc_lock, runlog.read_all()),
    }


def git(*args: str) -> str | None:
    """A git command's output; None where it fails or git is missing."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _git_state() -> dict:
    commit = git("rev-parse", "--verify", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "changed": []}
    # Porcelain lines are "XY path": two status columns, a space, the path.
    # dvc.lock is left out: DVC rewrites it during the very run this report belongs to.
    changed = [line[3:] for line in (git("status", "--porcelain") or "").splitlines() if line[3:] != "dvc.lock"]
    return {"commit": commit.strip(), "dirty": bool(changed), "changed": changed}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _training_devices(params: Params) -> list[dict]:
    """Where each deep model was trained, from its train.json."""
    rows = []
    for dataset in params.datasets:
        for model in ["featurenet", *params.models.generative]:
            info = records.read(paths.model_dir(dataset, model) / "train.json", records.TrainInfo)
            rows.append({"dataset": dataset, "model": model, "device": info.device, "name": info.device_name})
    return rows


def _stages(dvc_lock: Path, seconds_by_command: dict[str, float]) -> list[dict]:
    """One row per stage in dvc.lock (its command's last run time and its outputs' hashes); the run log alone without one."""
    try:
        # libyaml's safe loader where present: dvc.lock grows with the DAG.
        lock = yaml.load(dvc_lock.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (OSError, yaml.YAMLError):
        lock = {}
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict):
        return [{"stage": command, "seconds": seconds, "outs": []} for command, seconds in sorted(seconds_by_command.items())]
    rows = []
    for name, stage in sorted(stages.items()):
        stage = stage if isinstance(stage, dict) else {}
        outs = [{"path": out.get("path", ""), "md5": out.get("md5", "")} for out in stage.get("outs") or [] if isinstance(out, dict)]
        rows.append({"stage": name, "seconds": seconds_by_command.get(str(stage.get("cmd", ""))), "outs": outs})
    return rows
