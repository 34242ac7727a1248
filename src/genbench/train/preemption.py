"""Stopping a training run on a signal, at a step boundary, with its checkpoint saved.

SIGTERM is what SLURM sends a job it preempts, requeues (`scontrol requeue`) or cancels, and what
`kill` sends; SIGUSR1 is what profiles/slurm asks SLURM to send ahead of the time limit. Either makes
the loop finish its step, write its checkpoint and raise Preempted: the stage exits with
REQUEUE_EXIT_CODE. A signal that comes while the checkpoint is being written waits for the write to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from genbench.errors import REQUEUE_EXIT_CODE, GenbenchError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(GenbenchError):
    """Training stopped on a signal after saving its checkpoint; rerunning the stage resumes from it."""

    exit_code = REQUEUE_EXIT_CODE

    def __init__(self, message: str, signal_name: str):
        self.signal_name = signal_name
        super().__init__(message)

    def after_reporting(self) -> None:
        requeue_if_time_is_up(self.signal_name)


class StopRequests:
    """While entered, the stop signals only record that they came."""

    def __init__(self):
        self.received: signal.Signals | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():  # Python allows handlers there only
            self._previous = {sig: signal.signal(sig, self._record) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _record(self, signum: int, frame) -> None:
        self.received = self.received or signal.Signals(signum)


def requeue_if_time_is_up(signal_name: str) -> None:
    """SIGUSR1 in a SLURM job means its time limit is near: put the job back in the queue, to resume
    from the checkpoint just written. After SIGTERM SLURM itself decides: a preempted or `scontrol
    requeue`d job comes back, a cancelled one does not. Called after the stage has said why it
    stopped, since the requeue ends the job and its log."""
    job = os.environ.get("SLURM_JOB_ID")
    if signal_name != "SIGUSR1" or not job:
        return
    done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if done.returncode != 0:
        print(
            f"genbench: scontrol requeue {job} failed ({done.stderr.strip()}); submit the job again to resume",
            file=sys.stderr,
        )
