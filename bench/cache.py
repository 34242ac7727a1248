"""Snakemake's between-workflow cache: a cold run that computes and stores every cached job, against
a second clone that restores them (`snakemake --profile profiles/local --cache` both times).

Each round starts from an empty cache and two fresh clones of the committed code. Adds the medians
and their ratio to bench/cache.json under the params file's name.

Usage: python bench/cache.py [--params tests/params/tiny.yaml] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed_run(parent: Path, name: str, params: str, cache: Path) -> float:
    clone = parent / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / "params.yaml").write_text((ROOT / params).read_text())
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(clone / "src"),
        SNAKEMAKE_OUTPUT_CACHE=str(cache),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "profiles/local", "--cache"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake failed in {clone}:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="tests/params/tiny.yaml", help="params file, relative to the repository")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "cache"
            cache.mkdir()
            cold.append(timed_run(Path(tmp), "first", args.params, cache))
            warm.append(timed_run(Path(tmp), "second", args.params, cache))
        print(f"cold {cold[-1]:.1f} s, restored {warm[-1]:.1f} s", file=sys.stderr)
    result = {
        "repeats": args.repeats,
        "cold_s": cold,
        "restored_s": warm,
        "cold_median_s": statistics.median(cold),
        "restored_median_s": statistics.median(warm),
    }
    result["speedup"] = result["cold_median_s"] / result["restored_median_s"]
    output = ROOT / "bench" / "cache.json"
    results = json.loads(output.read_text()) if output.exists() else {}
    output.write_text(json.dumps(results | {args.params: result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
