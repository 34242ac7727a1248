"""Test-set metrics and predictions of any classifier: the classic baselines and featurenet, and (`measure`) a
generative model that also classifies.

Accuracy carries a Wilson interval, macro-F1 a bootstrap one over test images; the predictions
file lets the report pair classifiers image by image (McNemar's test).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genbench import artifacts, records
from genbench.data import splits
from genbench.evaluate import intervals


def run(
    predict: Callable[[np.ndarray], np.ndarray],
    data_path: Path,
    meta_path: Path,
    train_info: records.TrainInfo,
    metrics_path: Path,
    predictions_path: Path,
    resamples: int,
    seed: int,
) -> dict:
    """Predict the val and test splits (images (N, C, H, W) in, labels out); write metrics and predictions.
    Returns the prediction time, which stays out of the metrics (it differs on every run)."""
    from sklearn.metrics import accuracy_score

    classes = records.read(meta_path, records.DatasetMeta).classes
    arrays = splits.load(data_path, ("val", "test"), n_classes=len(classes))
    y_test = arrays["y_test"]
    start = time.perf_counter()
    predicted = predict(arrays["x_test"])
    predict_seconds = time.perf_counter() - start
    metrics = measure(y_test, predicted, classes, resamples, seed) | {
        "n_train": train_info.n_train,
        "max_train_samples": train_info.max_train_samples,
    }
    if len(arrays["y_val"]):
        metrics["val_accuracy"] = float(accuracy_score(arrays["y_val"], predict(arrays["x_val"])))
    predictions = _predictions_csv(y_test, predicted, classes)  # built before anything is written
    records.ClassifierMetrics.model_validate(metrics)  # the record the report reads (metric_table.py)
    artifacts.write_json(metrics_path, metrics)
    artifacts.write_text(predictions_path, predictions)
    return {"predict_seconds": predict_seconds}


def measure(actual: np.ndarray, predicted: np.ndarray, classes: list[str], resamples: int, seed: int) -> dict:
    """Accuracy with its Wilson interval, macro-F1 with its bootstrap interval over the images, per-class figures
    and the confusion matrix of `predicted` against `actual` test labels."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(range(len(classes)))

    def macro_f1(truth: np.ndarray, guessed: np.ndarray) -> float:
        return float(f1_score(truth, guessed, labels=labels, average="macro", zero_division=0))

    precision, recall, _, support = precision_recall_fscore_support(actual, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "accuracy_interval": intervals.wilson(int(np.sum(predicted == actual)), len(actual)),
        "macro_f1": macro_f1(actual, predicted),
        "macro_f1_interval": intervals.bootstrap_paired(macro_f1, actual, predicted, resamples, seed),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(actual, predicted, labels=labels).tolist(),
        "n_test": int(len(actual)),
    }


def _predictions_csv(actual, predicted, classes: list[str]) -> str:
    """One row per test image, the shape of DVC's confusion-matrix plot template."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    writer.writerows((classes[a], classes[p]) for a, p in zip(actual, predicted))
    return out.getvalue()
