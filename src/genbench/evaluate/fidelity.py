"""Distances between a real and a generated feature set: FID (whole and per class), KID, precision, recall,
density and coverage."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

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
    centred_real, centred_fake = real - mu_real, fake - mu_fake
    n_real, n_fake, dim = len(real), len(fake), real.shape[1]
    traces = (centred_real**2).sum() / (n_real - 1) + (centred_fake**2).sum() / (n_fake - 1)
    if n_real * n_fake < dim * dim:
        # Sets smaller than the feature dimension (one class's images): the eigenvalues of A B are the squared
        # singular values of X Y^T / sqrt((n_real - 1)(n_fake - 1)), an n_real x n_fake matrix, X and Y centred.
        singular = np.linalg.svd(centred_real @ centred_fake.T, compute_uv=False)
        trace_sqrt = singular.sum() / np.sqrt((n_real - 1) * (n_fake - 1))
    else:
        # tr sqrt(A B) from the eigenvalues of A B (real and non-negative up to rounding for covariances).
        cov_real = centred_real.T @ centred_real / (n_real - 1)
        cov_fake = centred_fake.T @ centred_fake / (n_fake - 1)
        eigenvalues = np.linalg.eigvals(cov_real @ cov_fake)
        trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(((mu_real - mu_fake) ** 2).sum() + traces - 2 * trace_sqrt)


def intra_class_fid(real: np.ndarray, real_labels: np.ndarray, fake: np.ndarray, fake_labels: np.ndarray) -> float:
    """Intra-class FID (Miyato and Koyama, 2018, the projection discriminator's paper; StudioGAN's iFID): the mean
    over classes of the FID between one class's real and generated images, which a model that draws the wrong
    class for a label cannot hide behind a right overall class mix. Classes with fewer than two images on either
    side have no covariance and are left out; NaN when none is left."""
    per_class = [
        fid_numpy(real[real_labels == c], fake[fake_labels == c])
        for c in np.unique(real_labels)
        if (real_labels == c).sum() >= 2 and (fake_labels == c).sum() >= 2
    ]
    return float(np.mean(per_class)) if per_class else float("nan")


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
