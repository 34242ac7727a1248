"""95% intervals and significance tests for the benchmark's figures, from scipy.

Within one run: Wilson intervals for shares of images (accuracy, CAS), percentile bootstraps
for everything else (macro-F1 over the test images; FID and KID over the real and the generated
feature sets, bias-shifted; precision and recall over the images with the k-NN manifolds held
fixed), and t-intervals for means over images (likelihood bounds). Across seeds: mean, standard
deviation and a t-interval. Every bootstrap is seeded, so a rerun gives the same interval.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05


def _pair(low: float, high: float) -> list[float]:
    return [float(low), float(high)]


def wilson(successes: int, n: int) -> list[float]:
    """Wilson score interval of a share of `n` trials."""
    return _pair(*stats.binomtest(int(successes), int(n)).proportion_ci(CONFIDENCE, method="wilson"))


def bootstrap_mean(values: np.ndarray, resamples: int, seed: int) -> list[float]:
    """Percentile bootstrap interval of the mean of `values` (one per image)."""
    values = np.asarray(values, dtype=np.float64)
    if np.all(values == values[0]):  # every resample gives the same mean
        return _pair(values[0], values[0])
    result = stats.bootstrap(
        (values,), np.mean, n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed)
    )
    return _pair(*result.confidence_interval)


def bootstrap_paired(
    statistic: Callable[[np.ndarray, np.ndarray], float], a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> list[float]:
    """Percentile bootstrap interval of statistic(a, b), resampling the pairs (a[i], b[i]) together."""
    result = stats.bootstrap(
        (a, b),
        statistic,
        paired=True,
        vectorized=False,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return _pair(*result.confidence_interval)


def bootstrap_two_sets(
    statistic: Callable[[np.ndarray, np.ndarray], float], a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> list[float]:
    """Bias-shifted percentile bootstrap interval of statistic(a, b), resampling the rows of `a` and of `b`
    independently (bias_shifted)."""

    def on_indices(i: np.ndarray, j: np.ndarray) -> float:
        return statistic(a[i.astype(int)], b[j.astype(int)])

    result = stats.bootstrap(
        (np.arange(len(a)), np.arange(len(b))),
        on_indices,
        vectorized=False,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return bias_shifted(result.bootstrap_distribution, statistic(a, b))


def bias_shifted(resampled: np.ndarray, estimate: float) -> list[float]:
    """The 95% percentile interval of `resampled`, shifted by the bootstrap's estimate of its bias (the
    resamples' mean minus the estimate). A resample repeats images, which inflates set statistics such as
    FID (at 40 images every resample's FID lies above the estimate); the shift keeps the width."""
    bias = float(np.mean(resampled)) - estimate
    low, high = np.percentile(resampled, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return _pair(low - bias, high - bias)


def mean_interval(values) -> dict:
    """Mean, standard deviation and t-interval of the mean, over seeds or over images; n=1 has no spread."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "std": None, "low": None, "high": None, "n": len(values)}
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * std / np.sqrt(len(values)))
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "n": len(values)}


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact McNemar test of two classifiers on the same images: a two-sided binomial test on the
    images exactly one of them gets right. p = 1 when they never disagree."""
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def welch(a, b) -> float:
    """Two-sided Welch t-test of two sets of replicates; p = 1 where it is undefined (fewer than two
    replicates, or no spread on either side with equal means)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if a.std() == 0 and b.std() == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment for a family of tests. scipy has Benjamini-Hochberg only
    (false_discovery_control), and Holm is a few lines, so it is written here."""
    order = np.argsort(pvalues)
    adjusted = np.empty(len(pvalues))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted.tolist()
