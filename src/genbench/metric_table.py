"""The one table of the metrics genbench reports: where each sits in a metrics file, its heading, which way
is better, how it is printed and what its interval is.

Evaluation writes each metric under its key, with its interval as the key + "_interval" beside it, in the
typed records of genbench/records.py; the report takes its columns from here and reads those records.
tests/test_report_contract.py keeps the two in step: every key here is a field of its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal


class IntervalKind(Enum):
    """How a metric's 95% interval is made (evaluate/intervals.py)."""

    WILSON = "Wilson score interval of the share, over the images counted"
    PERCENTILE_BOOTSTRAP = (
        "percentile bootstrap over the images (precision and density: the generated, recall and coverage: the real)"
    )
    BIAS_SHIFTED_BOOTSTRAP = (
        "bootstrap resampling the real and the generated features independently (a conditional model's KID: by "
        "pairs; intra-class FID: within each class), shifted by the bootstrap's own estimate of its bias"
    )
    T_MEAN = "t-interval of the mean over the test images"
    NONE = "none: a measured time or a count"


@dataclass(frozen=True)
class Metric:
    key: str  # dotted path in the record; "timing." keys come from the stages' timing records
    heading: str
    better: Literal["max", "min"] | None  # None: not ranked
    format: str
    interval: IntervalKind
    # A dotted key of the same record whose value names what the figure is, shown after it: (value, word) pairs.
    tag_key: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, value: str) -> str:
        return dict(self.tags)[value]

    @property
    def timed(self) -> bool:
        """Wall-clock figures differ on every run: the page shows them, the results files leave them out."""
        return self.key.startswith("timing.")


# A row is a classifier's metrics file (records.ClassifierMetrics) and its stages' times.
CLASSIFIER = (
    Metric("accuracy", "test accuracy", "max", "{:.2%}", IntervalKind.WILSON),
    Metric("macro_f1", "macro-F1", "max", "{:.4f}", IntervalKind.PERCENTILE_BOOTSTRAP),
    Metric("timing.fit_seconds", "fit (s)", "min", "{:.3f}", IntervalKind.NONE),
    Metric("timing.predict_seconds", "predict (s)", "min", "{:.4f}", IntervalKind.NONE),
)

# How the featurenet classifies a generative model's samples (records.GenerativeMetrics.classes).
SAMPLE_CLASSES = (
    Metric("classes.label_agreement", "shows the class asked for", "max", "{:.1%}", IntervalKind.WILSON),
    Metric("classes.entropy_bits", "class entropy (bits)", "max", "{:.3f}", IntervalKind.NONE),
    Metric("classes.coverage", "classes covered", "max", "{:.0%}", IntervalKind.NONE),
)

# The comparison of an image set with the test images in one feature space (records.FeatureComparison).
FEATURE_COMPARISON = (
    Metric("fid", "FID", "min", "{:.2f}", IntervalKind.BIAS_SHIFTED_BOOTSTRAP),
    Metric("kid", "KID", "min", "{:.4f}", IntervalKind.BIAS_SHIFTED_BOOTSTRAP),
    Metric("precision", "precision", "max", "{:.3f}", IntervalKind.PERCENTILE_BOOTSTRAP),
    Metric("recall", "recall", "max", "{:.3f}", IntervalKind.PERCENTILE_BOOTSTRAP),
    # Not ranked: density passes 1 where samples crowd into dense real regions, as a collapsed model's can.
    Metric("density", "density", None, "{:.3f}", IntervalKind.PERCENTILE_BOOTSTRAP),
    Metric("coverage", "coverage", "max", "{:.3f}", IntervalKind.PERCENTILE_BOOTSTRAP),
    Metric("intra_class_fid", "intra-class FID", "min", "{:.2f}", IntervalKind.BIAS_SHIFTED_BOOTSTRAP),
)

# A row is a generative model's comparison in a feature space beside the featurenet (records.InSpace).
IN_SPACE = (
    *FEATURE_COMPARISON,
    Metric("inception_score", "Inception Score", "max", "{:.2f}", IntervalKind.BIAS_SHIFTED_BOOTSTRAP),
)

# A row is a generative model's metrics file (records.GenerativeMetrics), its CAS file and its stages' times.
GENERATIVE = (
    *FEATURE_COMPARISON,
    # The Inception Score's formula in the featurenet's classes.
    Metric("classifier_score", "classifier score", "max", "{:.2f}", IntervalKind.BIAS_SHIFTED_BOOTSTRAP),
    Metric("cas.svm.accuracy", "CAS, SVM", "max", "{:.2%}", IntervalKind.WILSON),
    Metric("cas.xgboost.accuracy", "CAS, XGBoost", "max", "{:.2%}", IntervalKind.WILSON),
    # Not ranked: the VAE's is on binarised images, the others' on every pixel level. Each cell says whether it is
    # an exact likelihood (the CNF's, of the dequantised images) or a bound (the DDPM's, the VAE's), so the
    # bound's gap reads off the column.
    Metric(
        "likelihood.bits_per_dim",
        "NLL (bits/dim)",
        None,
        "{:.3f}",
        IntervalKind.T_MEAN,
        tag_key="likelihood.kind",
        tags=(("exact", "exact"), ("vlb", "bound"), ("iwae", "bound")),
    ),
    # Not ranked: a held-out real image scores about 50%; read a model against the floor row.
    Metric("memorisation.closer_to_train", "nearer a training image", None, "{:.1%}", IntervalKind.WILSON),
    Metric("timing.train_seconds", "train (s)", "min", "{:.1f}", IntervalKind.NONE),
    Metric("timing.sample_seconds_per_1000", "sampling (s/1000)", "min", "{:.2f}", IntervalKind.NONE),
)


def untimed(metrics: tuple[Metric, ...]) -> tuple[Metric, ...]:
    return tuple(m for m in metrics if not m.timed)
