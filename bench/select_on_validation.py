"""Choose a classic model's settings on the validation split: fit each candidate on the training split,
score it on the validation split, never on the test split.

Reads a preprocessed dataset (data/processed/<dataset>/data.npz of a finished run) and a params
file whose other settings stay as they are; runs the candidates in --jobs processes (each fit is
single-threaded). Prints one line per candidate, best last, and writes them to --out.

Usage: python bench/select_on_validation.py --data data/processed/mnist/data.npz --params presets/mnist-cpu.yaml
           --model svm --grid '{"C": [5, 10], "gamma": ["scale", 0.025]}' [--jobs 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from genbench.data import splits
from genbench.models.classic import fit_named, flatten, single_threaded_blas
from genbench.validate import load_params


def score(params_path: str, data_path: str, model: str, setting: dict) -> dict:
    params = load_params(params_path)
    section = getattr(params.classic, model)
    params = params.model_copy(
        update={"classic": params.classic.model_copy(update={model: section.model_copy(update=setting)})}
    )
    arrays = splits.load(Path(data_path), ("train", "val"))
    start = time.perf_counter()
    estimator, info = fit_named(params, model, arrays["x_train"], arrays["y_train"], seed=params.seeds[0])
    with single_threaded_blas():
        predicted = estimator.predict(flatten(arrays["x_val"]))
    correct = int(np.sum(predicted == arrays["y_val"]))
    return {
        "setting": setting,
        "val_accuracy": correct / len(predicted),
        "n_val": len(predicted),
        "n_train": info["n_train"],
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--params", required=True)
    parser.add_argument("--model", required=True, choices=["xgboost", "svm", "logreg"])
    parser.add_argument("--grid", required=True, help="JSON: {key: [values]} of classic.<model>")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    grid = json.loads(args.grid)
    settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(score, *zip(*[(args.params, args.data, args.model, s) for s in settings])))
    results.sort(key=lambda r: r["val_accuracy"])
    for r in results:
        print(
            f"{json.dumps(r['setting'])}: validation accuracy {r['val_accuracy']:.4f} ({r['n_val']} images), "
            f"{r['seconds']:.0f} s"
        )
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "data": args.data, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
