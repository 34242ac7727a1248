"""Two ranks against one process for each deep model on this machine: throughput and loss curves.

On a machine of two cores the fair comparison is two ranks of one thread each (train.processes: 2)
against one process of two threads (the default). Each model trains --steps steps at its default
batch size on the digits, through `genbench train`; runs alternate, --repeats times, and each
figure is the median of the images per second the timing record gives (training steps only, no
start-up). The loss curves of the two-rank run and of one process on one thread differ only in the
order sums are taken, as those of one process on two threads and on one thread do: both largest
differences are reported, relative to each loss's largest value over the run.

Usage: python bench/distributed.py [--steps 200] [--repeats 3] [--out bench/distributed.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("featurenet", "vae", "gan", "ddpm")


def genbench(folder: Path, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    subprocess.run([sys.executable, "-m", "genbench", *args], cwd=folder, env=env, check=True, capture_output=True)


def configure(folder: Path, steps: int, processes: int, threads: int) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"] |= {"processes": processes, "threads": threads, "device": "cpu", "log_every": 5}
    params["featurenet"]["steps"] = steps
    for model in MODELS[1:]:
        params["generative"][model]["steps"] = steps
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def train(folder: Path, model: str) -> tuple[float, dict[str, dict[int, float]]]:
    """Images per second, and the logged losses."""
    genbench(folder, "train", "--dataset", "digits", "--model", model, "--seed", "0")
    record = json.loads((folder / f"reports/timings/train/digits-{model}-seed-0.json").read_text())
    curves = {}
    for tsv in (folder / f"reports/training/digits/seed-0/{model}/plots/metrics/loss").glob("*.tsv"):
        curves[tsv.stem] = {
            int(row["step"]): float(row[tsv.stem]) for row in csv.DictReader(tsv.open(), delimiter="\t")
        }
    return record["images_per_second"], curves


def largest_difference(a: dict[str, dict[int, float]], b: dict[str, dict[int, float]]) -> float:
    return max(abs(a[k][s] - b[k][s]) / max(abs(v) for v in a[k].values()) for k in a for s in a[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/distributed.json")
    args = parser.parse_args()
    results = {"steps": args.steps, "repeats": args.repeats, "cpus": os.cpu_count(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        configure(folder, args.steps, 1, 2)
        genbench(folder, "download", "--dataset", "digits")
        genbench(folder, "preprocess", "--dataset", "digits")
        for model in MODELS:
            rates = {"one process, two threads": [], "two ranks, one thread each": []}
            curves = {}
            for _ in range(args.repeats):
                for name, (processes, threads) in (
                    ("one process, two threads", (1, 2)),
                    ("two ranks, one thread each", (2, 1)),
                ):
                    configure(folder, args.steps, processes, threads)
                    rate, curves[name] = train(folder, model)
                    rates[name].append(rate)
            configure(folder, args.steps, 1, 1)
            _, one_thread = train(folder, model)
            medians = {name: statistics.median(values) for name, values in rates.items()}
            results["models"][model] = {
                "images_per_second": rates,
                "median_images_per_second": medians,
                "two_ranks_over_one_process": medians["two ranks, one thread each"]
                / medians["one process, two threads"],
                "largest_loss_difference_from_one_thread": {
                    "two ranks, one thread each": largest_difference(one_thread, curves["two ranks, one thread each"]),
                    "one process, two threads": largest_difference(one_thread, curves["one process, two threads"]),
                },
            }
            print(model, json.dumps(results["models"][model], indent=1), flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
