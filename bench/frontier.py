"""A generative model's classification accuracy score against its training time: the checkpoints a
finished run's training wrote on its way (copied aside while it ran), each put through the run's own
sample and CAS code, with the run's params.

Training minutes of a checkpoint at step k: the train stage's seconds times k / steps.
Usage: python bench/frontier.py RUN_FOLDER --dataset mnist --model gan --checkpoints a.pt b.pt ... [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from genbench import paths, sample
from genbench.config import load_params
from genbench.evaluate import cas
from genbench.models import deep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.chdir(args.run)
    params = load_params("params.yaml")
    d, m, s = args.dataset, args.model, args.seed
    train_seconds = json.loads(paths.timing_file("train", d, m, s).read_text())["seconds"]
    steps = deep.params_for(params, m).steps
    config = paths.model_dir(d, m, s) / paths.MODEL_CONFIG
    points = []
    for checkpoint in args.checkpoints:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        with tempfile.TemporaryDirectory() as tmp:
            model_dir, samples_dir = Path(tmp) / "model", Path(tmp) / "samples"
            model_dir.mkdir()
            (model_dir / paths.MODEL_CONFIG).write_text(config.read_text())
            modules = deep.module_for(m).build(json.loads(config.read_text()))
            for name, module in modules.items():
                module.load_state_dict(state["modules"][name])
            save_file(deep.state_of(modules), str(model_dir / paths.WEIGHTS))
            sample.run(params, d, m, s, model_dir, paths.processed_data(d), paths.processed_meta(d), samples_dir)
            out = Path(tmp) / "cas.json"
            cas.run(params, m, s, paths.processed_data(d), paths.processed_meta(d), samples_dir, out)
            scores = json.loads(out.read_text())["scores"]
        points.append({
            "step": state["step"], "training_minutes": train_seconds * state["step"] / steps / 60,
            "cas_svm": scores["svm"]["accuracy"], "cas_svm_interval": scores["svm"]["accuracy_interval"],
        })
        print(json.dumps(points[-1]), flush=True)
    final = json.loads(paths.cas_file(d, m, s).read_text())["scores"]["svm"]
    points.append({"step": steps, "training_minutes": train_seconds / 60, "cas_svm": final["accuracy"], "cas_svm_interval": final["accuracy_interval"]})
    if args.out:
        args.out.write_text(json.dumps({"dataset": d, "model": m, "seed": s, "points": points}, indent=2) + "\n")


if __name__ == "__main__":
    main()
