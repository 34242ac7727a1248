"""sample@D-M: N images from a trained generative model, with their labels, and the arrays the report draws.

Besides samples.npz: the DDPM's denoising trajectory (trajectory.npz), and the VAE's
reconstructions and latent interpolations of test images (reconstructions.npz, interpolation.npz).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, records
from genbench.config import Params
from genbench.data import splits
from genbench.models import deep
from genbench.train import loop

CHUNK = 500  # images per sampling call: bounds memory on any device
TRAJECTORY_FRAMES = 8
RECONSTRUCTIONS = 10
INTERPOLATIONS = 5  # pairs of test images
INTERPOLATION_STEPS = 10


def is_conditional(model: str, cfg: dict) -> bool:
    return model == "ddpm" or bool(cfg.get("conditional"))


def run(params: Params, model: str, model_dir: Path, data_path: Path, meta_path: Path, out_dir: Path) -> None:
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    classes = records.read(meta_path, records.DatasetMeta).classes
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

    views = _model_views(params, model, modules, cfg, settings, data_path, len(classes), device)
    with artifacts.atomic_directory(out_dir) as staging:
        artifacts.save_npz(staging / "samples.npz", {"x": images, "y": labels.numpy().astype(np.int64)})
        for name, arrays in views.items():
            artifacts.save_npz(staging / f"{name}.npz", arrays)
        artifacts.write_json(staging / "sample.json", {
            "n_samples": n, "conditional": conditional, "device": str(device),
            "seconds": seconds, "seconds_per_1000": 1000 * seconds / n,
        })


def _model_views(params, model, modules, cfg, settings, data_path: Path, n_classes: int, device) -> dict[str, dict]:
    """What shows how a model works, beyond its samples: arrays for the report's figures."""
    generator = torch.Generator().manual_seed(params.seed + 4)
    if model == "ddpm":
        from genbench.models import ddpm

        labels = torch.arange(n_classes)
        frames, steps = ddpm.trajectory(modules, cfg, labels, generator, settings, TRAJECTORY_FRAMES)
        return {"trajectory": {"x": frames.numpy(), "y": labels.numpy(), "steps": np.asarray(steps)}}
    if model == "vae":
        from genbench.models import vae

        test = splits.load(data_path, ("test",), n_classes=n_classes)
        images = torch.from_numpy(_one_per_class(test["x_test"], test["y_test"], RECONSTRUCTIONS)).to(device)
        reconstructed = vae.reconstruct(modules, images)
        starts, ends = images[:INTERPOLATIONS], images.roll(-1, dims=0)[:INTERPOLATIONS]
        path = vae.interpolate(modules, starts, ends, INTERPOLATION_STEPS)
        return {
            "reconstructions": {"x": images.cpu().numpy(), "reconstructed": reconstructed.float().cpu().numpy()},
            "interpolation": {"x": path.float().cpu().numpy()},
        }
    return {}


def _one_per_class(images: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """The first test image of each class in turn, then the second of each, until n images."""
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, label in enumerate(labels.tolist()):
        rank_in_class[i] = seen.get(label, 0)
        seen[label] = rank_in_class[i] + 1
    return images[np.lexsort((labels, rank_in_class))[:n]]
