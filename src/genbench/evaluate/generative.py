"""evaluate_generative@D-M: how good one generative model's samples are, against the real test split.

Fidelity and diversity (FID, KID, precision, recall, density, coverage; intra-class FID where the
model is conditional) in featurenet space, each with a 95% bootstrap interval, and again in each
feature space evaluate.feature_spaces adds (with the Inception Score; the featurenet's classifier
score always); how close the samples
sit to the training images (memorisation); the featurenet's view of the samples' classes; for a
model that follows prompts, how often its samples show what they were asked (faithfulness); for a
model whose network also classifies (the EBM), its classifier record on the whole test split, which
the report's classifier table reads; a likelihood bound where the model has one, with its interval
over test images. The classification
accuracy score has a stage of its own (evaluate/cas.py), so the classifiers' settings never rerun this
one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, device, gpus, paths, pipeline, randomness, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import DataError
from genbench.evaluate import (
    classifier,
    comparison,
    faithfulness,
    features,
    intervals,
    memorisation,
    protocol,
    spaces,
)
from genbench.models import base, deep
from genbench.models.base import Capability


def stage(params: Params, io) -> dict:
    files = (
        io.input("data"),
        io.input("meta"),
        io.input("feature_weights").parent,
        io.input("weights").parent,
        io.input("samples").parent,
        io.input("pretrained"),
        io.output("metrics"),
        io.output("projection"),
    )
    return run(params, io.model, io.seed, *files) | gpus.record()


def run(
    params: Params,
    model: str,
    seed: int,
    data_path: Path,
    meta_path: Path,
    featurenet_dir: Path,
    model_dir: Path,
    samples_dir: Path,
    pretrained_dir: Path,
    metrics_path: Path,
    projection_path: Path,
) -> dict:
    """Returns what the probes cost (the likelihood bound's seconds, the model's sampler timings and
    their seconds, where it has them): wall-clock figures stay out of the metrics."""
    on = device.prepare(params.train.device, params.train.threads)
    meta = records.read(meta_path, records.DatasetMeta)
    classes, pixel_max = (
        meta.classes,
        meta.pixel_max,
    )  # a likelihood over pixel levels needs the raw data's largest value
    arrays = splits.load(data_path, ("train", "val", "test"), n_classes=len(classes))
    generated = artifacts.load_npz(samples_dir / paths.SAMPLES, ("x", "y"))
    sample_info = records.read(samples_dir / paths.SAMPLE_INFO, records.SampleInfo)
    net = deep.load(pipeline.FEATURE_SPACE, featurenet_dir, on)[0]["net"]
    x_compared, y_compared = protocol.test_subset(params, arrays)
    n = len(x_compared)
    real = features.extract(net, x_compared, on)
    _check_samples(samples_dir, generated, arrays["x_test"].shape[1:], len(classes), n)
    if sample_info.conditional and not np.array_equal(generated["y"][:n], y_compared):
        raise DataError(
            f"{samples_dir / paths.SAMPLES}: the samples were not drawn for the compared test images' classes; rerun "
            f"the sample stage"
        )
    metrics = {"model": model, "seed": seed, "conditional": sample_info.conditional}
    # The first n samples: for a conditional model, drawn for the classes of the n test images.
    fake = features.extract(net, generated["x"][:n], on)
    by_class = (y_compared, generated["y"][:n]) if sample_info.conditional else None
    metrics |= comparison.compare(params, real, fake, seed, paired=sample_info.conditional, labels=by_class)
    metrics["memorisation"] = memorisation.measure(
        fake, real, features.extract(net, protocol.train_subset(params, arrays, n), on)
    )
    predicted = features.classify(net, generated["x"], on)  # the samples' classes, as the featurenet sees them
    metrics["classes"] = _class_statistics(predicted, generated["y"], len(classes))
    metrics["classifier_score"], metrics["classifier_score_interval"] = comparison.class_score(
        features.logits(net, generated["x"][:n], on), params.evaluate.bootstrap_resamples, seed
    )
    probes = {}
    space_features = {}
    for space in spaces.load(params, pretrained_dir, on):
        started = time.perf_counter()
        real_in, fake_in = space.embed(x_compared), space.embed(generated["x"][:n])
        probes.setdefault("feature_space_seconds", {})[space.name] = time.perf_counter() - started
        metrics.setdefault("spaces", {})[space.name] = comparison.in_space(
            params, real_in, fake_in, seed, sample_info.conditional, by_class
        )
        space_features |= {f"real_features_{space.name}": real_in.features, f"features_{space.name}": fake_in.features}

    module = base.module_of(model)
    modules, cfg = deep.load(model, model_dir, on)
    if base.has(module, Capability.PROMPTS):
        spec = module.caption_spec(cfg)
        said = artifacts.load_npz(samples_dir / paths.SAMPLES, ("said",))["said"]
        _check_said(samples_dir / paths.SAMPLES, said, len(generated["x"]), len(spec.attributes))
        metrics["faithfulness"] = faithfulness.measure(
            spec,
            generated["x"],
            generated["y"],
            said,
            predicted,
            x_compared,
            y_compared,
            features.classify(net, x_compared, on),
            seed,
        )
    if base.has(module, Capability.CLASSIFIES):
        started = time.perf_counter()
        predicted_test = classified(module, modules, cfg, arrays["x_test"], on)
        probes["predict_seconds"] = time.perf_counter() - started
        metrics["classifier"] = classifier.measure(
            arrays["y_test"], predicted_test, classes, params.evaluate.bootstrap_resamples, seed
        ) | {"correct": (predicted_test == arrays["y_test"]).tolist()}
    x_bound, y_bound = protocol.bound_subset(params, arrays)
    test_images, test_labels = torch.from_numpy(x_bound).to(on), torch.from_numpy(y_bound).to(on)
    generator = randomness.torch_generator(seed, "likelihood")
    started = time.perf_counter()
    has_likelihood = base.has(module, Capability.LIKELIHOOD)
    bound = (
        module.likelihood(modules, cfg, test_images, test_labels, generator, pixel_max, params.evaluate)
        if has_likelihood
        else None
    )
    if bound is not None:
        probes["likelihood_seconds"] = time.perf_counter() - started
    metrics["likelihood"] = _likelihood(bound, test_images[0].numel())
    records.GenerativeMetrics.model_validate(metrics)  # the record the report reads (metric_table.py)
    # The feature sets too, so the report can pair models on the same resampled real images.
    artifacts.save_npz(
        projection_path,
        _projection(real, fake)
        | {
            name: values.numpy().astype(np.float32)
            for name, values in {"real_features": real, "features": fake, **space_features}.items()
        },
    )
    artifacts.write_json(metrics_path, metrics)
    if not base.has(module, Capability.SAMPLER_TIMINGS):
        return probes
    labels = torch.arange(params.evaluate.timing_samples) % len(classes)
    started = time.perf_counter()
    probes["sampler_timings"] = module.sampler_timings(
        modules, cfg, base.sampling(params, model, module), labels, seed, params.evaluate.timing_steps
    )
    return probes | {"sampler_timing_seconds": time.perf_counter() - started}


def classified(module, modules: dict, cfg: dict, images: np.ndarray, on: torch.device) -> np.ndarray:
    """The class a model that also classifies gives each image, in batches of the device's size."""
    batch = device.images_per_call(on, *images.shape[-2:])
    return np.concatenate(
        [
            module.classify(modules, cfg, torch.from_numpy(images[i : i + batch]).to(on)).argmax(1).cpu().numpy()
            for i in range(0, len(images), batch)
        ]
    )


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
        raise DataError(
            f"{path}: {len(x)} samples; the comparison with the test split needs {n_needed} (rerun the sample stage)"
        )
    if x.ndim != 4:
        raise DataError(f"{path}: samples have shape {x.shape}; expected (N, {', '.join(map(str, image_shape))})")
    artifacts.check_images(path, "x", x, image_shape)
    artifacts.check_labels(path, "y", y, len(x), n_classes)


