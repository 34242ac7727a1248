"""evaluate_generative@D-M: how good one generative model's samples are, against the real test split.

Fidelity and diversity (FID, KID, precision, recall) in featurenet space; the featurenet's view
of the samples' classes; a likelihood bound where the model has one. The classification accuracy
score has a stage of its own (evaluate/cas.py), so the classifiers' settings never rerun this one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, paths, records
from genbench.config import Params
from genbench.data import splits
from genbench.data.sources import SOURCES
from genbench.errors import DataError
from genbench.evaluate import comparison, features
from genbench.models import deep
from genbench.train import loop


def stage(params: Params, job) -> dict:
    d, m = job.dataset, job.model
    return run(
        params, m, SOURCES[d].pixel_max, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, "featurenet"),
        paths.model_dir(d, m), paths.samples_dir(d, m), paths.metrics_file(d, m), paths.projection_file(d, m),
    )


def run(
    params: Params, model: str, pixel_max: int, data_path: Path, meta_path: Path, featurenet_dir: Path, model_dir: Path,
    samples_dir: Path, metrics_path: Path, projection_path: Path,
) -> dict:
    """`pixel_max`: the raw data's largest pixel value; a likelihood over pixel levels needs it.
    Returns the model's sampler timings, if it has any: they stay out of the metrics."""
    device = loop.resolve_device(params.train.device)
    loop.configure_torch(device, params.train.threads)
    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("train", "test"), n_classes=len(classes))
    generated = artifacts.load_npz(samples_dir / paths.SAMPLES, ("x", "y"))
    sample_info = records.read(samples_dir / paths.SAMPLE_INFO, records.SampleInfo)
    net = deep.load("featurenet", featurenet_dir, device)[0]["net"]
    real = comparison.real_test_features(params, net, arrays, device)
    n = len(real)
    _check_samples(samples_dir, generated, arrays["x_test"].shape[1:], len(classes), n)
    metrics = {"model": model, "conditional": sample_info.conditional}
    # Conditional samples cycle through the classes, so the first n stay class-balanced.
    fake = features.extract(net, generated["x"][:n], device)
    metrics |= comparison.compare(params, real, fake)
    metrics["classes"] = _class_statistics(net, generated["x"], generated["y"], len(classes), device)

    module = deep.module_for(model)
    modules, cfg = deep.load(model, model_dir, device)
    test_images = torch.from_numpy(comparison.subset(arrays["x_test"], n, params.seed)).to(device)
    test_labels = torch.from_numpy(comparison.subset(arrays["y_test"], n, params.seed)).to(device)
    generator = torch.Generator().manual_seed(params.seed + 3)
    bound = module.likelihood(modules, cfg, test_images, test_labels, generator, pixel_max, params.evaluate) if hasattr(module, "likelihood") else None
    metrics["likelihood"] = _likelihood(bound, test_images[0].numel())
    artifacts.save_npz(projection_path, _projection(real, fake))
    artifacts.write_json(metrics_path, metrics)
    if not hasattr(module, "sampler_timings"):
        return {}
    labels = torch.arange(params.evaluate.timing_samples) % len(classes)
    return {"sampler_timings": module.sampler_timings(modules, cfg, deep.sampling_for(params, model), labels, params.seed)}


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
    path = samples_dir / paths.SAMPLES
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


def _likelihood(bound: dict | None, dims: int) -> dict | None:
    """The mean of a model's per-image bound (its likelihood() hook), in nats and bits per dimension."""
    if bound is None:
        return None
    mean_nats = float(bound["nats"].mean())
    return {
        "kind": bound["kind"], "note": bound["note"], "n_images": len(bound["nats"]),
        "negative_log_likelihood_bound_nats": mean_nats, "bits_per_dim": mean_nats / (dims * math.log(2)),
    }
