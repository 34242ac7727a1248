"""Distances between a real and a generated feature set in torch: FID and KID (torchmetrics), precision, recall,
density and coverage. Their numpy forms for resampling are in distances.py."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from genbench.evaluate import torch_fidelity_package
from genbench.evaluate.features import Precomputed


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance of the two sets' Gaussian fits (torchmetrics, float64)."""
    torch_fidelity_package.importable()
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1])).set_dtype(torch.float64)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int, seed: int) -> tuple[float, float, int]:
    """Kernel inception distance: (mean, std over subsets, subset size). The subset size is
    torchmetrics' default of 1000, or half the smaller set so that subsets differ and their
    spread says how much the estimate moves."""
    torch_fidelity_package.importable()
    from torchmetrics.image.kid import KernelInceptionDistance

    subset_size = min(1000, max(2, min(len(real), len(fake)) // 2))
    with warnings.catch_warnings():  # it warns that it keeps every feature: that is a few MB here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=Precomputed(real.shape[1]), subsets=subsets, subset_size=subset_size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global generator
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std), subset_size


@dataclass(frozen=True)
class ManifoldMeasures:
    """The k-NN manifold measures, image by image; each one's mean is the figure reported."""

    precision: np.ndarray  # per generated image: inside the real manifold
    recall: np.ndarray  # per real image: inside the generated manifold
    density: np.ndarray  # per generated image: how many real balls hold it, over k
    coverage: np.ndarray  # per real image: its own ball holds a generated image


def manifold_measures(real: torch.Tensor, fake: torch.Tensor, k: int) -> ManifoldMeasures:
    """Improved precision and recall (Kynkaanniemi et al., 2019) and density and coverage (Naeem et al., 2020).

    Each set's manifold is the union of balls around its points reaching their k-th nearest neighbour.
    Precision and recall ask whether a point lies in the other set's manifold; density counts the real
    balls around a generated point (so a sample in a dense real region is not counted once only), and
    coverage asks whether a real point's own ball holds a generated one (so a generated outlier cannot
    cover a whole region with its large ball, as it can in recall). Written here because neither
    torchmetrics nor another maintained library provides them (the `prdc` package has not been updated
    since 2020).
    """
    real, fake = real.double(), fake.double()
    real_radii, fake_radii = _radii(real, k), _radii(fake, k)
    balls_holding, nearest_generated = _in_balls(fake, real, real_radii)
    return ManifoldMeasures(
        precision=balls_holding > 0,
        recall=_in_balls(real, fake, fake_radii)[0] > 0,
        density=balls_holding / k,
        coverage=nearest_generated <= real_radii.numpy(),
    )


def _radii(manifold: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour in its own set, in blocks of 1024 rows, so memory
    stays at 1024 x len(manifold) distances."""
    if len(manifold) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set (got {len(manifold)})")
    # k+1: each point's nearest neighbour within its own set is itself.
    return torch.cat(
        [
            torch.cdist(manifold[start : start + 1024], manifold).kthvalue(k + 1, dim=1).values
            for start in range(0, len(manifold), 1024)
        ]
    )


def _in_balls(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """For each point, how many balls (centres, radii) hold it; for each centre, its nearest point's distance."""
    holding = np.zeros(len(points), dtype=np.int64)
    nearest = torch.full((len(centres),), torch.inf, dtype=torch.float64)
    for start in range(0, len(points), 1024):
        distances = torch.cdist(points[start : start + 1024], centres)
        holding[start : start + 1024] = (distances <= radii).sum(dim=1).numpy()
        nearest = torch.minimum(nearest, distances.min(dim=0).values)
    return holding, nearest.numpy()
