"""`genbench reach FILE...`: the stages of the DAG an edit to each file reruns, as DVC or Snakemake sees them.

A stage reruns when a file it depends on changes: its source files (the import closure of its
code), its data inputs and the folders it reads. This reads the runners' own graphs, dvc.yaml
through DVC and the Snakefile through Snakemake, not the spec they are made from, so it answers for
the runner you use. Stages downstream rerun only when the outputs of these change (DVC compares
their content; Snakemake their checksums where it stored them).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

AXES = ("dataset", "model", "seed")


def command(args) -> int:
    deps = stage_dependencies(args.runner)
    for file in args.files:
        reached = reach(deps, file)
        print(f"{file}: {len(reached)} of {len(deps)} stages ({args.runner})")
        for stage in reached:
            print(f"  {stage}")
    return 0


def reach(deps: dict[str, list[str]], file: Path | str) -> list[str]:
    """The stages that depend on `file` (a path relative to the repository root), directly or through a folder."""
    path = Path(file).as_posix()
    return sorted(
        stage
        for stage, files in deps.items()
        if any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in files)
    )


def stage_dependencies(runner: str) -> dict[str, list[str]]:
    """{stage named as DVC names it: the files and folders it depends on} in the runner's own graph."""
    return {"dvc": _dvc, "snakemake": _snakemake}[runner]()


def _dvc() -> dict[str, list[str]]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(".") as repo:
        return {
            stage.name: [str(d.def_path) for d in stage.deps if not isinstance(d, ParamsDependency)]
            for stage in repo.index.stages
        }


def _snakemake() -> dict[str, list[str]]:
    found = {}
    with snakemake_dag() as (jobs, _):
        for job in jobs:
            axes = "-".join(str(job.wildcards[axis]) for axis in AXES if axis in job.wildcards.keys())
            found[f"{job.rule.name}@{axes}" if axes else job.rule.name] = sorted(map(str, job.input))
    return found


@contextlib.contextmanager
def snakemake_dag():
    """The jobs of the DAG Snakemake builds from the Snakefile (every one, as with --forceall; its rule `all` left
    out), and each job's upstream jobs."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"), workdir=Path(".")
        )
        workflow_api.dag(dag_settings=DAGSettings(forceall=True))
        # Snakemake's public API prints a DAG as dot text only; read the jobs it builds instead.
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        yield [job for job in workflow.dag.jobs if job.rule.name != "all"], workflow.dag.dependencies
