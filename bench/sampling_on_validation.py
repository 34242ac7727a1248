"""Choose a generative model's sampling settings on the validation split, never on the test split.

For each candidate, draws --n-samples images from a finished run's trained model for the classes of
as many stratified validation images (a model that follows prompts: for their captions), and scores
them against the validation split: FID against those images in the run's feature space, CAS (the
run's SVM fitted on the samples, scored on every validation image) and, for a model that follows
prompts, its faithfulness to them (evaluate/faithfulness.py). The model is not retrained: sampling
settings never change it. Prints one line per candidate and writes them to --out.

Usage: python bench/sampling_on_validation.py RUN_FOLDER --dataset mnist --model ddpm
           --grid '{"guidance": [1.0, 2.0, 3.0]}' [--n-samples 2000] [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from genbench import device, paths, pipeline, randomness, records
from genbench.data import captions, splits
from genbench.errors import GenbenchError
from genbench.evaluate import cas, distances, faithfulness, features, protocol
from genbench.models import base, deep
from genbench.validate import load_params


def grid_of(text: str) -> dict[str, list]:
    try:
        grid = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e})") from None
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise argparse.ArgumentTypeError("a JSON object of sampling keys, each with a non-empty list of values")
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=grid_of, required=True, help="JSON: a sampling key -> the values to try")
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.chdir(args.run)
    params = load_params("params.yaml")
    d, m, s = args.dataset, args.model, args.seed
    module = base.module_of(m)
    grid = args.grid
    given = base.sampling(params, m, module).model_dump()
    # Every candidate is checked by the model's schema first: a misspelt key stops before any drawing.
    candidates = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    samplings = []
    for setting in candidates:
        try:
            samplings.append(module.Sampling.model_validate(given | setting))
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            sys.exit(f"sampling_on_validation: error: --grid: sampling.{m}.{first['loc'][0]}: {first['msg']}")
    on = device.prepare(params.train.device, params.train.threads)
    pixel_max = records.read(paths.processed_meta(d), records.DatasetMeta).pixel_max
    arrays = splits.load(paths.processed_data(d), ("val",))
    x_val, y_val = arrays["x_val"], arrays["y_val"]
    chosen = protocol.subset(len(y_val), args.n_samples, randomness.seed_of(s, "sampling-on-validation"), y_val)
    feature_net = deep.load(
        pipeline.FEATURE_SPACE, paths.model_dir(d, pipeline.FEATURE_SPACE, params.evaluate.feature_seed), on
    )[0]["net"]
    real_features = features.extract(feature_net, x_val[chosen], on).numpy()
    modules, cfg = deep.load(m, paths.model_dir(d, m, s), on)
    labels = torch.from_numpy(y_val[chosen].astype(np.int64))
    texts = None
    if base.has(module, base.Capability.PROMPTS):
        spec = module.caption_spec(cfg)
        own = splits.captions(paths.processed_data(d), "val")
        texts, said = captions.prompts_for(
            spec, torch.from_numpy(x_val[chosen]), labels, [own[i] for i in chosen.tolist()] if spec.given else None
        )
        said = said.numpy()

    def draw(i: int, chunk: int, generator, sampling) -> torch.Tensor:
        if texts:
            return module.sample_prompts(modules, cfg, texts[i : i + chunk], generator, sampling)
        return module.sample(modules, cfg, labels[i : i + chunk], generator, sampling)

    rows = []
    for setting, sampling in zip(candidates, samplings):
        generator = randomness.torch_generator(s, "samples")
        start = time.perf_counter()
        chunk = device.images_per_call(on, *x_val.shape[-2:])
        drawn = [draw(i, chunk, generator, sampling).float().cpu() for i in range(0, len(labels), chunk)]
        images = protocol.on_pixel_levels(torch.cat(drawn).numpy(), pixel_max)
        seconds = time.perf_counter() - start
        fid = distances.fid_numpy(real_features, features.extract(feature_net, images, on).numpy())
        svm = cas.score(params, "svm", images, labels.numpy(), x_val, y_val, s)
        row = {
            "setting": setting,
            "val_fid": fid,
            "val_cas_svm": svm["accuracy"],
            "val_cas_svm_interval": svm["accuracy_interval"],
            "n_samples": len(images),
            "n_val": len(y_val),
            "sampling_seconds": seconds,
        }
        if texts:  # how often the samples show what their prompts ask: the class, and all their words
            real_classes = features.classify(feature_net, x_val[chosen], on)
            shown = faithfulness.measure(
                spec,
                images,
                labels.numpy(),
                said,
                features.classify(feature_net, images, on),
                x_val[chosen],
                labels.numpy(),
                real_classes,
                s,
            )
            row |= {f"val_faithful_{k}": v["rate"] for k, v in shown["seen"].items()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"dataset": d, "model": m, "seed": s, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    try:
        main()
    except (GenbenchError, FileNotFoundError) as e:  # a run folder without this model's files, or none at all
        sys.exit(f"sampling_on_validation: error: {e}")
