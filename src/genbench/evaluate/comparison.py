"""One image set against the real test split, in featurenet space, at a fixed size.

FID and KID are biased by the number of images, so every set (generated, real training
images, noise) is compared at the same size: n_eval = min(evaluate.n_samples, test size,
training size). The same test images are used for every comparison on a dataset.
"""

from __future__ import annotations

import numpy as np
import torch

from genbench.config import Params
from genbench.errors import ConfigError
from genbench.evaluate import features, fidelity


def eval_size(params: Params, n_test: int, n_train: int) -> int:
    return min(params.evaluate.n_samples, n_test, n_train)


def subset(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded random choice of n images (all of them, in order, when there are n)."""
    if n >= len(images):
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]


def real_test_features(params: Params, net, arrays: dict, device: torch.device) -> torch.Tensor:
    n = eval_size(params, len(arrays["x_test"]), len(arrays["x_train"]))
    return features.extract(net, subset(arrays["x_test"], n, params.seed), device)


def compare(params: Params, real: torch.Tensor, fake: torch.Tensor) -> dict:
    """FID, KID, precision and recall of `fake` against `real` (feature sets of equal size)."""
    assert len(real) == len(fake), "FID and KID are only comparable at equal sizes"
    if params.evaluate.nearest_neighbours >= len(real):
        raise ConfigError(
            f"params.yaml: evaluate.nearest_neighbours: {params.evaluate.nearest_neighbours} needs more than that many images "
            f"per set; {len(real)} are compared here (evaluate.n_samples, capped by the test split)"
        )
    kid_mean, kid_std, kid_subset = fidelity.kid(real, fake, params.evaluate.kid_subsets, params.seed)
    precision, recall = fidelity.precision_recall(real, fake, params.evaluate.nearest_neighbours)
    return {
        "n_images": len(fake),
        "fid": fidelity.fid(real, fake),
        "kid": kid_mean, "kid_std": kid_std, "kid_subset_size": kid_subset,
        "precision": precision, "recall": recall,
    }
