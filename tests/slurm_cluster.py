"""A real one-node SLURM cluster on loopback: Debian's munge, slurmctld and slurmd, started directly
(there is no systemd) and stopped by PID, also when the test fails. Needs root; `make test` installs them.

The job-completion log records every job the cluster ran, which is how a test proves that
Snakemake's jobs went through sbatch.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# The executor plugin's job step drops SLURM_CONF, so the config must be at the default path.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_SOCKET_DIR = Path("/run/munge")
DAEMONS = ("munged", "slurmctld", "slurmd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(folder: Path, spool: Path) -> str:
    cpus = os.cpu_count() or 1
    memory = int(
        re.search(
            r"RealMemory=(\d+)", subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
        )[1]
    )
    return "\n".join(
        [
            "ClusterName=genbench-test",
            "SlurmctldHost=localhost(127.0.0.1)",
            # Ports of its own: daemons left over by a run that was killed cannot answer in its place.
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            # A requeued job waits this long before it may start again (default 120 s); it is also how long a job
            # step's credential lasts, so not much less.
            "AuthInfo=cred_expire=10",
            "SchedulerParameters=sched_interval=1,bf_interval=1",  # a requeued job starts as soon as it may
            # The cgroup plugins enforce memory limits that kill small jobs (each runs two Snakemake processes).
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            "MinJobAge=300",  # without slurmdbd, squeue is the plugin's status check: keep finished jobs visible
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={folder / 'jobcomp.log'}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={spool}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'slurmd.log'}",
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN",
            "PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@contextlib.contextmanager
def running(folder: Path) -> Iterator[Path]:
    """Start the cluster with its files in `folder`; yield the job-completion log."""
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    assert not missing, f"SLURM is not installed ({', '.join(missing)}); `make test` installs it (needs root)"
    (folder / "state").mkdir(parents=True, exist_ok=True)
    # slurmstepd makes a Unix socket per job step in the spool folder, and such a path may not exceed
    # 108 bytes: under a deep test folder, jobs from the tenth on could not start (and, requeueable, were held).
    spool = Path(tempfile.mkdtemp(prefix="slurmd-"))
    (folder / "slurm.conf").write_text(config(folder, spool))
    DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
    previous = DEFAULT_CONF.read_bytes() if DEFAULT_CONF.is_file() and not DEFAULT_CONF.is_symlink() else None
    DEFAULT_CONF.unlink(missing_ok=True)
    DEFAULT_CONF.symlink_to(folder / "slurm.conf")
    pids: list[int] = []
    try:
        pids.append(_start_munge())
        subprocess.run(["slurmctld"], check=True)
        pids.append(_read_pid(folder / "slurmctld.pid"))
        subprocess.run(["slurmd", "-N", "localhost"], check=True)
        pids.append(_read_pid(folder / "slurmd.pid"))
        _wait_until_idle(folder)
        yield folder / "jobcomp.log"
    finally:
        for pid in reversed(pids):
            _stop(pid)
        DEFAULT_CONF.unlink(missing_ok=True)
        if previous is not None:
            DEFAULT_CONF.write_bytes(previous)
        shutil.rmtree(spool, ignore_errors=True)


def _stop(pid: int, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if the daemon is still there after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def _start_munge() -> int:
    """munged runs as its own user, with its socket and PID file in a folder only it may write."""
    munge = pwd.getpwnam("munge")
    MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    os.chown(MUNGE_SOCKET_DIR, munge.pw_uid, munge.pw_gid)
    MUNGE_SOCKET_DIR.chmod(0o711)
    pid_file = MUNGE_SOCKET_DIR / "munged.pid"
    pid_file.unlink(missing_ok=True)
    subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True)
    return _read_pid(pid_file)


def _read_pid(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written within {timeout} s")


def _wait_until_idle(folder: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state == "idle":
            return
        time.sleep(0.2)
    raise AssertionError(f"the SLURM node did not become idle within {timeout} s; see {folder}/slurmd.log")


def state(folder: Path) -> str:
    """The queue and the end of the controller's log, for a failure message."""
    queue = subprocess.run(["squeue", "--states=all"], capture_output=True, text=True).stdout
    log = (folder / "slurmctld.log").read_text().splitlines()[-30:] if (folder / "slurmctld.log").exists() else []
    return "--- squeue\n" + queue + "--- slurmctld.log (end)\n" + "\n".join(log)


def completed_jobs(jobcomp_log: Path, workdir: Path) -> list[dict[str, str]]:
    """The jobs the cluster ran from `workdir`, as key=value fields of the job-completion log."""
    jobs = []
    for line in jobcomp_log.read_text().splitlines() if jobcomp_log.exists() else []:
        fields = dict(pair.split("=", 1) for pair in line.split() if "=" in pair)
        if fields.get("WorkDir") == str(workdir):
            jobs.append(fields)
    return jobs
