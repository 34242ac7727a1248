"""The pipeline end to end from a clean clone, by `dvc repro` and by `snakemake --cores 2`, split by stage.

Each `genbench` stage records its own run time and peak resident memory (its timing record,
reports/timings/); the wall time of the whole run includes the runner's own work between stages.
Writes bench/end_to_end.json, or --out.

Usage: python bench/end_to_end.py [--runners dvc snakemake] [--keep DIR] [--params FILE --raw DATASET=DIR --out FILE]
(--keep: leave each runner's clone, with its report and metrics, in DIR/<runner>; --params: run
this params file instead of params.yaml; --raw: copy a dataset's raw files into the clone first)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from genbench.report import provenance

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = {"dvc": ["dvc", "repro"], "snakemake": ["snakemake", "--cores", "2"]}


def run_clean(runner: str, parent: Path, params: Path | None, raw: dict[str, Path]) -> dict:
    clone = parent / runner
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    if params:
        shutil.copyfile(params, clone / "params.yaml")
    for dataset, folder in raw.items():
        shutil.copytree(folder, clone / "data" / "raw" / dataset, ignore=shutil.ignore_patterns("README*"))
    env = dict(
        os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1", PYTHONPATH=str(clone / "src")
    )
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / COMMANDS[runner][0]), *COMMANDS[runner][1:]], cwd=clone, env=env, check=True, capture_output=True
    )
    wall = time.perf_counter() - start
    stages, memory = {}, {}
    for record in (clone / "reports" / "timings").rglob("*.json"):
        entry = json.loads(record.read_text())
        stages[entry["command"].removeprefix("genbench ")] = entry["seconds"]
        memory[entry["command"].removeprefix("genbench ")] = entry.get("peak_rss_mb")
    return {
        "wall_s": wall,
        "stages_s": dict(sorted(stages.items(), key=lambda kv: -kv[1])),
        "sum_of_stages_s": sum(stages.values()),
        "peak_rss_mb": dict(sorted(memory.items(), key=lambda kv: -(kv[1] or 0))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--keep", type=Path, help="leave the clones in this folder (it must not hold them already)")
    parser.add_argument(
        "--params", type=Path, help="a params file to run instead of params.yaml, e.g. presets/mnist-cpu.yaml"
    )
    parser.add_argument(
        "--raw",
        action="append",
        default=[],
        metavar="DATASET=DIR",
        help="copy DIR's files into the clone's data/raw/DATASET/",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "end_to_end.json")
    args = parser.parse_args()
    raw = dict(item.split("=", 1) for item in args.raw)
    results = {
        "cpu_count": os.cpu_count(),
        "cpu": provenance.cpu_model(),
        # The same stages have run 1.6x apart on two-core machines, and a model name such as "AMD EPYC"
        # does not say which math kernels a run had; torch does (AVX512, AVX2, ...).
        "torch_cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "params": str(args.params or "params.yaml"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        parent = args.keep or Path(tmp)
        parent.mkdir(parents=True, exist_ok=True)
        for runner in args.runners:
            results[runner] = run_clean(
                runner, parent, args.params and args.params.resolve(), {d: Path(f) for d, f in raw.items()}
            )
            print(f"{runner}: {results[runner]['wall_s']:.1f} s", file=sys.stderr)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
