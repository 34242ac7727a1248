"""A finished run's figures and costs as Markdown tables: the models' figures from reports/summary.json,
each stage's seconds and peak resident memory from reports/timings/.

`--save docs/runs/NAME` keeps what the tables need of the run (its summary, its timing records and where
it ran) in that folder; the docs render their Results tables from it (docs/hooks.py), so no figure is
typed by hand.

Usage: python bench/run_tables.py RUN_FOLDER [--dataset mnist] [--save docs/runs/NAME --note "how it was run"]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from genbench.report import provenance

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


def figure(entry: dict | None, scale: float, decimals: int) -> str:
    if not entry:
        return ""
    low, high = entry.get("mean_interval") or entry.get("interval") or (None, None)
    text = f"{entry['mean'] * scale:.{decimals}f}"
    return text + (f" [{low * scale:.{decimals}f}, {high * scale:.{decimals}f}]" if low is not None else "")


def figures_table(rows: dict) -> list[str]:
    used = [key for key in COLUMNS if any(key in figures for figures in rows.values())]
    lines = ["| model | " + " | ".join(COLUMNS[k][0] for k in used) + " |", "| --- |" + " --- |" * len(used)]
    # The classifiers first (they have an accuracy), then the generative models, each in name order.
    ordered = sorted(rows.items(), key=lambda item: ("accuracy" not in item[1], item[0]))
    lines += [
        f"| {model} | " + " | ".join(figure(figures.get(k), *COLUMNS[k][1:]) for k in used) + " |"
        for model, figures in ordered
    ]
    return lines


def stages_table(records: list[dict]) -> list[str]:
    lines = ["| stage | seconds | peak memory, MB |", "| --- | ---: | ---: |"]
    for record in sorted(records, key=lambda r: -r["seconds"]):
        memory = f"{record['peak_rss_mb']:.0f}" if record.get("peak_rss_mb") else ""
        lines.append(f"| `{record['command'].removeprefix('genbench ')}` | {record['seconds']:.0f} | {memory} |")
    lines.append(f"| all stages | {sum(r['seconds'] for r in records):.0f} | |")
    return lines


def markdown(saved: Path) -> str:
    """The tables of a run kept with --save, under a line saying how it was run."""
    about = json.loads((saved / "run.json").read_text())
    summary = json.loads((saved / "summary.json").read_text())
    records = json.loads((saved / "timings.json").read_text())
    lines = [f"{about['note']} Commit `{about['commit'][:12]}`, {about['cpu']}, {about['finished']}.", ""]
    for dataset, rows in summary.items():
        lines += [f"**{dataset}**", "", *figures_table(rows), ""]
    return "\n".join(lines + stages_table(records)) + "\n"


def timing_records(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "reports" / "timings").rglob("*.json"))]


def save(run: Path, to: Path, note: str) -> None:
    records = timing_records(run)
    to.mkdir(parents=True, exist_ok=True)
    (to / "summary.json").write_text((run / "reports" / "summary.json").read_text())
    kept = [{k: r.get(k) for k in ("command", "seconds", "peak_rss_mb")} for r in records]
    (to / "timings.json").write_text(json.dumps(kept, indent=1) + "\n")
    last = max(records, key=lambda r: r.get("finished") or "")
    about = {
        "note": note,
        "commit": last.get("commit") or "",
        "finished": last.get("finished"),
        "cpu": provenance.cpu_model(),
        "python": platform.python_version(),
    }
    (to / "run.json").write_text(json.dumps(about, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--save", type=Path, help="keep the run's tables' data in this folder (docs/runs/NAME)")
    parser.add_argument("--note", default="", help="with --save: how the run was made, one sentence")
    args = parser.parse_args()
    if args.save:
        save(args.run, args.save, args.note)
        return
    summary = json.loads((args.run / "reports" / "summary.json").read_text())
    dataset = args.dataset or next(iter(summary))
    print("\n".join([*figures_table(summary[dataset]), "", *stages_table(timing_records(args.run))]))


if __name__ == "__main__":
    main()
