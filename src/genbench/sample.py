"""sample@D-M: N images from a trained generative model, as npz with their labels, and a PNG grid."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch

from genbench import artifacts
from genbench.config import Params
from genbench.models import deep
from genbench.train import loop

CHUNK = 500  # images per sampling call: bounds memory on any device
GRID_COLUMNS = 10


def is_conditional(model: str, cfg: dict) -> bool:
    return model == "ddpm" or bool(cfg.get("conditional"))


def run(params: Params, model: str, model_dir: Path, meta_path: Path, out_dir: Path) -> None:
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    classes = artifacts.read_json(meta_path)["classes"]
    modules, cfg = deep.load(model, model_dir, device)
    settings = deep.params_for(params, model)
    n = params.evaluate.n_samples
    conditional = is_conditional(model, cfg)
    # Class-balanced labels for conditional models; -1 marks "no label" for the others.
    labels = torch.arange(n) % len(classes) if conditional else torch.full((n,), -1)

    generator = torch.Generator().manual_seed(params.seed + 1)
    start = time.perf_counter()
    chunks = [
        deep.module_for(model).sample(modules, cfg, labels[i:i + CHUNK].clamp(min=0), generator, settings).float().cpu()
        for i in range(0, n, CHUNK)
    ]
    seconds = time.perf_counter() - start
    images = torch.cat(chunks).clamp(0, 1).numpy().astype(np.float32)

    with artifacts.atomic_directory(out_dir) as staging:
        artifacts.save_npz(staging / "samples.npz", {"x": images, "y": labels.numpy().astype(np.int64)})
        artifacts.write_bytes(staging / "grid.png", grid_png(images, labels.numpy(), len(classes), conditional))
        artifacts.write_json(staging / "sample.json", {
            "n_samples": n, "conditional": conditional, "device": str(device),
            "seconds": seconds, "seconds_per_1000": 1000 * seconds / n,
        })


def grid_png(images: np.ndarray, labels: np.ndarray, n_classes: int, conditional: bool, scale: int = 4) -> bytes:
    """One row per class for conditional models (first images of each class), else a 10x10 grid."""
    from PIL import Image

    if conditional:
        rows = [images[labels == c][:GRID_COLUMNS] for c in range(n_classes)]
    else:
        rows = [images[i:i + GRID_COLUMNS] for i in range(0, min(len(images), GRID_COLUMNS**2), GRID_COLUMNS)]
    channels, height, width = images.shape[1:]
    pad = 1
    grid = np.full((len(rows) * (height + pad) + pad, GRID_COLUMNS * (width + pad) + pad, channels), 0.5, dtype=np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            grid[top:top + height, left:left + width] = image.transpose(1, 2, 0)
    pixels = (grid * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
