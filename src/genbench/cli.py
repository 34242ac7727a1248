"""`genbench <stage>`: one thin subcommand per pipeline stage, built from the spec (pipeline.py).

A stage imports only what it runs: its module is loaded by name from the spec's group, and a
model's module by its name, so pipeline.py derives each stage's source files from the imports of
this module and of those. The whole params file is checked first (genbench/params_check.py), in a way
that adds nothing to them. `genbench --help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from genbench import pipeline
from genbench.errors import ConfigError, GenbenchError

# Commands that are not pipeline stages: the module whose command(args) runs it.
TOOLS = {
    "dag": ("genbench.dag", "not a stage: write dvc.yaml from the pipeline's spec (src/genbench/pipeline.py)"),
    "adopt": (
        "genbench.adopt",
        "not a stage: copy outputs that link into Snakemake's cache into place, before `dvc commit`",
    ),
    "reach": ("genbench.reach", "not a stage: the stages of the DAG an edit to a file reruns, for both runners"),
    "generate": ("genbench.generate", "not a stage: images for a text prompt from a trained model, as a PNG grid"),
}
PARAMS_CHECK = "genbench.params_check"  # loaded by name: see check_params


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(words)
    started = time.perf_counter()
    try:
        if args.command in TOOLS:
            return importlib.import_module(TOOLS[args.command][0]).command(args) or 0
        check_params(args.params)
        params = _load(args)
        # The stage's files, as the spec declares them: the stage asks for each by name.
        io = pipeline.Stage(
            _group(args), args.dataset, args.model, args.seed, params.evaluate.feature_seed, args.params, tuple(words)
        )
        result = importlib.import_module(io.group.entry).stage(params, io)
        if isinstance(result, int):  # run by other processes, which wrote its timing record
            return result
        if io.timing:
            from genbench import timings

            command = pipeline.command_line(args.command, args.dataset, args.model, args.seed)
            timings.write(Path(io.timing), command, time.perf_counter() - started, result or {})
    except GenbenchError as e:
        if not e.quiet:
            print(f"genbench: error: {_one_line(str(e))}", file=sys.stderr)
            e.after_reporting()
        return e.exit_code
    except KeyboardInterrupt:
        print("genbench: interrupted", file=sys.stderr)
        return 130
    return 0


def check_params(path: Path) -> None:
    """The whole params file against every registered model and dataset (genbench/params_check.py).

    Its verdict only stops a stage; it never changes what the stage computes. So none of the code it
    runs is one of the stage's source files: it is loaded by name, between two audit events (the
    tests' trace of what a stage reads leaves out what is opened between them), and the genbench
    modules it imports are forgotten afterwards, so that what the stage then loads is what it runs."""
    before = set(sys.modules)
    sys.audit("genbench.params_check", "begin")
    try:
        importlib.import_module(PARAMS_CHECK).check(path)
    finally:
        for name in set(sys.modules) - before:
            if name.split(".")[0] == "genbench":
                del sys.modules[name]
        sys.audit("genbench.params_check", "end")


def _one_line(message: str) -> str:
    """Control characters from keys, values or file names, escaped: the message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genbench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="parameters file (default: params.yaml)"
    )
    parser.set_defaults(dataset=None, model=None, seed=None)  # what a command without these options names
    commands = parser.add_subparsers(title="stages", metavar="STAGE", required=True, dest="command")
    for command, help in pipeline.COMMANDS.items():
        groups = [g for g in pipeline.GROUPS if g.command == command]
        sub = commands.add_parser(command, help=help, description=help)
        if any(g.per_dataset for g in groups):
            sub.add_argument("--dataset", required=True, help="a name from params.yaml: datasets")
        if any(g.kind for g in groups):
            sub.add_argument("--model", required=True, help="a name from params.yaml: models")
        if any(g.per_seed for g in groups):
            sub.add_argument("--seed", required=True, type=int, help="a training replicate from params.yaml: seeds")
    for command, (_, help) in TOOLS.items():
        tool = commands.add_parser(command, help=help, description=help)
        if command == "dag":
            tool.add_argument(
                "--check",
                action="store_true",
                help="write nothing; exit 1 naming the first difference if dvc.yaml is stale",
            )
        if command == "generate":  # its arguments here: importing its module would make it every stage's source
            tool.add_argument("--dataset", required=True, help="a name from params.yaml: datasets")
            tool.add_argument("--model", required=True, help="a generative model that follows prompts (ldm)")
            tool.add_argument("--seed", required=True, type=int, help="the training replicate; seeds the noise too")
            tool.add_argument("--prompt", required=True, help="for example 'a thick seven slanted left'")
            tool.add_argument("--n", type=int, default=16, help="images, 1 to 1024 (default: 16)")
            tool.add_argument("--out", type=Path, help="the PNG (default: reports/generated/<dataset>-<model>.png)")
        if command == "reach":
            tool.add_argument(
                "files", nargs="+", type=Path, help="files of the repository, such as src/genbench/train/loop.py"
            )
            tool.add_argument(
                "--runner", choices=("dvc", "snakemake"), default="dvc", help="whose graph to read (default: dvc)"
            )
    return parser


def _load(args: argparse.Namespace):
    from genbench.config import load_params

    params = load_params(args.params)
    if args.dataset is not None and args.dataset not in params.datasets:
        raise ConfigError(f"--dataset {args.dataset!r}: not in {args.params} datasets ({', '.join(params.datasets)})")
    if args.model is not None:
        allowed = [
            model for group in pipeline.GROUPS if group.command == args.command for model in _models(params, group)
        ]
        if args.model not in allowed:
            raise ConfigError(
                f"--model {args.model!r}: not one of {args.params}'s models for this stage ({', '.join(allowed)})"
            )
    if args.seed is not None and args.seed not in params.seeds:
        raise ConfigError(f"--seed {args.seed}: not in {args.params} seeds ({', '.join(map(str, params.seeds))})")
    return params


def _models(params, group: pipeline.Group) -> list[str]:
    return [group.model] if group.model else list(getattr(params.models, group.model_list)) if group.model_list else []


def _group(args: argparse.Namespace) -> pipeline.Group:
    """The spec's group that runs this command: where a command has a group per kind of model, the one of the
    model's kind."""
    groups = [g for g in pipeline.GROUPS if g.command == args.command]
    if len(groups) == 1:
        return groups[0]
    # The model's own module, by name (each of these groups loads it too): its KIND picks the group.
    kind = importlib.import_module(f"genbench.models.{args.model}").KIND.value
    return next(g for g in groups if g.kind == kind)


if __name__ == "__main__":
    sys.exit(main())