def _check_said(path: Path, said: np.ndarray, n: int, n_attributes: int) -> None:
    """What each prompt says of every attribute: a third (0, 1, 2) or -1 for not said."""
    if said.shape != (n, n_attributes) or not np.issubdtype(said.dtype, np.integer):
        raise DataError(f"{path}: said has shape {said.shape}; expected ({n}, {n_attributes}) integers")
    if said.size and (said.min() < -1 or said.max() > 2):
        raise DataError(f"{path}: said has values outside -1..2")


def _class_statistics(predicted: np.ndarray, labels: np.ndarray, n_classes: int) -> dict:
    """The featurenet's classes for the samples: how evenly they spread over the classes, and for
    conditional models how often they show the class they were drawn for."""
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
        stats["label_agreement_interval"] = intervals.wilson(int(np.sum(predicted == labels)), len(labels))
    return stats


def _likelihood(bound: dict | None, dims: int) -> dict | None:
    """The mean of a model's per-image bound (its likelihood() hook), in nats and bits per dimension,
    with the t-interval of the mean over the test images."""
    if bound is None:
        return None
    per_image = intervals.mean_interval(torch.as_tensor(bound["nats"]).double().cpu().numpy())
    to_bits = 1 / (dims * math.log(2))
    return {
        "kind": bound["kind"],
        "note": bound["note"],
        "n_images": len(bound["nats"]),
        "negative_log_likelihood_bound_nats": per_image["mean"],
        "bits_per_dim": per_image["mean"] * to_bits,
        "bits_per_dim_interval": [per_image["low"] * to_bits, per_image["high"] * to_bits]
        if per_image["low"] is not None
        else None,
    }
