"""The report's numbers: each model's figure over its seeds, its interval, and which rows a test separates.

A cell holds one metric of one model on one dataset: a value and a 95% interval per seed (the
interval its evaluate stage computed over images, or None). Over two or more seeds the cell shows
mean ± the t-interval's half-width across seeds; over one seed, or seeds that all gave the same
value, the value ± its interval's half-width over images.

A column marks its top row "best" only when a test separates it from every other row at p < 0.05
after Holm's correction over the column; otherwise it marks the rows no test separates from the top
as "tied". A pair's p-value (`Comparison.p_value`) is the larger of two, so a mark needs both:

- on the images, seed by seed (the largest p over the seeds): exact McNemar for classifier accuracy;
  a paired bootstrap of the FID difference, the same resampled real images for both models; for any
  other column, a normal approximation from the two intervals;
- across the seeds, where either row varies with the seed: Welch's t-test. A model that does not
  vary with the seed (logistic regression, an uncapped SVM) is compared on the images alone.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from genbench.evaluate import distances, intervals
from genbench.metric_table import Metric

STANDARD_NORMAL_975 = 1.959963984540054


@dataclass
class Cell:
    seeds: list[int]
    values: list[float]
    intervals: list[list[float] | None]  # per seed, over images; None where the metric has none

    @property
    def summary(self) -> dict:
        return intervals.mean_interval(self.values)

    @property
    def mean(self) -> float:
        return self.summary["mean"]

    @property
    def low_high(self) -> tuple[float | None, float | None]:
        """The t-interval across seeds; the interval over images where there is one seed, or where the
        seeds all gave the same value (a model with no randomness: its t-interval would be a point)."""
        if len(self.values) > 1 and not (len(set(self.values)) == 1 and self.intervals[0]):
            return self.summary["low"], self.summary["high"]
        return tuple(self.intervals[0]) if self.intervals[0] else (None, None)

    @property
    def half_width(self) -> float | None:
        low, high = self.low_high
        return None if low is None else (high - low) / 2

    def text(self, fmt: str) -> str:
        half = self.half_width
        return (
            fmt.format(self.mean)
            if half is None or not math.isfinite(half)
            else f"{fmt.format(self.mean)} ± {fmt.format(half)}"
        )


@dataclass
class Comparison:
    """What the column tests need beyond the cells: per-image correctness and feature sets, by model and seed."""

    correct: dict[str, dict[int, np.ndarray]] = field(
        default_factory=dict
    )  # classifier -> seed -> right or wrong per test image
    features: dict[str, dict[int, dict[str, np.ndarray]]] = field(
        default_factory=dict
    )  # generative model -> seed -> real, generated
    resamples: int = 200
    seed: int = 0
    _per_seed: dict = field(
        default_factory=dict
    )  # (key, both rows and cells) -> per-seed p-values: the marks and the pairs table ask twice

    def p_value(self, key: str, a: str, b: str, cells: dict[str, Cell]) -> float | None:
        """Two-sided p-value of "rows a and b differ in this column" (module doc); None where no test applies."""
        ca, cb = cells[a], cells[b]
        per_seed = self.per_seed(key, a, b, ca, cb)
        found = [max(per_seed)] if per_seed and None not in per_seed else []
        if len(ca.values) > 1 and len(cb.values) > 1 and (np.ptp(ca.values) > 0 or np.ptp(cb.values) > 0):
            found.append(intervals.welch(ca.values, cb.values))
        return max(found) if found else None

    def per_seed(self, key: str, a: str, b: str, ca: Cell, cb: Cell) -> list[float | None]:
        """The test on each seed's images: the two rows' replicates of one seed, on the same test images."""
        pair = (key, *sorted([(a, repr(ca)), (b, repr(cb))]))  # every test here is symmetric
        if pair not in self._per_seed:
            self._per_seed[pair] = self._tests_per_seed(key, a, b, ca, cb)
        return self._per_seed[pair]

    def _tests_per_seed(self, key: str, a: str, b: str, ca: Cell, cb: Cell) -> list[float | None]:
        found = []
        for i, seed in enumerate(ca.seeds):
            if key == "accuracy" and a in self.correct and b in self.correct:
                found.append(intervals.mcnemar(self.correct[a][seed], self.correct[b][seed]))
            elif key == "fid" and a in self.features and b in self.features:
                found.append(
                    paired_fid_bootstrap(self.features[a][seed], self.features[b][seed], self.resamples, self.seed)
                )
            elif ca.intervals[i] and cb.intervals[i]:
                found.append(normal_approximation(ca.values[i], ca.intervals[i], cb.values[i], cb.intervals[i]))
            else:
                found.append(None)
        return found


def mcnemar_pooled(correct_a: dict[int, np.ndarray], correct_b: dict[int, np.ndarray]) -> float:
    """McNemar on every seed's disagreements together. It counts each test image once per seed, so it
    overstates the evidence; the page lists it beside the per-seed tests and marks nothing by it."""
    seeds = sorted(set(correct_a) & set(correct_b))
    return intervals.mcnemar(
        np.concatenate([correct_a[s] for s in seeds]), np.concatenate([correct_b[s] for s in seeds])
    )


def paired_fid_bootstrap(a: dict[str, np.ndarray], b: dict[str, np.ndarray], resamples: int, seed: int) -> float:
    """p-value of FID(a) = FID(b): each resample draws the real images once for both models. The p-value
    comes from the observed difference over the resampled differences' standard deviation (normal
    approximation): counting tails would floor p at 2 / (resamples + 1), which Holm's correction then
    multiplies past 0.05, and would include the resamples' inflation of each FID."""
    from scipy import stats

    real = a["real"]
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for r in range(resamples):
        chosen_real = rng.integers(0, len(real), len(real))
        chosen = [g[rng.integers(0, len(g), len(g))] for g in (a["generated"], b["generated"])]
        fid_a, fid_b = distances.fids_numpy(real[chosen_real], chosen)
        differences[r] = fid_a - fid_b
    fid_a, fid_b = distances.fids_numpy(real, [a["generated"], b["generated"]])
    observed = fid_a - fid_b
    spread = float(np.std(differences, ddof=1))
    if spread == 0:
        return 1.0 if observed == 0 else 0.0
    return float(2 * stats.norm.sf(abs(observed) / spread))


