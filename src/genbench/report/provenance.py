"""Where a report's numbers came from: packages, machine, and for each stage the run that made its outputs.

Everything here is an input of the report stage: the timing records say when each stage ran
and at which commit, and the outputs' hashes are computed from the files the report reads.
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

from genbench import paths, pipeline, records, timings
from genbench.artifacts import sha256_of
from genbench.config import Params

PACKAGES = (
    "genbench",
    "dvc",
    "snakemake",
    "numpy",
    "scikit-learn",
    "xgboost-cpu",
    "skops",
    "torch",
    "torchmetrics",
    "dvclive",
    "pydantic",
    "matplotlib",
    "jinja2",
)
REPORT = next(group for group in pipeline.GROUPS if group.name == "report")


def collect(params: Params) -> dict:
    return {
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "devices": _training_devices(params),
        "stages": _stages(params),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
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
        for model in [pipeline.FEATURE_SPACE, *params.models.generative]:
            for seed in params.seeds:
                info = records.read(paths.model_dir(dataset, model, seed) / paths.TRAIN_INFO, records.TrainInfo)
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "seed": seed,
                        "device": info.device,
                        "name": info.device_name,
                        "precision": info.precision,
                        "processes": info.processes,
                    }
                )
    return rows


def _stages(params: Params) -> list[dict]:
    """One row per stage of the DAG: its last run (timing record) and the hashes of the outputs the report reads."""
    rows = []
    for stage in pipeline.stages(params):
        if stage.timing is None:
            continue
        record = timings.read(Path(stage.timing))
        read_here = [
            out
            for out in stage.outputs
            if out != stage.timing and any(out.startswith(folder + "/") for folder in REPORT.gathers)
        ]
        rows.append(
            {
                "stage": stage.name,
                "seconds": record["seconds"],
                "finished": record.get("finished"),
                "commit": record.get("commit"),
                "uncommitted_changes": record.get("uncommitted_changes"),
                "outs": [{"path": out, "sha256": _sha256(Path(out))[:16]} for out in read_here],
            }
        )
    return rows


def _sha256(path: Path) -> str:
    """Of a file, or of a folder's files and their names."""
    if path.is_file():
        return sha256_of(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"):
        digest.update(f"{file.relative_to(path)}\0{_sha256(file)}\0".encode())
    return digest.hexdigest()
