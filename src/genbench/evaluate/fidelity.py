"""Distances between a real and a generated feature set: FID, KID, precision and recall."""

from __future__ import annotations

import warnings

import numpy as np
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


def fid_numpy(real: np.ndarray, fake: np.ndarray) -> float:
    """The same Frechet distance as `fid`, in float64 numpy: torchmetrics' metric object costs more to
    build than the distance itself, and the bootstrap computes hundreds (tests check the two agree)."""
    mu_real, mu_fake = real.mean(0), fake.mean(0)
    cov_real, cov_fake = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    # tr sqrt(A B) from the eigenvalues of A B (real and non-negative up to rounding for covariances).
    eigenvalues = np.linalg.eigvals(cov_real @ cov_fake)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(((mu_real - mu_fake) ** 2).sum() + np.trace(cov_real) + np.trace(cov_fake) - 2 * trace_sqrt)


def mmd_numpy(real: np.ndarray, fake: np.ndarray, paired: bool = False) -> float:
    """KID's statistic on whole sets: the unbiased squared MMD with KID's kernel (x.y / d + 1)^3.
    `paired`: real[i] and fake[i] belong together (same class), and the cross sum leaves out those
    pairs, as the within sums leave out an image paired with itself (Gretton et al., 2012, MMD_u^2)."""
    ones = np.ones((len(real), 1))
    return float(mmd_of_resamples(real, fake, ones, ones if paired else np.ones((len(fake), 1)), paired)[0])


def mmd_of_resamples(
    real: np.ndarray, fake: np.ndarray, counts_real: np.ndarray, counts_fake: np.ndarray, paired: bool = False
) -> np.ndarray:
    """mmd_numpy of many resamples at once, each column of `counts_*` saying how often a resample holds each
    image (paired: one count per pair, the same array for both). The sums over a resample's pairs are
    quadratic forms of its counts with the kernel matrices, which are built 1024 rows at a time and
    never whole: memory stays at 1024 x N however many images."""
    dim = real.shape[1]

    def pair_sums(a: np.ndarray, b: np.ndarray, counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
        total = np.zeros(counts_a.shape[1])
        for start in range(0, len(a), 1024):
            block = (a[start : start + 1024] @ b.T / dim + 1) ** 3
            total += np.einsum("ir,ir->r", counts_a[start : start + 1024], block @ counts_b)
        return total

    def within(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
        self_pairs = (((x * x).sum(1) / dim + 1) ** 3) @ counts  # a position paired with itself is left out
        n = counts.sum(0)
        return (pair_sums(x, x, counts, counts) - self_pairs) / (n * (n - 1))

    if paired:
        matched = (((real * fake).sum(1) / dim + 1) ** 3) @ counts_real
        n = counts_real.sum(0)
        between = (pair_sums(real, fake, counts_real, counts_fake) - matched) / (n * (n - 1))
    else:
        between = pair_sums(real, fake, counts_real, counts_fake) / (counts_real.sum(0) * counts_fake.sum(0))
    return within(real, counts_real) + within(fake, counts_fake) - 2 * between


def manifold_membership(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Improved precision and recall (Kynkaanniemi et al., 2019), image by image.

    Each set's manifold is the union of balls around its points reaching their k-th nearest
    neighbour. Returns whether each generated point is inside the real manifold (their mean is
    precision) and whether each real point is inside the generated one (recall). Written here
    because neither torchmetrics nor another maintained library provides it (the `prdc` package
    has not been updated since 2020).
    """
    real, fake = real.double(), fake.double()
    return _inside(fake, real, k), _inside(real, fake, k)


def _inside(points: torch.Tensor, manifold: torch.Tensor, k: int) -> np.ndarray:
    if len(manifold) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set (got {len(manifold)})")
    # k+1: each manifold point's nearest neighbour within its own set is itself. In blocks of 1024
    # rows, so memory stays at 1024 x len(manifold) distances.
    radii = torch.cat(
        [
            torch.cdist(manifold[start : start + 1024], manifold).kthvalue(k + 1, dim=1).values
            for start in range(0, len(manifold), 1024)
        ]
    )
    inside = torch.zeros(len(points), dtype=torch.bool)
    for start in range(0, len(points), 1024):
        distances = torch.cdist(points[start : start + 1024], manifold)
        inside[start : start + 1024] = (distances <= radii).any(dim=1)
    return inside.numpy()
