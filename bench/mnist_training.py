"""Shared by the MNIST benchmarks: the official files read into arrays, and a model trained by the pipeline's loop."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from genbench.data import idx
from genbench.train import loop


def mnist(raw: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images in [0, 1] as (N, 1, 28, 28) and labels, from the official `split`-*-ubyte.gz files in `raw`."""
    images = idx.read(raw / f"{split}-images-idx3-ubyte.gz").astype(np.float32)[:, None] / 255
    return images, idx.read(raw / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)


def official_training_part(raw: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 50,000 training images: the official split's training part, as the presets use it."""
    x, y = mnist(raw, "train")
    return x[:50_000], y[:50_000]


def train(module, settings, x: np.ndarray, y: np.ndarray, on: torch.device) -> tuple[dict, dict, float]:
    """A model of `module` trained on (x, y) for settings.steps steps by the pipeline's own loop, seed 0;
    (modules, config, seconds)."""
    cfg = module.config(settings, x.shape[1:], 10)
    torch.manual_seed(0)
    modules = module.build(cfg)
    execution = loop.execution_on(on)
    recipe = module.recipe(modules, settings, execution)
    schedule = loop.LoopSettings(settings.steps, settings.batch_size, checkpoint_every=10**9, log_every=500, seed=0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        name = module.__name__.rsplit(".", 1)[-1]
        loop.run(
            f"{name} on mnist",
            recipe,
            torch.from_numpy(x),
            torch.from_numpy(y),
            schedule,
            Path(scratch),
            "bench",
            execution,
        )
    return modules, cfg, time.perf_counter() - started
