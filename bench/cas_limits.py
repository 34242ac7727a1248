"""What holds a conditional model's classification accuracy score (CAS) back, on a finished run's test split.

Draws as many samples as the training split has images, for their classes (a model that follows prompts:
for their captions), with the run's sampler, and scores the run's SVM as the CAS stage does (evaluate/cas.py) fitted on:
- --n-samples of them (a stratified subset, the count the CAS stage uses) and all of them: Ravuri and
  Vinyals fit their classifiers on as many samples as the training split;
- the real training images of that subset: the ceiling at that count;
- for a model with an autoencoder (the ldm), its reconstructions of those images (the posterior's mean,
  decoded): whether the latent space loses what the classifier needs.
Each is scored on the whole test split, with its Wilson interval. It also reports how many of the subset's
samples the real-fitted SVM labels as their class (how typical they are). Writes --out.

Usage: python bench/cas_limits.py RUN_FOLDER --dataset mnist --model ldm [--seed 0] [--n-samples 5000]
           [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from genbench import device, paths, randomness, records
from genbench.data import captions, splits
from genbench.evaluate import cas, protocol
from genbench.models import base, classic, deep
from genbench.validate import load_params


def draw_all(module, modules, cfg, sampling, x: np.ndarray, y: np.ndarray, generator, on) -> np.ndarray:
    """One sample per (image, label): for the image's caption where the model follows prompts."""
    texts = None
    if base.has(module, base.Capability.PROMPTS):
        texts, _ = captions.prompts_for(module.caption_spec(cfg), torch.from_numpy(x), torch.from_numpy(y), None)
    chunk = device.images_per_call(on, *x.shape[-2:])

    def draw(i: int) -> torch.Tensor:
        if texts is not None:
            return module.sample_prompts(modules, cfg, texts[i : i + chunk], generator, sampling)
        return module.sample(modules, cfg, torch.from_numpy(y[i : i + chunk]), generator, sampling)

    return torch.cat([draw(i).float().cpu() for i in range(0, len(y), chunk)]).numpy()


def reconstructed(modules, images: np.ndarray, on) -> np.ndarray:
    from genbench.models import ldm

    autoencoder = modules["autoencoder"].eval()
    batches = (torch.from_numpy(images[i : i + 512]).to(on) for i in range(0, len(images), 512))
    return torch.cat([ldm.reconstruct(autoencoder, x).cpu() for x in batches]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out.resolve() if args.out else None
    os.chdir(args.run)
    params = load_params("params.yaml")
    d, m, s = args.dataset, args.model, args.seed
    module = base.module_of(m)
    on = device.prepare(params.train.device, params.train.threads)
    meta = records.read(paths.processed_meta(d), records.DatasetMeta)
    arrays = splits.load(paths.processed_data(d), ("train", "test"), n_classes=len(meta.classes))
    x_train, y_train, x_test, y_test = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    modules, cfg = deep.load(m, paths.model_dir(d, m, s), on)
    sampling = base.sampling(params, m, module)

    start = time.perf_counter()
    generator = randomness.torch_generator(s, "cas-limits")
    samples = protocol.on_pixel_levels(
        draw_all(module, modules, cfg, sampling, x_train, y_train, generator, on), meta.pixel_max
    )
    sampling_seconds = time.perf_counter() - start
    chosen = protocol.subset(len(y_train), args.n_samples, randomness.seed_of(s, "cas-limits"), y_train)

    def scored(images: np.ndarray, labels: np.ndarray) -> dict:  # the CAS stage's own scoring, with the run's SVM
        return cas.score(params, "svm", images, labels, x_test, y_test, s)

    rows = {
        f"samples, {len(chosen)}": scored(samples[chosen], y_train[chosen]),
        f"samples, {len(y_train)} (as many as the training split)": scored(samples, y_train),
        f"real training images, {len(chosen)}": scored(x_train[chosen], y_train[chosen]),
    }
    if "autoencoder" in modules:
        rebuilt = protocol.on_pixel_levels(reconstructed(modules, x_train[chosen], on), meta.pixel_max)
        rows[f"their reconstructions, {len(chosen)}"] = scored(rebuilt, y_train[chosen])
    real_fit, _ = classic.fit_named(params, "svm", x_train[chosen], y_train[chosen], s)
    shown = float(np.mean(classic.predict(real_fit, samples[chosen]) == y_train[chosen]))

    result = {
        "dataset": d,
        "model": m,
        "seed": s,
        "sampling": sampling.model_dump(),
        "sampling_seconds": sampling_seconds,
        "cas_svm": rows,
        "samples_labelled_as_asked_by_the_real_fit": shown,
    }
    for name, row in result["cas_svm"].items():
        low, high = row["accuracy_interval"]
        print(f"{name}: {100 * row['accuracy']:.2f}% [{100 * low:.2f}, {100 * high:.2f}] ({row['n_test']} test images)")
    print(f"samples the real-fitted SVM labels as asked: {100 * shown:.2f}%")
    if out:
        out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
