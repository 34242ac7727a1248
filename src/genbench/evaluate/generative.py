"""evaluate_generative@D-M: how good one generative model's samples are, against the real test split.

Fidelity and diversity (FID, KID, precision, recall) in featurenet space; classification
accuracy score for class-conditional models; the featurenet's view of the samples' classes;
a likelihood bound where the model has one; sampling cost.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import DataError
from genbench.evaluate import cas, comparison, features
from genbench.models import deep
from genbench.train import loop


def run(
    params: Params, model: str, pixel_max: int, data_path: Path, meta_path: Path, featurenet_dir: Path, model_dir: Path,
    samples_dir: Path, metrics_path: Path, projection_path: Path,
) -> None:
    """`pixel_max`: the raw data's largest pixel value; the DDPM's likelihood is over its levels."""
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    started = time.perf_counter()
    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("train", "test"), n_classes=len(classes))
    generated = artifacts.load_npz(samples_dir / "samples.npz", ("x", "y"))
    sample_info = records.read(samples_dir / "sample.json", records.SampleInfo)
    net = deep.load("featurenet", featurenet_dir, device)[0]["net"]
    real = comparison.real_test_features(params, net, arrays, device)
    n = len(real)
    _check_samples(samples_dir, generated, arrays["x_test"].shape[1:], len(classes), n)
    metrics = {"model": model, "conditional": sample_info.conditional}
    # Conditional samples cycle through the classes, so the first n stay class-balanced.
    fake = features.extract(net, generated["x"][:n], device)
    metrics |= comparison.compare(params, real, fake)
    metrics["classes"] = _class_statistics(net, generated["x"], generated["y"], len(classes), device)
    if metrics["conditional"]:
        metrics["cas"] = {
            name: cas.score(params, name, generated["x"], generated["y"], arrays["x_test"], arrays["y_test"])
            for name in cas.CAS_MODELS
        }

    modules, cfg = deep.load(model, model_dir, device)
    test_images = torch.from_numpy(comparison.subset(arrays["x_test"], n, params.seed)).to(device)
    test_labels = torch.from_numpy(comparison.subset(arrays["y_test"], n, params.seed)).to(device)
    generator = torch.Generator().manual_seed(params.seed + 3)
    metrics["likelihood"] = _likelihood(params, model, modules, cfg, test_images, test_labels, generator, pixel_max)
    metrics["sampling"] = {"seconds_per_1000": sample_info.seconds_per_1000, "device": sample_info.device}
    if model == "ddpm":
        metrics["sampler_comparison"] = _ddpm_sampler_timings(params, modules, cfg, len(classes), device)

    train_info = records.read(model_dir / "train.json", records.TrainInfo)
    metrics["timing"] = {"train_seconds": train_info.train_seconds, "evaluate_seconds": time.perf_counter() - started}
    artifacts.save_npz(projection_path, _projection(real, fake))
    artifacts.write_json(metrics_path, metrics)


def _projection(real: torch.Tensor, fake: torch.Tensor) -> dict:
    """Both feature sets (float64 on the CPU, as `features.extract` gives them) on the first two principal axes
    of the real features: the same axes for every model."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full").fit(real.numpy())
    return {
        "real": pca.transform(real.numpy()).astype(np.float32),
        "generated": pca.transform(fake.numpy()).astype(np.float32),
        "explained_variance_ratio": pca.explained_variance_ratio_,
    }


def _check_samples(samples_dir: Path, generated: dict, image_shape: tuple, n_classes: int, n_needed: int) -> None:
    x, y = generated["x"], generated["y"]
    path = samples_dir / "samples.npz"
    if len(x) < n_needed:
        raise DataError(f"{path}: {len(x)} samples; the comparison with the test split needs {n_needed} (rerun the sample stage)")
    if x.ndim != 4:
        raise DataError(f"{path}: samples have shape {x.shape}; expected (N, {', '.join(map(str, image_shape))})")
    artifacts.check_images(path, "x", x, image_shape)
    artifacts.check_labels(path, "y", y, len(x), n_classes)


def _class_statistics(net, images: np.ndarray, labels: np.ndarray, n_classes: int, device: torch.device) -> dict:
    """The featurenet's classes for the samples: how evenly they spread over the classes, and for
    conditional models how often they show the class they were drawn for."""
    predicted = features.classify(net, images, device)
    counts = np.bincount(predicted, minlength=n_classes)
    shares = counts / counts.sum()
    entropy = float(-sum(p * math.log2(p) for p in shares if p > 0)) + 0.0  # + 0.0: no "-0.0"
    stats = {
        "predicted_counts": counts.tolist(),
        "entropy_bits": entropy,
        "max_entropy_bits": math.log2(n_classes),
        # A class counts as covered when it gets at least half of a uniform share of the samples.
        "coverage": float(np.mean(shares >= 0.5 / n_classes)),
    }
    if labels.min() >= 0:
        stats["label_agreement"] = float(np.mean(predicted == labels))
    return stats


def _likelihood(params, model, modules, cfg, images, labels, generator, pixel_max: int) -> dict | None:
    dims = images[0].numel()
    if model == "vae":
        from genbench.models import vae

        k = params.evaluate.iwae_samples
        bound = vae.iwae_bound(modules, vae.bound_targets(cfg, images), k, generator)
        kind, note, nats = "iwae", f"{vae.likelihood_note(cfg)}; k={k}", -bound
    elif model == "ddpm" and params.evaluate.ddpm_bound:
        from genbench.models import ddpm

        nats = ddpm.variational_bound(modules, cfg, images, labels, generator, pixel_max)
        kind, note = "vlb", ddpm.bound_note(pixel_max)
    else:
        return None
    mean_nats = float(nats.mean())
    return {
        "kind": kind, "note": note, "n_images": len(images),
        "negative_log_likelihood_bound_nats": mean_nats, "bits_per_dim": mean_nats / (dims * math.log(2)),
    }


def _ddpm_sampler_timings(params: Params, modules, cfg, n_classes: int, device: torch.device) -> dict:
    """Seconds per 1000 images for DDIM at the configured steps and for full ancestral sampling,
    both on the same batch of evaluate.timing_samples images."""
    from genbench.models import ddpm

    settings = params.generative.ddpm
    labels = torch.arange(params.evaluate.timing_samples) % n_classes
    warm_up = settings.model_copy(update={"sampler": "ddim", "sample_steps": 1})
    ddpm.sample(modules, cfg, labels, torch.Generator().manual_seed(params.seed), warm_up)
    timings = {"device": str(device), "n_images": len(labels)}
    for sampler in ("ddim", "ancestral"):
        generator = torch.Generator().manual_seed(params.seed)
        start = time.perf_counter()
        ddpm.sample(modules, cfg, labels, generator, settings.model_copy(update={"sampler": sampler}))
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings[f"{sampler}_seconds_per_1000"] = 1000 * (time.perf_counter() - start) / len(labels)
    timings["ddim_steps"], timings["ancestral_steps"] = settings.sample_steps, cfg["timesteps"]
    return timings
