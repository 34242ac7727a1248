"""One image set against the real test split, in one feature space, at the size evaluate/protocol.py sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from genbench import randomness
from genbench.config import Params
from genbench.errors import ConfigError
from genbench.evaluate import distances, fidelity, intervals

if TYPE_CHECKING:
    from genbench.evaluate.spaces import Embedding


def compare(
    params: Params,
    real: torch.Tensor,
    fake: torch.Tensor,
    seed: int,
    paired: bool = False,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """FID, KID, precision, recall, density and coverage of `fake` against `real` (feature sets of equal
    size), each with its 95% bootstrap interval; `seed` draws the KID subsets and the resamples. With
    `labels` (the real and the generated images' classes), the intra-class FID too.

    `paired`: fake[i] was drawn for the class of real[i] (a conditional model, evaluate/protocol.py).
    The two sets are then not independent: torchmetrics' KID, which averages every cross pair, counts
    the n same-class pairs (i, i) and reads below zero (-0.37 for the GAN on digits). KID is then the
    unbiased MMD of paired samples over the whole sets (Gretton et al., 2012), which leaves those
    pairs out, and its bootstrap resamples the pairs. Otherwise KID is torchmetrics' mean over subsets,
    and its interval the bootstrap of the same unbiased estimate on the whole sets."""
    assert len(real) == len(fake), "FID and KID are only comparable at equal sizes"
    if params.evaluate.nearest_neighbours >= len(real):
        raise ConfigError(
            f"params.yaml: evaluate.nearest_neighbours: {params.evaluate.nearest_neighbours} needs more than that "
            f"many images "
            f"per set; {len(real)} are compared here (evaluate.n_samples, capped by the test and validation splits)"
        )
    if paired:
        kid = {
            "kid": distances.mmd_numpy(real.numpy(), fake.numpy(), paired=True),
            "kid_estimator": "paired, whole sets",
        }
    else:
        kid_mean, kid_std, kid_subset = fidelity.kid(
            real, fake, params.evaluate.kid_subsets, randomness.seed_of(seed, "kid/subsets")
        )
        kid = {
            "kid": kid_mean,
            "kid_std": kid_std,
            "kid_subset_size": kid_subset,
            "kid_estimator": "torchmetrics, subsets",
        }
    manifold = fidelity.manifold_measures(real, fake, params.evaluate.nearest_neighbours)
    resamples = params.evaluate.bootstrap_resamples
    per_image = {
        name: (
            float(values.mean()),
            intervals.bootstrap_mean(values, resamples, randomness.seed_of(seed, f"bootstrap/{name}")),
        )
        for name, values in vars(manifold).items()
    }
    return {
        "n_images": len(fake),
        "fid": fidelity.fid(real, fake),
        "fid_interval": intervals.bootstrap_two_sets(
            distances.fid_numpy, real.numpy(), fake.numpy(), resamples, randomness.seed_of(seed, "bootstrap/fid")
        ),
        **kid,
        "kid_interval": kid_interval(
            real.numpy(), fake.numpy(), resamples, randomness.seed_of(seed, "bootstrap/kid"), paired
        ),
        **{name: value for name, (value, _) in per_image.items()},
        **{f"{name}_interval": interval for name, (_, interval) in per_image.items()},
        **(intra_class_fid(real.numpy(), fake.numpy(), *labels, resamples, seed) if labels is not None else {}),
    }


def in_space(
    params: Params,
    real: Embedding,
    fake: Embedding,
    seed: int,
    paired: bool,
    labels: tuple[np.ndarray, np.ndarray] | None,
) -> dict:
    """The comparison of `fake` with `real` in a space beside the featurenet, and the fake set's Inception Score
    where the space has classes."""
    compared = compare(params, real.features, fake.features, seed, paired=paired, labels=labels)
    if fake.logits is None:
        return compared
    score, interval = class_score(fake.logits, params.evaluate.bootstrap_resamples, seed)
    return compared | {"inception_score": score, "inception_score_interval": interval}


def class_score(logits: np.ndarray, resamples: int, seed: int) -> tuple[float, list[float]]:
    """The Inception Score formula on `logits` (distances.inception_score) and its bias-shifted bootstrap interval
    over the images: a resample repeats images, which lowers the score's diversity term."""
    estimate = distances.inception_score(logits)
    rng = np.random.default_rng(randomness.seed_of(seed, "bootstrap/class_score"))
    resampled = np.array(
        [distances.inception_score(logits[rng.integers(0, len(logits), len(logits))]) for _ in range(resamples)]
    )
    return estimate, intervals.bias_shifted(resampled, estimate)


def intra_class_fid(
    real: np.ndarray, fake: np.ndarray, real_labels: np.ndarray, fake_labels: np.ndarray, resamples: int, seed: int
) -> dict:
    """The intra-class FID and its bias-shifted bootstrap interval, each resample drawing the real and the generated
    images anew within each class, so every class keeps its count."""
    estimate = distances.intra_class_fid(real, real_labels, fake, fake_labels)
    if not np.isfinite(estimate):  # no class has two images on both sides
        return {"intra_class_fid": estimate, "intra_class_fid_interval": None}
    rng = np.random.default_rng(randomness.seed_of(seed, "bootstrap/intra_class_fid"))
    real_classes, fake_classes = _rows_by_class(real_labels), _rows_by_class(fake_labels)

    def within_classes(rows_by_class: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([rng.choice(rows, len(rows)) for rows in rows_by_class])

    resampled = []
    for _ in range(resamples):
        real_rows, fake_rows = within_classes(real_classes), within_classes(fake_classes)
        resampled.append(
            distances.intra_class_fid(real[real_rows], real_labels[real_rows], fake[fake_rows], fake_labels[fake_rows])
        )
    return {
        "intra_class_fid": estimate,
        "intra_class_fid_interval": intervals.bias_shifted(np.array(resampled), estimate),
    }


def _rows_by_class(labels: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(labels == c) for c in np.unique(labels)]


def kid_interval(real: np.ndarray, fake: np.ndarray, resamples: int, seed: int, paired: bool) -> list[float]:
    """The bias-shifted bootstrap interval of the whole sets' unbiased MMD, all resamples at once
    (distances.mmd_of_resamples): scipy's bootstrap would build N x N kernels once per resample.
    Paired sets are resampled by pairs."""
    rng = np.random.default_rng(seed)
    draw = lambda n: rng.multinomial(n, np.full(n, 1 / n), size=resamples).T.astype(np.float64)  # noqa: E731
    counts_real = draw(len(real))
    counts_fake = counts_real if paired else draw(len(fake))
    resampled = distances.mmd_of_resamples(real, fake, counts_real, counts_fake, paired)
    return intervals.bias_shifted(resampled, distances.mmd_numpy(real, fake, paired))
