"""evaluate_references@D: the floor and the ceiling every generative model is read against.

Floor: held-out real images (the validation split, which no model trained on) against the
compared test images, at the same n as every generated set: what a perfect model would score,
including its memorisation share. CAS's floor: the same classifiers trained on real training
images, as many as a model's samples. Ceiling: Gaussian noise with the training images' pixel
mean and spread (what no model should score). One per dataset, drawn by data.seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts, device, gpus, pipeline, randomness, records
from genbench.config import Params
from genbench.data import splits
from genbench.evaluate import cas, comparison, features, memorisation, protocol, spaces
from genbench.models import deep
from genbench.models.classic import stratified_cap


def stage(params: Params, io) -> dict:
    files = (io.input("data"), io.input("meta"), io.input("feature_weights").parent, io.input("pretrained"))
    run(params, *files, io.output("metrics"))
    return gpus.record()


def run(
    params: Params, data_path: Path, meta_path: Path, featurenet_dir: Path, pretrained_dir: Path, metrics_path: Path
) -> None:
    on = device.prepare(params.train.device, params.train.threads)
    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("train", "val", "test"), n_classes=len(classes))
    net = deep.load(pipeline.FEATURE_SPACE, featurenet_dir, on)[0]["net"]
    x_compared, y_compared = protocol.test_subset(params, arrays)
    real = features.extract(net, x_compared, on)
    n = len(real)
    seed = params.data.seed

    x_held_out, y_held_out = protocol.floor_subset(params, arrays, n)
    held_out = features.extract(net, x_held_out, on)
    rng = randomness.numpy_generator(seed, "ceiling/noise")
    x_train = arrays["x_train"]
    noise = np.clip(rng.normal(x_train.mean(), x_train.std(), size=(n, *x_train.shape[1:])), 0, 1).astype(np.float32)
    floor = comparison.compare(params, real, held_out, seed, labels=(y_compared, y_held_out))
    ceiling = comparison.compare(params, real, features.extract(net, noise, on), seed)
    resamples = params.evaluate.bootstrap_resamples
    for images, scored in ((x_held_out, floor), (noise, ceiling)):
        scored["classifier_score"], scored["classifier_score_interval"] = comparison.class_score(
            features.logits(net, images, on), resamples, seed
        )
    floor["memorisation"] = memorisation.measure(
        held_out, real, features.extract(net, protocol.train_subset(params, arrays, n), on)
    )
    # As many real training images as a model's samples, stratified so that every class is there.
    real_x, real_y = stratified_cap(
        x_train,
        arrays["y_train"],
        params.evaluate.n_samples,
        randomness.seed_of(seed, "cas/real-training-images"),
        key="evaluate.n_samples",
    )
    references = {
        "real_heldout_vs_test": floor,
        "noise_vs_test": ceiling,
        "cas_real_train": cas.scores(params, real_x, real_y, arrays["x_test"], arrays["y_test"], seed),
        "noise": f"Gaussian pixels, mean {x_train.mean():.3f} and std {x_train.std():.3f} of the training "
        f"images, clipped to [0, 1]",
    }
    in_spaces = {}
    for space in spaces.load(params, pretrained_dir, on):
        real_in = space.embed(x_compared)
        in_spaces[space.name] = {
            "real_heldout_vs_test": comparison.in_space(
                params, real_in, space.embed(x_held_out), seed, False, (y_compared, y_held_out)
            ),
            "noise_vs_test": comparison.in_space(params, real_in, space.embed(noise), seed, False, None),
        }
    if in_spaces:  # absent for the featurenet alone (records.References)
        references["spaces"] = in_spaces
    records.References.model_validate(references)  # the record the report reads (metric_table.py)
    artifacts.write_json(metrics_path, references)
