"""A finished run's figures and costs as Markdown tables: the models' figures from reports/summary.json,
what the tune stages chose from reports/tuning/, each stage's seconds and peak resident memory from
reports/timings/.

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
    "density": ("density", 1, 3),
    "coverage": ("coverage", 1, 3),
    "intra_class_fid": ("intra-class FID", 1, 2),
    "cas.svm.accuracy": ("CAS (SVM) %", 100, 2),
    "cas.xgboost.accuracy": ("CAS (XGBoost) %", 100, 2),
    "likelihood.bits_per_dim": ("NLL, bits/dim (the cnf's exact, the others' bounds)", 1, 3),
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


def tuning_table(studies: dict) -> list[str]:
    """Per tuned model: its budget and its validation accuracy as given and as chosen."""
    lines = [
        "| model | trials | as given, validation % | chosen, validation % | chosen |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for model, study in sorted(studies.items()):
        chosen = ", ".join(
            f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
            for key, value in study["chosen"].items()
        )
        given, best = 100 * study["given_value"], 100 * study["best_value"]
        lines.append(f"| {model} | {study['budget']} | {given:.2f} | {best:.2f} | {chosen} |")
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
    tuning = json.loads((saved / "tuning.json").read_text()) if (saved / "tuning.json").exists() else {}
    for dataset, rows in summary.items():
        lines += [f"**{dataset}**", "", *figures_table(rows), ""]
        if tuning.get(dataset):
            lines += ["Settings chosen by the tune stages, scored on the validation split:", ""]
            lines += [*tuning_table(tuning[dataset]), ""]
    return "\n".join(lines + stages_table(records)) + "\n"


def timing_records(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "reports" / "timings").rglob("*.json"))]


def tuning_records(run: Path) -> dict:
    """The studies that ran (a budget above 0), by dataset and model."""
    found: dict = {}
    for path in sorted((run / "reports" / "tuning").glob("*/*.json")):
        study = json.loads(path.read_text())
        if study["trials"]:
            found.setdefault(path.parent.name, {})[path.stem] = {
                k: study[k] for k in ("budget", "given_value", "best_value", "chosen")
            }
    return found


def save(run: Path, to: Path, note: str) -> None:
    records = timing_records(run)
    to.mkdir(parents=True, exist_ok=True)
    (to / "summary.json").write_text((run / "reports" / "summary.json").read_text())
    (to / "tuning.json").write_text(json.dumps(tuning_records(run), indent=1, sort_keys=True) + "\n")
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
