"""How long each stage's last successful run took, for the report's provenance table.

dvc.lock records each stage's hashes but not its duration, and the same commands also
run under Snakemake, so every `genbench <stage>` keeps its own record (not a pipeline output).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

RUN_LOG_DIR = Path(".genbench/runs")


def record(command: str, seconds: float) -> None:
    from genbench import artifacts

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", command)
    try:
        artifacts.write_json(RUN_LOG_DIR / f"{name}.json", {
            "command": command, "seconds": seconds, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    except OSError as error:  # a missing timing must not fail a stage whose outputs are written
        print(f"genbench: warning: {RUN_LOG_DIR}: run time not recorded ({error.strerror})", file=sys.stderr)


def read_all() -> dict[str, float]:
    """The last run time of each command, in seconds, by command line."""
    records = {}
    for path in sorted(RUN_LOG_DIR.glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            records[str(entry["command"])] = float(entry["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged record only loses a duration in the report
    return records
