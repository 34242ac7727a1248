"""One GPU per process for local jobs that run side by side.

`snakemake --cores N --resources gpu=K` runs at most K GPU jobs at once but does not say which GPU
each gets. So a process about to use CUDA claims one GPU of the pool, CUDA_VISIBLE_DEVICES as it was
given (else every GPU nvidia-smi lists), by locking that GPU's file in LOCK_DIR, and from then on
sees only that GPU. The lock goes when the process ends, however it ends. Under SLURM, which gives
each job its own GPUs, nothing is claimed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_DIR = Path(os.environ.get("GENBENCH_GPU_LOCKS", Path(tempfile.gettempdir()) / "genbench-gpu-locks"))
_held: dict = {}  # the claimed GPU's lock, kept open for the life of the process


def pool() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [device.strip() for device in visible.split(",") if device.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    listed = subprocess.run(
        ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True
    )
    return listed.stdout.split() if listed.returncode == 0 else []


def claim(poll_seconds: float = 0.2) -> str | None:
    """Claim a free GPU of the pool, waiting while all are held; None without a pool or under SLURM.
    Call it before anything starts CUDA, which reads CUDA_VISIBLE_DEVICES once."""
    if _held or "SLURM_JOB_ID" in os.environ:
        return _held.get("gpu")
    devices = pool()
    if not devices:
        return None
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    waiting_said = False
    while True:
        for device in devices:
            lock = FileLock(LOCK_DIR / f"gpu-{device}.lock", thread_local=False)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            _held.update(gpu=device, lock=lock, claimed_at=time.time())
            os.environ["CUDA_VISIBLE_DEVICES"] = device
            return device
        if not waiting_said:
            print(
                f"genbench: waiting for a free GPU of {','.join(devices)} (each held by another genbench process)",
                file=sys.stderr,
            )
            waiting_said = True
        time.sleep(poll_seconds)


def record() -> dict:
    """The claimed GPU and when, for the stage's timing record."""
    return {"gpu": _held["gpu"], "gpu_claimed_at": _held["claimed_at"]} if _held else {}
