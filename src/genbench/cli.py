"""`genbench <stage>`: one thin subcommand per pipeline stage.

Heavy libraries are imported inside the stage functions, so `genbench --help`
and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from genbench import runlog
from genbench.errors import ConfigError, GenbenchError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        args.stage(args)
        if args.records_run:
            runlog.record(_command_line(args), time.perf_counter() - started)
    except GenbenchError as e:
        print(f"genbench: error: {_one_line(str(e))}", file=sys.stderr)
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
    stages = parser.add_subparsers(title="stages", metavar="STAGE", required=True)

    def stage(name: str, handler, help: str, model: bool = False, dataset: bool = True, records_run: bool = True) -> None:
        sub = stages.add_parser(name, help=help, description=help)
        if dataset:
            sub.add_argument("--dataset", required=True, help="a name from params.yaml: datasets")
        if model:
            sub.add_argument("--model", required=True, help="a name from params.yaml: models")
        # records_run: a pipeline stage's run time goes into the report's provenance.
        sub.set_defaults(stage=handler, stage_name=name, records_run=records_run)

    stage("download", _download, "put a dataset's raw files into data/raw/<dataset>/")
    stage("preprocess", _preprocess, "split and scale a dataset into data/processed/<dataset>/")
    stage("train", _train, "train one model on one dataset", model=True)
    stage("sample", _sample, "draw images from one trained generative model", model=True)
    stage("evaluate", _evaluate, "evaluate one trained model against its dataset's test split", model=True)
    stage("references", _references, "score real training images and noise as generative models are scored")
    stage("report", _report, "render reports/index.html from every metrics file", dataset=False)
    stage("adopt", _adopt, "not a stage: copy outputs that link into Snakemake's cache into place, before `dvc commit`", dataset=False, records_run=False)
    return parser


def _command_line(args: argparse.Namespace) -> str:
    """The stage's command as dvc.yaml and the Snakefile spell it."""
    words = ["genbench", args.stage_name]
    for option in ("dataset", "model"):
        if getattr(args, option, None) is not None:
            words += [f"--{option}", getattr(args, option)]
    return " ".join(words)


def _load(args: argparse.Namespace):
    from genbench.config import load_params

    params = load_params(args.params)
    if getattr(args, "dataset", None) is not None and args.dataset not in params.datasets:
        raise ConfigError(f"--dataset {args.dataset!r}: not in {args.params} datasets ({', '.join(params.datasets)})")
    if getattr(args, "model", None) is not None:
        allowed = _models_for(args.stage, params)
        if args.model not in allowed:
            raise ConfigError(f"--model {args.model!r}: not one of {args.params}'s models for this stage ({', '.join(allowed)})")
    return params


def _models_for(stage, params) -> list[str]:
    if stage is _sample:
        return list(params.models.generative)
    return [*params.models.classic, "featurenet", *params.models.generative]


def _download(args: argparse.Namespace) -> None:
    from genbench import paths
    from genbench.data import download

    params = _load(args)
    download.run(args.dataset, paths.raw_dir(args.dataset), params.download)


def _preprocess(args: argparse.Namespace) -> None:
    from genbench import paths
    from genbench.data import preprocess

    params = _load(args)
    d = args.dataset
    preprocess.run(params, d, paths.raw_dir(d), paths.processed_data(d), paths.processed_meta(d))


def _train(args: argparse.Namespace) -> None:
    from genbench import paths

    params = _load(args)
    d, m = args.dataset, args.model
    if m in params.models.classic:
        from genbench.train import classic

        classic.run(params, m, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, m))
    else:
        from genbench.train import deep

        deep.run(
            params, d, m, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, m),
            paths.training_log_dir(d, m), paths.checkpoint_dir(d, m),
        )


def _sample(args: argparse.Namespace) -> None:
    from genbench import paths, sample

    params = _load(args)
    d, m = args.dataset, args.model
    sample.run(params, m, paths.model_dir(d, m), paths.processed_data(d), paths.processed_meta(d), paths.samples_dir(d, m))


def _evaluate(args: argparse.Namespace) -> None:
    from genbench import paths

    params = _load(args)
    d, m = args.dataset, args.model
    data, meta, model_dir, metrics = paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, m), paths.metrics_file(d, m)
    if m in params.models.generative:
        from genbench.evaluate import generative

        from genbench.data.sources import SOURCES

        generative.run(
            params, m, SOURCES[d].pixel_max, data, meta, paths.model_dir(d, "featurenet"), model_dir, paths.samples_dir(d, m), metrics,
            paths.projection_file(d, m),
        )
    elif m == "featurenet":
        from genbench.evaluate import featurenet

        featurenet.run(params, data, meta, model_dir, metrics, paths.predictions_file(d, m))
    else:
        from genbench.evaluate import classic

        classic.run(m, data, meta, model_dir, metrics, paths.predictions_file(d, m))


def _references(args: argparse.Namespace) -> None:
    from genbench import paths
    from genbench.evaluate import references

    params = _load(args)
    d = args.dataset
    references.run(params, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, "featurenet"), paths.references_file(d))


def _report(args: argparse.Namespace) -> None:
    from genbench import paths
    from genbench.report import build

    params = _load(args)
    build.run(params, args.params, paths.REPORT, paths.REPORT_FIGURES)


def _adopt(args: argparse.Namespace) -> None:
    from genbench import adopt

    copied = adopt.run()
    print(f"genbench: copied {len(copied)} cached output(s) into place; now run `dvc commit --force`")


if __name__ == "__main__":
    sys.exit(main())
