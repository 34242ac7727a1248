"""evaluate@D-featurenet: the deep classifier baseline, scored exactly like the classic ones."""

from __future__ import annotations

from pathlib import Path

from genbench import device, gpus, paths, pipeline, records
from genbench.config import Params
from genbench.evaluate import classifier, features
from genbench.models import deep


def stage(params: Params, io) -> dict:
    files = (
        io.input("data"),
        io.input("meta"),
        io.input("weights").parent,
        io.output("metrics"),
        io.output("predictions"),
    )
    return run(params, io.seed, *files) | gpus.record()


def run(
    params: Params,
    seed: int,
    data_path: Path,
    meta_path: Path,
    model_dir: Path,
    metrics_path: Path,
    predictions_path: Path,
) -> dict:
    on = device.prepare(params.train.device, params.train.threads)
    modules, _ = deep.load(pipeline.FEATURE_SPACE, model_dir, on)
    net = modules["net"]
    train_info = records.read(model_dir / paths.TRAIN_INFO, records.TrainInfo)
    return classifier.run(
        lambda images: features.classify(net, images, on),
        data_path,
        meta_path,
        train_info,
        metrics_path,
        predictions_path,
        params.evaluate.bootstrap_resamples,
        seed,
    )
