"""`genbench <stage>`: one thin subcommand per pipeline stage.

Each stage's code is loaded by name from the module in STAGES, so a stage imports only
what it runs (pipeline.py derives each stage's source files from that module's imports),
and `genbench --help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from genbench.errors import ConfigError, GenbenchError, Preempted

# Command -> {kind of model it is given -> the module whose stage(params, job) runs it}.
# A kind is "classic", "featurenet" or "generative"; None for commands without --model.
STAGES: dict[str, dict[str | None, str]] = {
    "download": {None: "genbench.data.download"},
    "preprocess": {None: "genbench.data.preprocess"},
    "train": {"classic": "genbench.train.classic", "featurenet": "genbench.train.deep", "generative": "genbench.train.deep"},
    "sample": {"generative": "genbench.sample"},
    "evaluate": {"classic": "genbench.evaluate.classic", "featurenet": "genbench.evaluate.featurenet", "generative": "genbench.evaluate.generative"},
    "references": {None: "genbench.evaluate.references"},
    "cas": {"generative": "genbench.evaluate.cas"},
    "report": {None: "genbench.report.build"},
}
# Commands that are not pipeline stages: the module whose command(args) runs it.
TOOLS = {"dag": "genbench.dag", "adopt": "genbench.adopt"}
UNTIMED = {"report"}  # every other stage writes a timing record, which the report reads
SEEDED = {"train", "sample", "evaluate", "cas"}  # run once per training replicate: --seed
DEEP_KINDS = {"featurenet", "generative"}  # trained by the shared loop, on one process or several (train.processes)


@dataclass(frozen=True)
class Job:
    """One stage run, as its command line names it."""

    command: str
    dataset: str | None
    model: str | None
    params_path: Path
    seed: int | None = None


def command_line(command: str, dataset: str | None, model: str | None, seed: int | str | None = None) -> str:
    """A stage's command as dvc.yaml and the Snakefile spell it."""
    words = ["genbench", command]
    for option, value in (("dataset", dataset), ("model", model), ("seed", seed)):
        if value is not None:
            words += [f"--{option}", str(value)]
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    main_rank = True
    try:
        if args.command in TOOLS:
            return importlib.import_module(TOOLS[args.command]).command(args) or 0
        job = Job(args.command, getattr(args, "dataset", None), getattr(args, "model", None), args.params, getattr(args, "seed", None))
        params = _load(job)
        kind = model_kind(params, job.model)
        if job.command == "train" and kind in DEEP_KINDS:
            from genbench.train import distributed

            if distributed.must_launch(params.train.processes):  # the ranks it starts write the outputs and the timing record
                return distributed.launch(params.train.processes, sys.argv[1:] if argv is None else argv)
            main_rank = distributed.current().is_main
        figures = importlib.import_module(STAGES[job.command][kind]).stage(params, job) or {}
        if job.command not in UNTIMED and main_rank:
            from genbench import gpus, paths, timings

            timings.write(
                paths.timing_file(job.command, job.dataset, job.model, job.seed),
                command_line(job.command, job.dataset, job.model, job.seed), time.perf_counter() - started, figures | gpus.record(),
            )
    except GenbenchError as e:
        if main_rank:  # every rank meets the same error; one says it
            print(f"genbench: error: {_one_line(str(e))}", file=sys.stderr)
            if isinstance(e, Preempted):
                from genbench.train import preemption

                preemption.requeue_if_time_is_up(e.signal_name)
        return e.exit_code
    except KeyboardInterrupt:
        print("genbench: interrupted", file=sys.stderr)
        return 130
    return 0


def _one_line(message: str) -> str:
    """Control characters from keys, values or file names, escaped: the message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genbench", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameters file (default: params.yaml)")
    commands = parser.add_subparsers(title="stages", metavar="STAGE", required=True, dest="command")

    def stage(name: str, help: str, dataset: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        if dataset:
            sub.add_argument("--dataset", required=True, help="a name from params.yaml: datasets")
        if set(STAGES.get(name, {})) - {None}:
            sub.add_argument("--model", required=True, help="a name from params.yaml: models")
        if name in SEEDED:
            sub.add_argument("--seed", required=True, type=int, help="a training replicate from params.yaml: seeds")
        return sub

    stage("download", "put a dataset's raw files into data/raw/<dataset>/")
    stage("preprocess", "split and scale a dataset into data/processed/<dataset>/")
    stage("train", "train one model on one dataset")
    stage("sample", "draw images from one trained generative model")
    stage("evaluate", "evaluate one trained model against its dataset's test split")
    stage("references", "score real training images and noise as generative models are scored")
    stage("cas", "classification accuracy score of the class-conditional models' samples, and of real images")
    stage("report", "render reports/index.html from every metrics file", dataset=False)
    dag = stage("dag", "not a stage: write dvc.yaml from the pipeline's spec (src/genbench/pipeline.py)", dataset=False)
    dag.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the first difference if dvc.yaml is stale")
    stage("adopt", "not a stage: copy outputs that link into Snakemake's cache into place, before `dvc commit`", dataset=False)
    return parser


def _load(job: Job):
    from genbench.config import load_params

    params = load_params(job.params_path)
    if job.dataset is not None and job.dataset not in params.datasets:
        raise ConfigError(f"--dataset {job.dataset!r}: not in {job.params_path} datasets ({', '.join(params.datasets)})")
    if job.model is not None:
        allowed = [m for kind in STAGES[job.command] for m in models_of_kind(params, kind)]
        if job.model not in allowed:
            raise ConfigError(f"--model {job.model!r}: not one of {job.params_path}'s models for this stage ({', '.join(allowed)})")
    if job.seed is not None and job.seed not in params.seeds:
        raise ConfigError(f"--seed {job.seed}: not in {job.params_path} seeds ({', '.join(map(str, params.seeds))})")
    return params


def models_of_kind(params, kind: str | None) -> list[str]:
    return {"classic": list(params.models.classic), "featurenet": ["featurenet"], "generative": list(params.models.generative)}.get(kind, [])


def model_kind(params, model: str | None) -> str | None:
    return next((kind for kind in ("classic", "featurenet", "generative") if model in models_of_kind(params, kind)), None)


if __name__ == "__main__":
    sys.exit(main())
