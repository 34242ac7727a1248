"""What each feature space costs per 1,000 images on this machine's CPU threads: the featurenet of a finished run
against torch-fidelity's Inception-V3 and DINOv2's ViT-S/14 (evaluate/spaces.py), on the same images, several
runs each, median.

A network's cost does not depend on its weights, so weights made here (tests/made_weights.py: random, in the
official files' formats, DINOv2's with all 12 layers) measure it truly where the real ones cannot be fetched.

Usage: python bench/feature_spaces.py RUN_FOLDER --dataset digits [--images 500] [--runs 5] [--threads 2]
           [--out bench/feature_spaces.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from genbench import paths, pipeline  # noqa: E402
from genbench.data import splits  # noqa: E402
from genbench.evaluate import features, spaces  # noqa: E402
from genbench.models import deep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--feature-seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    on = torch.device("cpu")
    arrays = splits.load(args.run / paths.processed_data(args.dataset), ("test",))
    images = np.resize(
        arrays["x_test"], (args.images, *arrays["x_test"].shape[1:])
    )  # repeated where the split is short
    featurenet = deep.load(
        pipeline.FEATURE_SPACE, args.run / paths.model_dir(args.dataset, "featurenet", args.feature_seed), on
    )[0]["net"]

    import made_weights

    with tempfile.TemporaryDirectory() as folder:
        inception = spaces.Inception(made_weights.inception(Path(folder)), on)
        dinov2 = spaces.DinoV2(made_weights.dinov2(Path(folder)), on)
        measured = {
            "featurenet": _seconds_per_1000(lambda: features.extract(featurenet, images, on), args),
            "inception": _seconds_per_1000(lambda: inception.embed(images), args),
            "dinov2": _seconds_per_1000(lambda: dinov2.embed(images), args),
        }
    result = {
        "dataset": args.dataset,
        "image_shape": list(images.shape[1:]),
        "images_per_run": args.images,
        "runs": args.runs,
        "threads": args.threads,
        "seconds_per_1000": {name: statistics.median(runs) for name, runs in measured.items()},
        "runs_seconds_per_1000": measured,
        "ratio_to_featurenet": {
            space: statistics.median(measured[space]) / statistics.median(measured["featurenet"])
            for space in ("inception", "dinov2")
        },
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def _seconds_per_1000(embed, args) -> list[float]:
    embed()  # warm-up: first-call allocations
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        embed()
        runs.append((time.perf_counter() - started) / args.images * 1000)
    return runs


if __name__ == "__main__":
    main()
