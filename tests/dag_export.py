"""Print the pipeline's DAG as DVC or Snakemake builds it, in one comparable JSON shape.

Run inside a repository: `python tests/dag_export.py dvc|snakemake`. The shape is
{"jobs": {command: {"deps": [...], "outs": [...]}}, "edges": [[upstream command, downstream command], ...]}.
Each job also lists the settings it reads, as normalised JSON values: DVC's `params:` keys looked
up in the validated params, and Snakemake's `params:` without the wildcards and library versions.
Equal lists mean Snakemake's between-workflow cache, which hashes `params:`, sees every setting
that DVC reruns a stage for.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def dvc_graph() -> dict:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    from genbench.config import canonical_json, load_params

    repo = Repo(".")
    stages = list(repo.index.stages)
    all_outs = {str(out.def_path) for stage in stages for out in stage.outs}

    def expand(dep: str) -> list[str]:
        # A dependency on a folder of other stages' outputs means those outputs (maybe none);
        # on a folder no stage writes (the user's own data), the files DVC hashes in it.
        if dep in all_outs or Path(dep).is_file():
            return [dep]
        inside = sorted(out for out in all_outs if out.startswith(dep.rstrip("/") + "/"))
        if inside or not Path(dep).is_dir():
            return inside or [dep]
        return sorted(str(p) for p in Path(dep).rglob("*") if p.is_file())

    params = load_params("params.yaml")

    def settings(stage) -> list[str]:
        keys = [key for d in stage.deps if isinstance(d, ParamsDependency) for key in (d.params or [None])]
        return sorted(canonical_json(params if key is None else params.section(key)) for key in keys)

    jobs = {}
    for stage in stages:
        deps = [p for d in stage.deps if not isinstance(d, ParamsDependency) for p in expand(str(d.def_path))]
        jobs[stage.cmd] = {
            "deps": sorted(deps),
            "outs": sorted(str(o.def_path) for o in stage.outs),
            "settings": settings(stage),
        }
    # DVC's own graph: an edge from each stage to every stage it depends on.
    edges = sorted([upstream.cmd, downstream.cmd] for downstream, upstream in repo.index.graph.edges)
    return {"jobs": jobs, "edges": edges}


NOT_SETTINGS = {"dataset", "model", "seed", "software"}  # wildcards (in the command too) and library versions


def snakemake_graph() -> dict:
    from genbench.reach import snakemake_dag

    jobs, edges = {}, []
    with snakemake_dag() as (dag_jobs, dependencies):
        for job in dag_jobs:
            settings = sorted(value for name, value in job.params.items() if name not in NOT_SETTINGS)
            jobs[job.shellcmd] = {
                "deps": sorted(map(str, job.input)),
                "outs": sorted(map(str, job.output)),
                "settings": settings,
            }
            edges += [[upstream.shellcmd, job.shellcmd] for upstream in dependencies[job]]
    return {"jobs": jobs, "edges": sorted(edges)}


if __name__ == "__main__":
    graph = {"dvc": dvc_graph, "snakemake": snakemake_graph}[sys.argv[1]]()
    json.dump(graph, sys.stdout, indent=1, sort_keys=True)
