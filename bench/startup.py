"""Stage start-up: from launching Python to the point a stage's own code starts, against bare Python and `import torch`.

A stage has started once the CLI has parsed its arguments, validated params.yaml and
imported the stage's module; each probe does exactly that, then reports whether torch
was imported on the way. Writes bench/startup.json.

Usage: python bench/startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGE_MODULES = {
    "train (classic)": "genbench.train.classic",
    "evaluate (classic)": "genbench.evaluate.classic",
    "train (deep)": "genbench.train.deep",
    "sample": "genbench.sample",
    "evaluate (generative)": "genbench.evaluate.generative",
    "report": "genbench.report.build",
}
# As genbench.cli starts a stage: the whole file's check (its verdict kept after the first run), the shared sections,
# the stage's module.
PROBE = (
    "import sys, pathlib, genbench.cli; genbench.cli.check_params(pathlib.Path('params.yaml')); from genbench.config "
    "import load_params; "
    "load_params('params.yaml'); import {module}; print('torch' in sys.modules)"
)


def timed(cmd: list[str]) -> tuple[float, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout.strip()


def median_of(cmd: list[str], repeats: int) -> dict:
    timed(cmd)  # warm the file cache
    runs = [timed(cmd) for _ in range(repeats)]
    return {"median_s": statistics.median(s for s, _ in runs), "samples_s": [s for s, _ in runs], "output": runs[-1][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    results = {
        "python -c pass": median_of([python, "-c", "pass"], args.repeats),
        "python -c 'import torch'": median_of([python, "-c", "import torch"], args.repeats),
        "genbench --help": median_of([str(BIN / "genbench"), "--help"], args.repeats),
    }
    for stage, module in STAGE_MODULES.items():
        probe = median_of([python, "-c", PROBE.format(module=module)], args.repeats)
        probe["imports_torch"] = probe.pop("output") == "True"
        results[f"genbench {stage}"] = probe
    for entry in results.values():
        entry.pop("output", None)
    (ROOT / "bench" / "startup.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: round(v["median_s"], 3) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
