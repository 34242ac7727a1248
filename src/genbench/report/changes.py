"""What changed since the last committed run: DVC's own `dvc metrics diff` against git HEAD.

A change is flagged only when it is larger than half the width of the metric's 95% interval in
the current run (the metric's key + "_interval" in its file): smaller changes are within the noise.
"""

from __future__ import annotations

import json
from pathlib import Path

from genbench import paths
from genbench.git import git

NO_RUN_AT_HEAD = "git HEAD records no run of these metrics: commit dvc.lock after a run to compare later runs with it"


# The report's own summary of the seeds: the page shows those figures already, and the report
# stage rewrites the file while it renders.
OWN_OUTPUTS = (str(paths.SUMMARY),)


def since_head(head_commit: str | None) -> dict:
    """{"rows": [...], "note": ...}: the rows are the numbers `dvc metrics diff --json` gives for metrics HEAD also
    has."""
    if head_commit is None:
        return {"rows": [], "note": "no git commit to compare with"}
    if (
        git("cat-file", "-e", "HEAD:dvc.lock") is None
    ):  # nothing to compare with; saves DVC's few seconds of reading git
        return {"rows": [], "note": NO_RUN_AT_HEAD}
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc.scm import SCMError

    try:
        with Repo(".") as repo:
            diff = repo.metrics.diff(a_rev="HEAD")
    except (DvcException, SCMError) as error:
        return {"rows": [], "note": f"no previous run to compare with ({str(error).splitlines()[0]})"}
    changes = [
        {"file": path, "metric": metric, "old": change.get("old"), "new": change.get("new"), "diff": change.get("diff")}
        for path, metrics in sorted(diff.get("diff", {}).items())
        if path not in OWN_OUTPUTS
        for metric, change in sorted(metrics.items())
    ]
    rows = [
        row | {"beyond_interval": _beyond_interval(row)}
        for row in changes
        if row["old"] is not None and "_interval" not in row["metric"]
    ]
    if not changes:
        note = "no metric differs from the run recorded at git HEAD"
    elif not rows:
        note = NO_RUN_AT_HEAD
    else:
        new = len(changes) - len(rows)
        note = f"and {new} metrics that HEAD does not have" if new else ""
    return {"rows": rows, "note": note}


def _beyond_interval(row: dict) -> bool | None:
    """Whether the change exceeds half the current interval's width; None where the metric has no interval."""
    try:
        value = json.loads(Path(row["file"]).read_text(encoding="utf-8"))
        for part in (row["metric"] + "_interval").split("."):
            value = value[part]
        low, high = float(value[0]), float(value[1])
        return abs(float(row["diff"])) > (high - low) / 2
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
