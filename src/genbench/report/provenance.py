"""Where a report's numbers came from: code version, packages, machine and stage hashes."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

PACKAGES = ("genbench", "dvc", "snakemake", "numpy", "scikit-learn", "xgboost-cpu", "skops", "pydantic", "matplotlib", "jinja2")


def collect(dvc_lock: Path) -> dict:
    return {
        "git": _git(),
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "stages": _stage_hashes(dvc_lock),
    }


def _git() -> dict:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
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


def _stage_hashes(dvc_lock: Path) -> list[dict]:
    """One row per stage in dvc.lock: its outputs and their content hashes."""
    try:
        lock = yaml.safe_load(dvc_lock.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    stages = lock.get("stages") if isinstance(lock, dict) else None
    rows = []
    for name, stage in sorted((stages if isinstance(stages, dict) else {}).items()):
        for out in (stage.get("outs") if isinstance(stage, dict) else None) or []:
            rows.append({"stage": name, "path": out.get("path", ""), "md5": out.get("md5", "")})
    return rows
