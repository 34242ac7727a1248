"""evaluate@D-M for the classic baselines: test-set metrics, timings and predictions."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from genbench import artifacts
from genbench.config import Params
from genbench.data import preprocess
from genbench.models.classic import module_for
from genbench.train.classic import flatten, single_threaded_blas


def run(
    params: Params, dataset: str, model: str, data_path: Path, meta_path: Path, model_dir: Path,
    metrics_path: Path, predictions_path: Path,
) -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    classes = artifacts.read_json(meta_path)["classes"]
    train_info = artifacts.read_json(model_dir / "train.json")
    estimator = module_for(model).load(model_dir)
    arrays = preprocess.load(data_path, ("val", "test"))
    y_test = arrays["y_test"]

    with single_threaded_blas():
        start = time.perf_counter()
        predicted = estimator.predict(flatten(arrays["x_test"]))
        predict_seconds = time.perf_counter() - start
        val_predicted = estimator.predict(flatten(arrays["x_val"])) if len(arrays["y_val"]) else None

    labels = list(range(len(classes)))
    precision, recall, _, support = precision_recall_fscore_support(
        y_test, predicted, labels=labels, zero_division=0
    )
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macro_f1": float(f1_score(y_test, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_test, predicted, labels=labels).tolist(),
        "n_train": train_info["n_train"],
        "max_train_samples": train_info["max_train_samples"],
        "n_test": int(len(y_test)),
        "timing": {"fit_seconds": train_info["fit_seconds"], "predict_seconds": predict_seconds},
    }
    if val_predicted is not None:
        metrics["val_accuracy"] = float(accuracy_score(arrays["y_val"], val_predicted))
    artifacts.write_json(metrics_path, metrics)
    artifacts.write_text(predictions_path, _predictions_csv(y_test, predicted, classes))


def _predictions_csv(actual, predicted, classes: list[str]) -> str:
    """One row per test image, the shape of DVC's confusion-matrix plot template."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    writer.writerows((classes[a], classes[p]) for a, p in zip(actual, predicted))
    return out.getvalue()
