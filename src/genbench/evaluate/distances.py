"""FID (whole and per class) and KID's MMD in float64 numpy, for the bootstraps and paired tests that compute
hundreds of them; numpy only, so the report's paired tests load no torch (fidelity.py holds the torch forms)."""

from __future__ import annotations

import numpy as np


def fid_numpy(real: np.ndarray, fake: np.ndarray) -> float:
    """The same Frechet distance as `fidelity.fid`, in float64 numpy: torchmetrics' metric object costs more to
    build than the distance itself, and the bootstrap computes hundreds (tests check the two agree)."""
    return fids_numpy(real, [fake])[0]


def fids_numpy(real: np.ndarray, fakes: list[np.ndarray]) -> list[float]:
    """The Frechet distance of each set in `fakes` from `real`, whose statistics are taken once: a paired
    bootstrap scores two models against each resample of the same real images."""
    mu_real = real.mean(0)
    centred_real = real - mu_real
    n_real, dim = real.shape
    trace_real = (centred_real**2).sum() / (n_real - 1)
    root_real = None
    found = []
    for fake in fakes:
        mu_fake = fake.mean(0)
        centred_fake = fake - mu_fake
        n_fake = len(fake)
        if n_real * n_fake < dim * dim:
            # Sets smaller than the feature dimension (one class's images): the eigenvalues of A B are the squared
            # singular values of X Y^T / sqrt((n_real - 1)(n_fake - 1)), an n_real x n_fake matrix, X and Y centred.
            singular = np.linalg.svd(centred_real @ centred_fake.T, compute_uv=False)
            trace_sqrt = singular.sum() / np.sqrt((n_real - 1) * (n_fake - 1))
        else:
            # tr sqrt(A B) = tr sqrt(A^1/2 B A^1/2): a symmetric matrix, so a symmetric eigensolver, 2.3 times as
            # fast for a pair of 128-dimensional sets as the general one on A B.
            if root_real is None:
                root_real = _psd_root(centred_real.T @ centred_real / (n_real - 1))
            cov_fake = centred_fake.T @ centred_fake / (n_fake - 1)
            eigenvalues = np.linalg.eigvalsh(root_real @ cov_fake @ root_real)
            trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
        trace_fake = (centred_fake**2).sum() / (n_fake - 1)
        found.append(float(((mu_real - mu_fake) ** 2).sum() + trace_real + trace_fake - 2 * trace_sqrt))
    return found


def _psd_root(covariance: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix, its rounding-negative eigenvalues taken as 0."""
    eigenvalues, vectors = np.linalg.eigh(covariance)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ vectors.T


def inception_score(logits: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) over the whole set, p(y|x) the softmax of each image's `logits` and p(y) their
    mean (Salimans et al., 2016): torch-fidelity's formula with one split. With the featurenet's logits it is the
    classifier score: the same formula in the dataset's own classes."""
    log_p = logits - logits.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    p = np.exp(log_p)
    return float(np.exp((p * (log_p - np.log(p.mean(0)))).sum(1).mean()))


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
