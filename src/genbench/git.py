"""The state of the git repository the pipeline runs in, for provenance."""

from __future__ import annotations

import subprocess


def git(*args: str) -> str | None:
    """A git command's output; None where it fails or git is missing."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def head_state(ignored: tuple[str, ...] = ()) -> dict:
    """The commit at HEAD and the files that differ from it; None for both outside a repository."""
    commit = git("rev-parse", "--verify", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "changed": []}
    # Porcelain lines are "XY path": two status columns, a space, the path.
    changed = [line[3:] for line in (git("status", "--porcelain") or "").splitlines() if line[3:] not in ignored]
    return {"commit": commit.strip(), "dirty": bool(changed), "changed": changed}
