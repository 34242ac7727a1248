"""Shared fixtures: a throwaway copy of the repository in which DVC and Snakemake run for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = Path(__file__).resolve().parent / "params"
VENV_BIN = Path(sys.executable).parent
TRACING_BIN = Path(__file__).resolve().parent / "bin"  # a `genbench` that traces each run (tests/bin/genbench)


def pytest_configure(config) -> None:
    """One PyTorch thread in each test process: the xdist workers already share the two cores with the
    stages they start, and oversubscribed OpenMP threads spin against one another (a test that took
    6 s alone took 52 s in the suite so)."""
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items: list) -> None:
    """Each xdist worker starts on its share of the long tests (those marked `minutes`), so that no long
    test starts last while the other workers have run out of work. xdist's work stealing gives worker i
    the i-th contiguous share of this order, len // workers-left tests each, and later steals from a
    share's tail: each share is its long tests, longest first, then short ones."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    minutes = {item: mark.args[0] for item in items if (mark := item.get_closest_marker("minutes"))}
    short = [item for item in items if item not in minutes]
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    shares: list[list] = [[] for _ in sizes]
    for item in sorted(minutes, key=minutes.get, reverse=True):  # each to the share with the least work so far
        open_shares = [s for s in range(workers) if len(shares[s]) < sizes[s]]
        shares[min(open_shares, key=lambda s: sum(minutes[t] for t in shares[s]))].append(item)
    for share, size in zip(shares, sizes):
        room = size - len(share)
        share.extend(short[:room])
        del short[:room]
    ordered = [item for share in shares for item in share]
    assert sorted(ordered, key=id) == sorted(items, key=id), "the order must hold every test once"
    items[:] = ordered


@dataclass
class Workspace:
    """A git + DVC repository holding the project's files, with its own params.yaml."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def traces(self) -> Path:
        """Where tests/bin/genbench writes a trace of each stage run that ends well."""
        folder = self.root.parent / f"{self.root.name}-traces"
        folder.mkdir(exist_ok=True)
        return folder

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(TRACING_BIN), str(VENV_BIN), env.get("PATH", "")])
        env["GENBENCH_TRACE"] = str(self.traces)
        env["PYTHONPATH"] = str(self.root / "src")  # the copy's code, not the installed one
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["DVC_NO_ANALYTICS"] = "1"
        env.pop("CI", None)  # DVC behaves the same in and out of CI
        return env | self.extra_env

    def run(self, *cmd: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done

    def path(self, relative: str) -> Path:
        return self.root / relative

    def set_params(self, name_or_text: str) -> None:
        named = "\n" not in name_or_text and (PARAMS_DIR / name_or_text).exists()
        text = (PARAMS_DIR / name_or_text).read_text() if named else name_or_text
        self.path("params.yaml").write_text(text)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.path(relative)
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "--allow-empty", "-m", message)

    def dvc_repro(self, timeout: float = 600) -> list[str]:
        """Run `dvc repro`; return the names of the stages it executed."""
        out = self.run("dvc", "repro", timeout=timeout).stdout
        return [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")]

    def executed(self) -> list[dict]:
        """The stage runs since the last call, in no order: {"command", "read": [source files]} each."""
        runs = [json.loads(path.read_text()) for path in self.traces.glob("*.json")]
        shutil.rmtree(self.traces)
        return runs

    def snakemake_planned(self) -> list[str]:
        """Jobs a `snakemake -n` would run with the local profile (as the README runs Snakemake: its checksum limit
        lets a rewritten file with the same bytes rerun nothing), named as DVC names stages (rule@wildcard-values)."""
        done = self.run("snakemake", "-n", "--profile", "profiles/local", "--cores", "1")
        jobs = planned_jobs(done.stdout + done.stderr)
        if not jobs:  # an empty plan must be Snakemake's word, not a parser that matched nothing
            assert "Nothing to be done" in done.stdout + done.stderr, done.stdout + done.stderr
        return jobs


def assert_reads_declared(workspace: Workspace, runs: list[dict]) -> None:
    """Every genbench file each traced stage run loaded or opened is among that stage's declared
    dependencies, in DVC's graph and in Snakemake's (tests/dag_export.py)."""
    assert runs, "no stage ran"
    for runner in ("dvc", "snakemake"):
        jobs = json.loads(workspace.run("python", "tests/dag_export.py", runner).stdout)["jobs"]
        for run in runs:
            undeclared = sorted(set(run["read"]) - set(jobs[run["command"]]["deps"]))
            assert not undeclared, f"{runner}: `{run['command']}` read files its stage does not declare: {undeclared}"


AXES = ["dataset", "model", "seed"]


def planned_jobs(dry_run_output: str) -> list[str]:
    """Job names from the blocks of a Snakemake dry run ("rule train:" ... "wildcards: a=x, b=y")."""
    jobs: list[list[str]] = []
    for line in dry_run_output.splitlines():
        stripped = line.strip()
        if line.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            jobs.append([stripped.split()[1].rstrip(":"), ""])
        elif stripped.startswith("wildcards:") and jobs:
            values = dict(pair.strip().split("=", 1) for pair in stripped.removeprefix("wildcards:").split(","))
            # In the order of DVC's matrix, whatever order the paths name them in.
            jobs[-1][1] = "-".join(values[axis] for axis in sorted(values, key=AXES.index))
    return sorted(f"{rule}@{wildcards}" if wildcards else rule for rule, wildcards in jobs if rule != "all")


def copy_project(dest: Path) -> Path:
    """The project's tracked and not-ignored files, as a fresh git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if name == "dvc.lock":  # a local run's record; each test starts without one
            continue
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def new_workspace(root: Path) -> Workspace:
    """The project on the tiny params, committed to a fresh git repository."""
    ws = Workspace(copy_project(root))
    ws.set_params("tiny.yaml")
    ws.run("git", "init", "-q", "-b", "main")
    ws.run("git", "config", "user.email", "tests@genbench.invalid")
    ws.run("git", "config", "user.name", "genbench tests")
    ws.commit("project at test start")
    return ws


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return new_workspace(tmp_path / "repo")


@dataclass(frozen=True)
class FinishedRun:
    """A workspace after one `dvc repro` of the tiny params, and what that run did."""

    root: Path
    ran: list[str]  # the stages dvc repro ran
    executed: list[dict]  # their traces (Workspace.executed)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, worker_id: str) -> FinishedRun:
    """The tiny pipeline run by `dvc repro` once per test session, for the tests that start from its
    outputs; the xdist workers share it through a file lock (the first to ask runs it)."""
    from filelock import FileLock

    session = tmp_path_factory.getbasetemp()
    shared = session if worker_id == "master" else session.parent  # the workers' folders share a parent
    record = shared / "tiny-run" / "run.json"
    with FileLock(str(shared / "tiny-run.lock")):
        if not record.exists():
            ws = new_workspace(record.parent / "repo")
            ran = ws.dvc_repro()
            record.write_text(json.dumps({"ran": ran, "executed": ws.executed()}))
    done = json.loads(record.read_text())
    return FinishedRun(record.parent / "repo", done["ran"], done["executed"])


@pytest.fixture
def finished_workspace(tiny_run: FinishedRun, tmp_path: Path) -> Workspace:
    """A copy of the tiny run's workspace, its outputs, dvc.lock, DVC cache and git history, for one test to change."""
    shutil.copytree(tiny_run.root, tmp_path / "finished", symlinks=True)
    return Workspace(tmp_path / "finished")
