"""Each stage's timing record: how long it ran, when, at which commit, and its own timings.

Wall-clock figures differ on every run, so they stay out of the outputs that later stages read
(a retrain that reproduces the same weights then reruns nothing downstream). Each stage writes
them to its own record under reports/timings/, an output of that stage that only the report reads:
a page, however it was restored, shows the timings of the runs that made its inputs.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from genbench import artifacts, git
from genbench.errors import DataError


def write(path: Path, command: str, seconds: float, figures: dict) -> None:
    state = git.head_state(ignored=("dvc.lock",))  # DVC rewrites dvc.lock during the very run
    artifacts.write_json(
        path,
        {
            "command": command,
            "seconds": seconds,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "commit": state["commit"],
            "uncommitted_changes": state["dirty"],
            "peak_rss_mb": peak_rss_mb(),
            "peak_gpu_mb": peak_gpu_mb(),
            **figures,
        },
    )


def peak_rss_mb() -> float:
    """The largest resident set of this process or any child it waited for (Linux reports KiB), in MiB:
    what `/usr/bin/time -v` calls the maximum resident set size."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def peak_gpu_mb() -> float | None:
    """The most GPU memory PyTorch's allocator held for this process's tensors, in MiB; None where the stage
    used no GPU. Looked up, never imported: a stage that did not import torch does not pay for it here."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def read(path: Path) -> dict:
    """One stage's record, checked."""
    record = artifacts.read_json(path)
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("command"), str)
        or not _is_seconds(record.get("seconds"))
    ):
        raise DataError(f"{path}: not a timing record (expected command and seconds); rerun the stage that makes it")
    return record


def _is_seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")
