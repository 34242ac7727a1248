"""Does the ranking of the generative models depend on the feature space? Kendall's tau between two spaces' FIDs
over the models, with a bootstrap interval over the images, and the columns whose marks move between spaces."""

from __future__ import annotations

import numpy as np

from genbench.evaluate import distances, intervals

# model -> seed -> {"real": features, "generated": features}, as the report reads a projection file
Features = dict[str, dict[int, dict[str, np.ndarray]]]


def agreement(space_a: Features, space_b: Features, seeds: list[int], resamples: int, seed: int) -> dict:
    """Kendall's tau between the models' FIDs (each the mean over `seeds`) in two spaces. Each resample draws
    the test images and each model's samples once and uses the same rows in both spaces, so the interval is
    that of the images, not of two independent draws."""
    from scipy import stats

    models = list(space_a)
    rng = np.random.default_rng(seed)

    def fids(space: Features, rows: dict) -> list[float]:
        return [
            float(
                np.mean(
                    [
                        distances.fid_numpy(space[m][s]["real"][rows[s]], space[m][s]["generated"][rows[(m, s)]])
                        for s in seeds
                    ]
                )
            )
            for m in models
        ]

    def tau(rows: dict) -> float:
        return float(stats.kendalltau(fids(space_a, rows), fids(space_b, rows)).statistic)

    whole = {s: slice(None) for s in seeds} | {(m, s): slice(None) for m in models for s in seeds}
    resampled = []
    for _ in range(resamples):
        rows = {
            s: rng.integers(0, len(space_a[models[0]][s]["real"]), len(space_a[models[0]][s]["real"])) for s in seeds
        }
        rows |= {
            (m, s): rng.integers(0, len(space_a[m][s]["generated"]), len(space_a[m][s]["generated"]))
            for m in models
            for s in seeds
        }
        resampled.append(tau(rows))
    resampled = np.array(resampled)
    finite = resampled[np.isfinite(resampled)]
    low, high = np.percentile(finite, [2.5, 97.5]) if len(finite) else (np.nan, np.nan)
    return {
        "tau": tau(whole),
        "tau_interval": [float(low), float(high)],
        "n_models": len(models),
        "resamples": resamples,
        "confidence": intervals.CONFIDENCE,
    }


def moved_marks(rows_a: list[dict], rows_b: list[dict], keys: list[str]) -> list[dict]:
    """The columns whose best or tied marks differ between two tables of the same models."""
    moved = []
    for key in keys:
        marked_a = {row["model"]: row["marks"][key] for row in rows_a if row["marks"].get(key)}
        marked_b = {row["model"]: row["marks"][key] for row in rows_b if row["marks"].get(key)}
        if marked_a != marked_b:
            moved.append({"key": key, "a": marked_a, "b": marked_b})
    return moved
