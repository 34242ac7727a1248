"""A generative model's classification accuracy score and FID, its likelihood where it has one, and its test
accuracy where it also classifies, against its training time: the checkpoints a finished run's training wrote
on its way (copied aside while it ran) and its final weights, each put through the run's own sample, CAS and
likelihood code, with the run's params (--n-samples: fewer samples, to save time; the train-on-real ceiling is
then given at that number too). FID compares the first samples with the evaluate stage's test images in the
run's feature space. The likelihood is taken on the evaluate stage's test images (evaluate.bound_images), in
bits per dimension with the t-interval over them.

Training minutes of a checkpoint at step k: the train stage's seconds times k / steps.
Usage: python bench/frontier.py RUN_FOLDER --dataset mnist --model gan --checkpoints a.pt b.pt ...
       [--n-samples N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from genbench import artifacts, device, paths, pipeline, randomness, records, sample
from genbench.data import splits
from genbench.evaluate import cas, distances, features, generative, intervals, protocol
from genbench.models import base, deep
from genbench.models.classic import stratified_cap
from genbench.validate import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--n-samples", type=int)
    args = parser.parse_args()
    os.chdir(args.run)
    params = load_params("params.yaml")
    if args.n_samples:
        params = params.model_copy(
            update={"evaluate": params.evaluate.model_copy(update={"n_samples": args.n_samples})}
        )
    d, m, s = args.dataset, args.model, args.seed
    train_seconds = json.loads(paths.timing_file("train", d, m, s).read_text())["seconds"]
    steps = base.settings(params, m).steps
    final_dir = paths.model_dir(d, m, s)
    result = {"dataset": d, "model": m, "seed": s, "n_samples": params.evaluate.n_samples, "points": []}
    for checkpoint in [*args.checkpoints, None]:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir, samples_dir, out = final_dir, Path(tmp) / "samples", Path(tmp) / "cas.json"
            step = steps
            if checkpoint is not None:
                state = torch.load(checkpoint, map_location="cpu", weights_only=True)
                step, model_dir = state["step"], Path(tmp) / "model"
                model_dir.mkdir()
                (model_dir / paths.MODEL_CONFIG).write_text((final_dir / paths.MODEL_CONFIG).read_text())
                modules = base.module_of(m).build(json.loads((final_dir / paths.MODEL_CONFIG).read_text()))
                for name, module in modules.items():
                    module.load_state_dict(state["modules"][name])
                save_file(deep.state_of(modules), str(model_dir / paths.WEIGHTS))
            sample.run(params, d, m, s, model_dir, paths.processed_data(d), paths.processed_meta(d), samples_dir)
            cas.run(params, m, s, paths.processed_data(d), paths.processed_meta(d), samples_dir, out)
            svm = json.loads(out.read_text())["scores"]["svm"]
            likelihood = bits_per_dim(params, d, m, s, model_dir)
            fid = fid_against_test(params, d, samples_dir)
            accuracy = classifier_accuracy(params, d, m, model_dir)
        result["points"].append(
            {
                "step": step,
                "training_minutes": train_seconds * step / steps / 60,
                "cas_svm": svm["accuracy"],
                "cas_svm_interval": svm["accuracy_interval"],
                "fid": fid,
            }
            | likelihood
            | accuracy
        )
        print(json.dumps(result["points"][-1]), flush=True)
    arrays = splits.load(paths.processed_data(d), ("train", "test"))
    real_x, real_y = stratified_cap(
        arrays["x_train"],
        arrays["y_train"],
        params.evaluate.n_samples,
        randomness.seed_of(params.data.seed, "cas/real-training-images"),
        key="n",
    )
    result["train_on_real_svm"] = cas.score(
        params, "svm", real_x, real_y, arrays["x_test"], arrays["y_test"], params.data.seed
    )["accuracy"]
    print(f"train-on-real ceiling at {params.evaluate.n_samples} images: {result['train_on_real_svm']:.4f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def fid_against_test(params, dataset: str, samples_dir: Path) -> float:
    """FID of the first samples against the evaluate stage's compared test images, in the run's feature space (no
    interval: the evaluate stage's bootstrap is the figure to quote)."""
    on = device.prepare(params.train.device, params.train.threads)
    net = deep.load(
        pipeline.FEATURE_SPACE, paths.model_dir(dataset, pipeline.FEATURE_SPACE, params.evaluate.feature_seed), on
    )[0]["net"]
    x, _ = protocol.test_subset(params, splits.load(paths.processed_data(dataset), ("val", "test")))
    generated = artifacts.load_npz(samples_dir / paths.SAMPLES, ("x",))["x"][: len(x)]
    return distances.fid_numpy(features.extract(net, x, on).numpy(), features.extract(net, generated, on).numpy())


def classifier_accuracy(params, dataset: str, model: str, model_dir: Path) -> dict:
    """A model that also classifies: its accuracy on the whole test split, with the Wilson interval; {} otherwise."""
    module = base.module_of(model)
    if not base.has(module, base.Capability.CLASSIFIES):
        return {}
    on = device.prepare(params.train.device, params.train.threads)
    arrays = splits.load(paths.processed_data(dataset), ("test",))
    modules, cfg = deep.load(model, model_dir, on)
    correct = int((generative.classified(module, modules, cfg, arrays["x_test"], on) == arrays["y_test"]).sum())
    return {
        "accuracy": correct / len(arrays["y_test"]),
        "accuracy_interval": intervals.wilson(correct, len(arrays["y_test"])),
    }


def bits_per_dim(params, dataset: str, model: str, seed: int, model_dir: Path) -> dict:
    """The model's likelihood hook on the evaluate stage's test images, as its evaluate stage calls it; {} for a
    model without one."""
    module = base.module_of(model)
    if not base.has(module, base.Capability.LIKELIHOOD):
        return {}
    on = device.prepare(params.train.device, params.train.threads)
    meta = records.read(paths.processed_meta(dataset), records.DatasetMeta)
    x, y = protocol.bound_subset(params, splits.load(paths.processed_data(dataset), ("test",)))
    modules, cfg = deep.load(model, model_dir, on)
    generator = randomness.torch_generator(seed, "likelihood")
    images, labels = torch.from_numpy(x).to(on), torch.from_numpy(y).to(on)
    found = module.likelihood(modules, cfg, images, labels, generator, meta.pixel_max, params.evaluate)
    if found is None:
        return {}
    per_image = intervals.mean_interval(
        torch.as_tensor(found["nats"]).double().cpu().numpy() / (x[0].size * math.log(2))
    )
    return {
        "likelihood": found["kind"],
        "bits_per_dim": per_image["mean"],
        "bits_per_dim_interval": [per_image["low"], per_image["high"]],
    }


if __name__ == "__main__":
    main()
