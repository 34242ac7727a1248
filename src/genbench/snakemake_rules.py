"""What the Snakefile's rules are made of: each group of the spec (pipeline.py) in Snakemake's terms.

Every setting a rule reads is in its `params:`, normalised (5 and 5.0 are one value), with every
wildcard and the versions of the libraries it computes with, and every source file it runs is an
input: Snakemake's reruns and its between-workflow cache then follow content, not only file times.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from genbench import code_deps, params_check, pipeline
from genbench.config import Params, canonical_json, load_params

CAPTIONS = Path("src/genbench/report/captions")  # Snakemake's report captions, relative to the Snakefile
# The between-workflow cache (--cache) hashes a job's command, params, input files and upstream jobs,
# but not the software environment unless it comes from conda or a container: as a param of every
# cached rule, an upgrade cannot be served a result computed by the old version.
COMPUTE_LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "xgboost-cpu",
    "torch",
    "torchmetrics",
    "safetensors",
    "skops",
    "dvclive",
    "pillow",
    "matplotlib",
)


class Rules:
    groups = pipeline.GROUPS

    def __init__(self, params_path: str = "params.yaml"):
        params_check.check(params_path)  # the whole file, before any job is planned
        self.params: Params = load_params(params_path)
        self.software = canonical_json(installed_versions(COMPUTE_LIBRARIES))

    @property
    def dataset_pattern(self) -> str:
        return one_of(self.params.datasets)

    def constraints(self, group: pipeline.Group) -> dict:
        found = {"model": one_of(getattr(self.params.models, group.model_list))} if group.model_list else {}
        if group.per_seed:
            found["seed"] = one_of([str(seed) for seed in self.params.seeds])
        return found

    def inputs(self, group: pipeline.Group) -> dict:
        found = {"code": code_deps.group_files(group)}
        if group.sources:
            # Every file, so that an edited or added one reruns the job (a folder's time changes only when its
            # own entries do); the same files DVC hashes.
            found["sources"] = sorted(
                str(p) for folder in group.sources for p in Path(folder).rglob("*") if p.is_file()
            )
        if group.inputs:
            found["data"] = [self.fill_values(i.path) for i in group.inputs]
        if group.gathers:
            found["gathered"] = [path for folder in group.gathers for path in pipeline.gathered(folder, self.params)]
        return found

    def fill_values(self, path: str) -> str:
        """A path with the values params.yaml gives in place (the feature space's replicate); wildcards stay."""
        return path.replace(pipeline.FEATURE_SEED, str(self.params.evaluate.feature_seed))

    def outputs(self, group: pipeline.Group, directory, report, update) -> dict:
        """Named outputs; `directory`, `report` and `update` are Snakemake's own flags."""
        named = {}
        for out in group.all_outputs:
            path = directory(out.path) if out.folder else out.path
            if out.persist:
                # Snakemake removes a job's outputs before it runs, unless they are to be updated: so it keeps
                # files placed by hand (DVC's persist), and puts them back if the job fails.
                path = update(path)
            if out.snakemake_report:
                options = dict(out.snakemake_report, caption=str(CAPTIONS / out.snakemake_report["caption"]))
                path = report(path, **options)
            named[out.name] = path
        return named

    def settings(self, group: pipeline.Group) -> dict:
        """The rule's params: wildcards, library versions and the normalised value of every key it reads."""
        found = {axis: "{" + axis + "}" for axis in group.axes}
        if group.whole_params:
            return found | {"settings": canonical_json(self.params)}
        if group.cache:
            found["software"] = self.software
        for key in group.params:
            name = key.replace(".", "_").replace(pipeline.M, "model")
            if pipeline.M in key:
                found[name] = lambda wildcards, key=key: self.setting(key.replace(pipeline.M, wildcards.model))
            else:
                found[name] = self.setting(key)
        return found

    def setting(self, dotted_key: str) -> str:
        return canonical_json(self.params.section(dotted_key))

    def resources(self, group: pipeline.Group) -> dict:
        """What a job asks a cluster scheduler for (params.yaml: resources). Deep jobs also ask for a GPU
        per process unless they are told to run on the CPU: SLURM gives them, and locally
        `--resources gpu=K` runs at most K at once (gpus.py gives each its own). A training job of
        several processes asks SLURM for that many tasks and runs in the batch step (`mpi`), from which
        `genbench train` starts its ranks with srun."""
        asked = getattr(self.params.resources, group.resources).model_dump()
        if group.resources == "deep":
            processes = self.processes(group)
            asked["gpu"] = 0 if self.params.train.device == "cpu" else processes
            asked["cpus_per_task"] = self.params.train.threads
            if processes > 1:
                asked |= {"tasks": processes, "mpi": "srun"}
                if asked["gpu"]:
                    asked["tasks_per_gpu"] = 1  # else the SLURM executor asks for `tasks` tasks per GPU
        return asked

    def processes(self, group: pipeline.Group) -> int:
        return self.params.train.processes if group.command == "train" and group.resources == "deep" else 1

    def threads(self, group: pipeline.Group) -> int:
        """The cores a job takes on the machine that runs it."""
        return self.params.train.threads * self.processes(group) if group.resources == "deep" else 1

    @staticmethod
    def shell(group: pipeline.Group) -> str:
        return (
            group.shell.replace(pipeline.D, "{params.dataset}")
            .replace(pipeline.M, "{params.model}")
            .replace(pipeline.S, "{params.seed}")
        )


def one_of(names: list[str]) -> str:
    return "|".join(names) if names else "(?!)"  # an empty list matches nothing


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions
