"""The VAE's likelihood on real MNIST under Burda et al.'s protocol, and what its cost buys.

Trains the VAE of presets/mnist-cpu.yaml on the 50,000 official training images (dynamically binarised, as
the pipeline trains it), then takes the importance-weighted bound on the same stratified test images,
dynamically binarised, at each k asked for: the mean NLL in nats with its t-interval over images, and the
seconds it took. Burda et al. (2016) report k = 5,000 on all 10,000 test images; the gap between the k
values measured here says what a smaller k costs in nats, and the decode rate what the whole protocol costs.

Usage: python bench/likelihood_protocol.py --raw ../shared/data/mnist [--images 200] [--k 1000 5000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from mnist_training import mnist, official_training_part, train

from genbench import device, randomness
from genbench.evaluate import intervals, protocol
from genbench.models import vae
from genbench.validate import load_params

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of the four MNIST .gz files")
    parser.add_argument("--images", type=int, default=200, help="stratified test images")
    parser.add_argument("--k", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "likelihood_protocol.json")
    args = parser.parse_args()
    params = load_params(ROOT / "presets" / "mnist-cpu.yaml")
    settings = params.generative.vae
    on = device.prepare("cpu", params.train.threads)
    x_train, y_train = official_training_part(args.raw)
    x_test, y_test = mnist(args.raw, "t10k")
    modules, _, train_seconds = train(vae, settings, x_train, y_train, on)

    chosen = protocol.subset(len(x_test), args.images, randomness.seed_of(0, "likelihood/test-images"), y_test)
    grey = torch.from_numpy(x_test[chosen])
    targets = vae.binarised(grey, torch.Generator().manual_seed(0))  # one binarisation for every k
    per_call = vae.DECODED_PIXELS_PER_CALL // grey[0, 0].numel()
    rows = []
    for k in args.k:
        started = time.perf_counter()
        nats = -vae.iwae_bound(modules, targets, k, torch.Generator().manual_seed(1), per_call).numpy()
        seconds = time.perf_counter() - started
        summary = intervals.mean_interval(nats)
        rows.append(
            {
                "k": k,
                "nll_nats": summary["mean"],
                "nll_interval": [summary["low"], summary["high"]],
                "seconds": seconds,
                "decodes_per_second": k * len(grey) / seconds,
            }
        )
        print(json.dumps(rows[-1]))
    whole_protocol_hours = 5000 * len(x_test) / rows[-1]["decodes_per_second"] / 3600
    result = {
        "preset": "presets/mnist-cpu.yaml generative.vae",
        "train_steps": settings.steps,
        "train_seconds": train_seconds,
        "test_images": len(grey),
        "rows": rows,
        "k5000_whole_test_split_hours_at_this_rate": whole_protocol_hours,
        "anchors_nats": {"VAE, Burda et al. 2016 (k=5000)": 86.76, "IWAE k=50": 84.78, "NVAE": 78.0},
        "threads": params.train.threads,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
