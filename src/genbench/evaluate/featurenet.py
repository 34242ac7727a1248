"""evaluate@D-featurenet: the deep classifier baseline, scored exactly like the classic ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genbench import artifacts
from genbench.config import Params
from genbench.evaluate import classifier
from genbench.models import deep
from genbench.train import loop

BATCH = 1024


def run(params: Params, data_path: Path, meta_path: Path, model_dir: Path, metrics_path: Path, predictions_path: Path) -> None:
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    modules, _ = deep.load("featurenet", model_dir, device)
    net = modules["net"]

    @torch.no_grad()
    def predict(images: np.ndarray) -> np.ndarray:
        batches = [net(torch.from_numpy(images[i:i + BATCH]).to(device)).argmax(1).cpu() for i in range(0, len(images), BATCH)]
        return torch.cat(batches).numpy() if batches else np.zeros(0, dtype=np.int64)

    train_info = artifacts.read_json(model_dir / "train.json")
    info = {"n_train": train_info.get("n_train"), "fit_seconds": train_info.get("train_seconds")}
    classifier.run(predict, data_path, meta_path, info, metrics_path, predictions_path)
