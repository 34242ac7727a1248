"""evaluate@D-featurenet: the deep classifier baseline, scored exactly like the classic ones."""

from __future__ import annotations

from pathlib import Path

from genbench import records
from genbench.config import Params
from genbench.evaluate import classifier, features
from genbench.models import deep
from genbench.train import loop


def run(params: Params, data_path: Path, meta_path: Path, model_dir: Path, metrics_path: Path, predictions_path: Path) -> None:
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    modules, _ = deep.load("featurenet", model_dir, device)
    net = modules["net"]
    train_info = records.read(model_dir / "train.json", records.TrainInfo)
    classifier.run(lambda images: features.classify(net, images, device), data_path, meta_path, train_info, metrics_path, predictions_path)
