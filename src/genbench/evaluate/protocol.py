"""Which real images every generated set is compared with, and which classes it is drawn for.

FID and KID are biased by the number of images, so every set (generated, held-out real
images, noise) is compared at the same size: n_eval = min(evaluate.n_samples, test size,
validation size); the validation split is the real-data floor (evaluate/references.py).
Every replicate and every model of a dataset is compared with the same test images, chosen
by data.seed; a conditional model draws its samples for those images' classes
(sample_labels), so the class mix is the same on both sides of every comparison. Generated
images are stored as the dataset stores its own (on_pixel_levels).
"""

from __future__ import annotations

import numpy as np

from genbench import randomness
from genbench.config import Params
from genbench.errors import ConfigError


def on_pixel_levels(images: np.ndarray, pixel_max: int) -> np.ndarray:
    """Images in [0, 1] rounded to the dataset's pixel_max + 1 levels, as writing them to PNG rounds
    samples to 8 bits before papers score them. Real images are stored so: a sigmoid's output never
    reaches their exact 0 background, and a tree classifier trained on the samples splits on that
    (XGBoost's CAS of a MNIST GAN: 64.7% on the floats, 90.9% rounded; the SVM's 93.5% either way)."""
    return (np.round(np.clip(images, 0, 1) * pixel_max) / pixel_max).astype(np.float32)


def eval_size(params: Params, arrays: dict) -> int:
    n_val = len(arrays["x_val"])
    if n_val < 2:
        raise ConfigError(
            f"params.yaml: data.val_fraction: {params.data.val_fraction} leaves {n_val} validation images; "
            "the real-data floor of the generative models needs held-out images"
        )
    return min(params.evaluate.n_samples, len(arrays["x_test"]), n_val)


def subset(n_total: int, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """A seeded random choice of n indices, sorted (all of them, in order, when there are n);
    stratified by `labels` when given, so the subset keeps their class mix and every class."""
    if n >= n_total:
        return np.arange(n_total)
    if labels is None:
        return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))
    from sklearn.model_selection import train_test_split

    try:
        chosen, _ = train_test_split(np.arange(n_total), train_size=n, stratify=labels, random_state=seed)
    except ValueError as e:
        raise ConfigError(f"params.yaml: evaluate.n_samples: a stratified choice of {n} real images: {e}") from None
    return np.sort(chosen)


def test_subset(params: Params, arrays: dict) -> tuple[np.ndarray, np.ndarray]:
    """The test images (and labels) every generated set of the dataset is compared with."""
    chosen = test_choice(params, arrays)
    return arrays["x_test"][chosen], arrays["y_test"][chosen]


def test_choice(params: Params, arrays: dict) -> np.ndarray:
    """The indices of test_subset's images in the test split."""
    return subset(len(arrays["x_test"]), eval_size(params, arrays), params.data.seed, arrays["y_test"])


def sample_labels(params: Params, arrays: dict, conditional: bool) -> np.ndarray:
    """The class each of evaluate.n_samples images is drawn for: the compared test images' classes,
    repeated in order (-1 for an unconditional model)."""
    n = params.evaluate.n_samples
    if not conditional:
        return np.full(n, -1, dtype=np.int64)
    _, labels = test_subset(params, arrays)
    return np.resize(labels, n).astype(np.int64)


def train_subset(params: Params, arrays: dict, n: int) -> np.ndarray:
    """n training images, chosen by data.seed: the set memorisation is measured against."""
    return arrays["x_train"][
        subset(len(arrays["x_train"]), n, randomness.seed_of(params.data.seed, "memorisation/training-images"))
    ]


def floor_subset(params: Params, arrays: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n validation images, chosen by data.seed: held-out real images no model trained on, the floor."""
    chosen = subset(
        len(arrays["x_val"]), n, randomness.seed_of(params.data.seed, "floor/validation-images"), arrays["y_val"]
    )
    return arrays["x_val"][chosen], arrays["y_val"][chosen]


def bound_subset(params: Params, arrays: dict) -> tuple[np.ndarray, np.ndarray]:
    """The test images the likelihood bounds are computed on: evaluate.bound_images of the whole test split,
    stratified by class (all of it when null or larger, as papers report a bound)."""
    x, y = arrays["x_test"], arrays["y_test"]
    n = params.evaluate.bound_images
    if n is None or n >= len(x):
        return x, y
    chosen = subset(len(x), n, randomness.seed_of(params.data.seed, "likelihood/test-images"), y)
    return x[chosen], y[chosen]
