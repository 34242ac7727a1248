"""A finished run's figures and costs as Markdown tables, for the README: the models' figures from
reports/summary.json, each stage's seconds and peak resident memory from reports/timings/.

Usage: python bench/run_tables.py RUN_FOLDER [--dataset mnist]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = {  # summary key -> (heading, scale, decimals)
    "accuracy": ("accuracy %", 100, 2),
    "fid": ("FID", 1, 2),
    "kid": ("KID", 1, 3),
    "precision": ("precision", 1, 3),
    "recall": ("recall", 1, 3),
    "cas.svm.accuracy": ("CAS (SVM) %", 100, 2),
    "cas.xgboost.accuracy": ("CAS (XGBoost) %", 100, 2),
    "likelihood.bits_per_dim": ("bound, bits/dim", 1, 3),
}
MODELS = ("xgboost", "svm", "logreg", "featurenet", "vae", "gan", "ddpm")


def figure(entry: dict | None, scale: float, decimals: int) -> str:
    if not entry:
        return ""
    low, high = entry.get("mean_interval") or entry.get("interval") or (None, None)
    text = f"{entry['mean'] * scale:.{decimals}f}"
    return text + (f" [{low * scale:.{decimals}f}, {high * scale:.{decimals}f}]" if low is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", default=None)
    args = parser.parse_args()
    summary = json.loads((args.run / "reports" / "summary.json").read_text())
    dataset = args.dataset or next(iter(summary))
    rows = summary[dataset]
    used = [key for key in COLUMNS if any(key in rows.get(m, {}) for m in MODELS)]
    print("| model | " + " | ".join(COLUMNS[k][0] for k in used) + " |")
    print("| --- |" + " --- |" * len(used))
    for model in (m for m in MODELS if m in rows):
        print(f"| {model} | " + " | ".join(figure(rows[model].get(k), *COLUMNS[k][1:]) for k in used) + " |")
    print()
    print("| stage | seconds | peak memory, MB |")
    print("| --- | ---: | ---: |")
    records = [json.loads(p.read_text()) for p in sorted((args.run / "reports" / "timings").rglob("*.json"))]
    for record in sorted(records, key=lambda r: -r["seconds"]):
        memory = record.get("peak_rss_mb")
        print(f"| `{record['command'].removeprefix('genbench ')}` | {record['seconds']:.0f} | {memory:.0f} |" if memory else
              f"| `{record['command'].removeprefix('genbench ')}` | {record['seconds']:.0f} | |")
    print(f"| all stages | {sum(r['seconds'] for r in records):.0f} | |")


if __name__ == "__main__":
    main()
