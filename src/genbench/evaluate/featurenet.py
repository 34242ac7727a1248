"""evaluate@D-featurenet: the deep classifier baseline, scored exactly like the classic ones."""

from __future__ import annotations

from pathlib import Path

from genbench import paths, records
from genbench.config import Params
from genbench.evaluate import classifier, features
from genbench.models import deep
from genbench.train import loop


def stage(params: Params, job) -> dict:
    d, s = job.dataset, job.seed
    return run(params, s, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, "featurenet", s),
               paths.metrics_file(d, "featurenet", s), paths.predictions_file(d, "featurenet", s))


def run(params: Params, seed: int, data_path: Path, meta_path: Path, model_dir: Path, metrics_path: Path, predictions_path: Path) -> dict:
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    modules, _ = deep.load("featurenet", model_dir, device)
    net = modules["net"]
    train_info = records.read(model_dir / paths.TRAIN_INFO, records.TrainInfo)
    return classifier.run(
        lambda images: features.classify(net, images, device), data_path, meta_path, train_info, metrics_path, predictions_path,
        params.evaluate.bootstrap_resamples, seed,
    )
