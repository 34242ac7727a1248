"""Distances between a real and a generated feature set: FID, KID, precision and recall."""

from __future__ import annotations

import warnings

import torch

from genbench.evaluate.features import Precomputed


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance of the two sets' Gaussian fits (torchmetrics, float64)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1])).set_dtype(torch.float64)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int, seed: int) -> tuple[float, float, int]:
    """Kernel inception distance: (mean, std over subsets, subset size). The subset size is
    torchmetrics' default of 1000, or half the smaller set so that subsets differ and their
    spread says how much the estimate moves."""
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


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019).

    Each set's manifold is the union of balls around its points reaching their k-th nearest
    neighbour. Precision: share of generated points inside the real manifold; recall: share
    of real points inside the generated one. Written here because neither torchmetrics nor
    another maintained library provides it (the `prdc` package has not been updated since 2020).
    """
    real, fake = real.double(), fake.double()
    return _share_inside(fake, real, k), _share_inside(real, fake, k)


def _share_inside(points: torch.Tensor, manifold: torch.Tensor, k: int) -> float:
    if len(manifold) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set (got {len(manifold)})")
    # k+1: each manifold point's nearest neighbour within its own set is itself.
    radii = torch.cdist(manifold, manifold).kthvalue(k + 1, dim=1).values
    inside = torch.zeros(len(points), dtype=torch.bool)
    for start in range(0, len(points), 1024):  # bounds memory at 1024 x len(manifold) distances
        distances = torch.cdist(points[start:start + 1024], manifold)
        inside[start:start + 1024] = (distances <= radii).any(dim=1)
    return float(inside.double().mean())
