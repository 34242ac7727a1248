"""The default pipeline end to end from a clean clone, by `dvc repro` and by `snakemake --cores 2`, split by stage.

Each `genbench` stage records its own run time (its timing record, reports/timings/); the wall
time of the whole run includes the runner's own work between stages. Writes bench/end_to_end.json.

Usage: python bench/end_to_end.py [--runners dvc snakemake] [--keep DIR]
(--keep: leave each runner's clone, with its report and metrics, in DIR/<runner>)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = {"dvc": ["dvc", "repro"], "snakemake": ["snakemake", "--cores", "2"]}


def run_clean(runner: str, parent: Path) -> dict:
    clone = parent / runner
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1", PYTHONPATH=str(clone / "src"))
    start = time.perf_counter()
    subprocess.run([str(BIN / COMMANDS[runner][0]), *COMMANDS[runner][1:]], cwd=clone, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    stages = {}
    for record in (clone / "reports" / "timings").rglob("*.json"):
        entry = json.loads(record.read_text())
        stages[entry["command"].removeprefix("genbench ")] = entry["seconds"]
    return {"wall_s": wall, "stages_s": dict(sorted(stages.items(), key=lambda kv: -kv[1])), "sum_of_stages_s": sum(stages.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--keep", type=Path, help="leave the clones in this folder (it must not hold them already)")
    args = parser.parse_args()
    results = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        parent = args.keep or Path(tmp)
        parent.mkdir(parents=True, exist_ok=True)
        for runner in args.runners:
            results[runner] = run_clean(runner, parent)
            print(f"{runner}: {results[runner]['wall_s']:.1f} s", file=sys.stderr)
    (ROOT / "bench" / "end_to_end.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
