"""The metrics table (genbench/metric_table.py) against the records evaluation writes and the report reads
(genbench/records.py): every column is a field of its record, with its interval beside it where it has one."""

from __future__ import annotations

import json
import typing

import pytest
from pydantic import BaseModel

from genbench import metric_table, pipeline, records
from genbench.metric_table import IntervalKind, Metric

RECORD_OF = {
    "CLASSIFIER": records.ClassifierMetrics,
    "GENERATIVE": records.GenerativeMetrics,
    "SAMPLE_CLASSES": records.GenerativeMetrics,
    "IN_SPACE": records.InSpace,
}
COLUMNS = [(table, metric) for table in RECORD_OF for metric in getattr(metric_table, table)]


def field(record: type[BaseModel], dotted: str):
    """The pydantic field at a dotted key of `record`; None where there is none. `cas.<classifier>.` keys are
    fields of the CAS stage's record, which the report adds to a generative model's row."""
    parts = dotted.split(".")
    if parts[0] == "cas":
        if parts[1] not in pipeline.CAS_MODELS:
            return None
        record, parts = records.CasScore, parts[2:]
    for i, part in enumerate(parts):
        found = record.model_fields.get(part)
        if found is None or i == len(parts) - 1:
            return found
        nested = [a for a in typing.get_args(found.annotation) or (found.annotation,) if isinstance(a, type)]
        models = [a for a in nested if issubclass(a, BaseModel)]
        if not models:
            return None
        record = models[0]
    return None


@pytest.mark.parametrize(("table", "metric"), COLUMNS, ids=[f"{t}:{m.key}" for t, m in COLUMNS])
def test_every_column_is_a_field_of_its_record(table: str, metric: Metric):
    if metric.timed:  # from the stages' timing records, which records.StageTimes reads
        assert metric.interval is IntervalKind.NONE, "a measured time has no interval over images"
        return
    record = RECORD_OF[table]
    assert field(record, metric.key) is not None, f"{metric.key} is no field of {record.__name__}"
    interval = field(record, metric.key + "_interval")
    assert (interval is not None) == (metric.interval is not IntervalKind.NONE), (
        f"{metric.key}: the table says its interval is {metric.interval.name}, {record.__name__} "
        f"{'has' if interval else 'has no'} {metric.key}_interval"
    )


def test_the_lookup_finds_no_field_that_is_not_there():
    assert field(records.GenerativeMetrics, "likelihood.bits_per_dim") is not None
    assert field(records.GenerativeMetrics, "likelihood.nats_per_dim") is None
    assert field(records.GenerativeMetrics, "cas.random_forest.accuracy") is None
    assert field(records.ClassifierMetrics, "accuracy.low") is None


def test_a_record_refuses_what_the_report_could_not_show(tmp_path):
    from genbench.errors import DataError

    good = {
        "accuracy": 0.9,
        "accuracy_interval": [0.85, 0.93],
        "macro_f1": 0.89,
        "macro_f1_interval": [0.84, 0.92],
        "confusion_matrix": [[5, 1], [0, 4]],
        "n_test": 10,
    }
    path = tmp_path / "svm.json"
    for damage, says in (
        ({"accuracy": "high"}, "accuracy: Input should be a valid number"),
        ({"accuracy": True}, "accuracy: Input should be a valid number"),
        ({"macro_f1_interval": [0.8, float("inf")]}, "macro_f1_interval.1: Input should be a finite number"),
        ({"accuracy_interval": [0.8]}, "accuracy_interval: List should have at least 2 items"),
        ({"confusion_matrix": [[5, -1], [0, 4]]}, "confusion_matrix.0.1: Input should be greater than or equal to 0"),
    ):
        path.write_text(json.dumps(good | damage))
        with pytest.raises(DataError, match=f"^{path}: {says}"):
            records.read(path, records.ClassifierMetrics)
    path.write_text(json.dumps(good | {"accuracy": float("nan")}))
    assert records.read(path, records.ClassifierMetrics).accuracy != 0.9, "a metric may be undefined (NaN)"