def normal_approximation(value_a: float, interval_a: list[float], value_b: float, interval_b: list[float]) -> float:
    """p-value of a difference between two estimates from their 95% intervals, taken as independent
    (conservative for two estimates on the same test images, which are positively correlated)."""
    from scipy import stats

    se = [(iv[1] - iv[0]) / (2 * STANDARD_NORMAL_975) for iv in (interval_a, interval_b)]
    spread = math.hypot(*se)
    if spread == 0:
        return 1.0 if value_a == value_b else 0.0
    return float(2 * stats.norm.sf(abs(value_a - value_b) / spread))


def marks(key: str, direction: str | None, cells: dict[str, Cell], comparison: Comparison) -> dict[str, str]:
    """{model: "best" or "tied"} for one column (module doc); {} where the column is not ranked or untestable."""
    ranked = [m for m, c in cells.items() if c is not None and math.isfinite(c.mean)]
    if direction is None or len(ranked) < 2:
        return {}
    ranked.sort(key=lambda m: cells[m].mean, reverse=direction == "max")
    top, rest = ranked[0], ranked[1:]
    p_values = [comparison.p_value(key, top, other, cells) for other in rest]
    if any(p is None for p in p_values):
        return {}
    adjusted = intervals.holm(p_values)
    if all(p < intervals.ALPHA for p in adjusted):
        return {top: "best"}
    return {top: "tied"} | {other: "tied" for other, p in zip(rest, adjusted) if p >= intervals.ALPHA}


def pairwise(models: list[str], test: Callable[[str, str], float]) -> list[dict]:
    """Every pair of models once, with its p-value and Holm's adjustment over the pairs."""
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
    p_values = [test(a, b) for a, b in pairs]
    adjusted = intervals.holm(p_values) if pairs else []
    return [{"a": a, "b": b, "p": p, "p_holm": q} for (a, b), p, q in zip(pairs, p_values, adjusted)]


def summary(rows: list[dict]) -> dict:
    """{model: {metric: {mean, mean_interval, std, n_seeds}}}: the page's figures as a DVC metrics file.
    Over one seed the interval is the one over images."""
    found: dict = {}
    for row in rows:
        for key, c in row["cells"].items():
            if c is not None:
                low, high = c.low_high
                found.setdefault(row["model"], {})[key] = {
                    "mean": c.mean,
                    "mean_interval": None if low is None else [low, high],
                    "std": c.summary["std"],
                    "n_seeds": len(c.values),
                }
    return found


# ---------------------------------------------------------------- the results table for papers

CSV_FIELDS = ("dataset", "model", "seed", "metric", "value", "low", "high")
LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
}


def csv_rows(dataset: str, model: str, key: str, cell: Cell) -> list[dict]:
    """One row per seed (its interval over images) and, over two or more seeds, one "mean" row (the t-interval)."""
    rows = [
        {
            "dataset": dataset,
            "model": model,
            "seed": seed,
            "metric": key,
            "value": value,
            "low": interval[0] if interval else None,
            "high": interval[1] if interval else None,
        }
        for seed, value, interval in zip(cell.seeds, cell.values, cell.intervals)
    ]
    if len(cell.values) > 1:
        low, high = cell.low_high
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "seed": "mean",
                "metric": key,
                "value": cell.mean,
                "low": low,
                "high": high,
            }
        )
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if row[k] is None else row[k]) for k in CSV_FIELDS} for row in rows)
    return out.getvalue()


def latex_table(caption: str, columns: tuple[Metric, ...], rows: list[dict]) -> str:
    """A booktabs table: mean ± standard deviation over seeds (the value alone over one seed);
    bold: best, underlined: tied, as on the page."""

    def escape(text: str) -> str:
        return re.sub(r"[\\&%_#${}]", lambda m: LATEX_ESCAPES[m.group()], text)

    def cell(row: dict, key: str, fmt: str) -> str:
        c: Cell | None = row["cells"].get(key)
        if c is None:
            return "--"
        std = c.summary["std"]
        text = escape(fmt.format(c.mean)) + (f" $\\pm$ {escape(fmt.format(std))}" if std is not None else "")
        mark = row["marks"].get(key)
        return f"\\textbf{{{text}}}" if mark == "best" else f"\\underline{{{text}}}" if mark == "tied" else text

    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{escape(caption)}}}",
        r"\begin{tabular}{l" + "r" * len(columns) + "}",
        r"\toprule",
        " & ".join(["model", *(escape(c.heading) for c in columns)]) + r" \\",
        r"\midrule",
    ]
    lines += [
        " & ".join([escape(row["model"]), *(cell(row, c.key, c.format) for c in columns)]) + r" \\" for row in rows
    ]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
