"""Pipeline timings on this machine: medians over repeated runs, written to bench/results.{json,md}.

Measures the committed code in a fresh clone (uncommitted edits are not measured):
  - `genbench --help` against `python -c pass` (start-up cost of the CLI);
  - the default pipeline end to end with `dvc repro` from a clean clone;
  - a no-op `dvc repro`, `dvc status` and `snakemake -n` once everything is up to date.

Usage: python bench/run.py [--repeats N] [--pipeline-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path) -> float:
    # PYTHONPATH: the clone's own code, not the working tree the venv's editable install points at.
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1", PYTHONPATH=str(cwd / "src"))
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_of(cmd: list[str], cwd: Path, repeats: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        timed(cmd, cwd)
    samples = [timed(cmd, cwd) for _ in range(repeats)]
    return {"median_s": statistics.median(samples), "samples_s": samples}


def fresh_clone(parent: Path, name: str) -> Path:
    dest = parent / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per quick measurement (default 5)")
    parser.add_argument("--pipeline-runs", type=int, default=1, help="clean-clone runs of the whole pipeline (default 1)")
    args = parser.parse_args()

    results: dict = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clone = fresh_clone(tmp, "startup")
        results["python_pass"] = median_of([sys.executable, "-c", "pass"], clone, args.repeats)
        results["genbench_help"] = median_of([str(BIN / "genbench"), "--help"], clone, args.repeats)

        end_to_end = []
        for run in range(args.pipeline_runs):
            clone = fresh_clone(tmp, f"e2e-{run}")
            end_to_end.append(timed([str(BIN / "dvc"), "repro"], clone))
            print(f"dvc repro from a clean clone: {end_to_end[-1]:.1f} s", file=sys.stderr)
        results["dvc_repro_clean_clone"] = {"median_s": statistics.median(end_to_end), "samples_s": end_to_end}

        results["dvc_repro_noop"] = median_of([str(BIN / "dvc"), "repro"], clone, args.repeats)
        results["dvc_status_noop"] = median_of([str(BIN / "dvc"), "status"], clone, args.repeats)
        results["snakemake_dry_run_noop"] = median_of([str(BIN / "snakemake"), "-n", "--cores", "1"], clone, args.repeats)

    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "bench" / "results.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict) -> str:
    machine = results["machine"]
    rows = [
        ("`python -c pass` (floor)", "python_pass"),
        ("`genbench --help`", "genbench_help"),
        ("default pipeline, `dvc repro` from a clean clone", "dvc_repro_clean_clone"),
        ("no-op `dvc repro`", "dvc_repro_noop"),
        ("no-op `dvc status`", "dvc_status_noop"),
        ("no-op `snakemake -n`", "snakemake_dry_run_noop"),
    ]
    lines = [
        f"Measured by `python bench/run.py` on {machine['cpu_count']} cores, {machine['platform']}, Python {machine['python']}.",
        "",
        "| what | median (s) | runs |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {label} | {results[key]['median_s']:.3f} | {len(results[key]['samples_s'])} |" for label, key in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
