"""Choose a generative model's sampling settings on the validation split, never on the test split.

For each candidate, draws --n-samples images from a finished run's trained model for the classes of
as many stratified validation images, and scores them against the validation split: FID against
those images in the run's feature space, and CAS (the run's SVM fitted on the samples, scored on
every validation image). The model is not retrained: sampling settings never change it. Prints one
line per candidate and writes them to --out.

Usage: python bench/sampling_on_validation.py RUN_FOLDER --dataset mnist --model ddpm
           --grid '{"guidance": [1.0, 2.0, 3.0]}' [--n-samples 2000] [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from genbench import device, paths, pipeline, randomness, records
from genbench.data import splits
from genbench.evaluate import cas, distances, features, protocol
from genbench.models import base, deep
from genbench.validate import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", required=True, help="JSON: a sampling key -> the values to try")
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.chdir(args.run)
    params = load_params("params.yaml")
    d, m, s = args.dataset, args.model, args.seed
    on = device.prepare(params.train.device, params.train.threads)
    pixel_max = records.read(paths.processed_meta(d), records.DatasetMeta).pixel_max
    arrays = splits.load(paths.processed_data(d), ("val",))
    x_val, y_val = arrays["x_val"], arrays["y_val"]
    chosen = protocol.subset(len(y_val), args.n_samples, randomness.seed_of(s, "sampling-on-validation"), y_val)
    feature_net = deep.load(
        pipeline.FEATURE_SPACE, paths.model_dir(d, pipeline.FEATURE_SPACE, params.evaluate.feature_seed), on
    )[0]["net"]
    real_features = features.extract(feature_net, x_val[chosen], on).numpy()
    module = base.module_of(m)
    modules, cfg = deep.load(m, paths.model_dir(d, m, s), on)
    labels = torch.from_numpy(y_val[chosen].astype(np.int64))
    grid = json.loads(args.grid)
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        sampling = base.sampling(params, m, module).model_copy(update=setting)
        generator = randomness.torch_generator(s, "samples")
        start = time.perf_counter()
        chunk = device.images_per_call(on, *x_val.shape[-2:])
        drawn = [
            module.sample(modules, cfg, labels[i : i + chunk], generator, sampling).float().cpu()
            for i in range(0, len(labels), chunk)
        ]
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
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"dataset": d, "model": m, "seed": s, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
