"""One image set against the real test split, in featurenet space, at the size evaluate/protocol.py sets."""

from __future__ import annotations

import numpy as np
import torch

from genbench.config import Params
from genbench.errors import ConfigError
from genbench.evaluate import features, fidelity, intervals, protocol


def real_test_features(params: Params, net, arrays: dict, device: torch.device) -> torch.Tensor:
    return features.extract(net, protocol.test_subset(params, arrays)[0], device)


def compare(params: Params, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict:
    """FID, KID, precision and recall of `fake` against `real` (feature sets of equal size), each with
    its 95% bootstrap interval; `seed` draws the KID subsets and the resamples. KID is torchmetrics'
    mean over subsets; its interval is the bootstrap of the same unbiased estimate on the whole sets."""
    assert len(real) == len(fake), "FID and KID are only comparable at equal sizes"
    if params.evaluate.nearest_neighbours >= len(real):
        raise ConfigError(
            f"params.yaml: evaluate.nearest_neighbours: {params.evaluate.nearest_neighbours} needs more than that many images "
            f"per set; {len(real)} are compared here (evaluate.n_samples, capped by the test and validation splits)"
        )
    kid_mean, kid_std, kid_subset = fidelity.kid(real, fake, params.evaluate.kid_subsets, intervals.derived_seed(seed, 0))
    inside_real, inside_fake = fidelity.manifold_membership(real, fake, params.evaluate.nearest_neighbours)
    resamples = params.evaluate.bootstrap_resamples
    return {
        "n_images": len(fake),
        "fid": fidelity.fid(real, fake),
        "fid_interval": intervals.bootstrap_two_sets(fidelity.fid_numpy, real.numpy(), fake.numpy(), resamples, intervals.derived_seed(seed, 1)),
        "kid": kid_mean, "kid_std": kid_std, "kid_subset_size": kid_subset,
        "kid_interval": kid_interval(real.numpy(), fake.numpy(), resamples, intervals.derived_seed(seed, 2)),
        "precision": float(inside_real.mean()),
        "precision_interval": intervals.bootstrap_mean(inside_real, resamples, intervals.derived_seed(seed, 3)),
        "recall": float(inside_fake.mean()),
        "recall_interval": intervals.bootstrap_mean(inside_fake, resamples, intervals.derived_seed(seed, 4)),
    }


def kid_interval(real: np.ndarray, fake: np.ndarray, resamples: int, seed: int) -> list[float]:
    """The bias-shifted bootstrap interval of the whole sets' unbiased MMD, all resamples at once
    (fidelity.mmd_of_resamples): scipy's bootstrap would build N x N kernels once per resample."""
    rng = np.random.default_rng(seed)
    counts = [rng.multinomial(len(x), np.full(len(x), 1 / len(x)), size=resamples).T.astype(np.float64) for x in (real, fake)]
    return intervals.bias_shifted(fidelity.mmd_of_resamples(real, fake, *counts), fidelity.mmd_numpy(real, fake))
