"""The pipeline's spec: each stage group declared once.

A group is a `genbench` command run over axes (every dataset in params.yaml; for model
groups every model of one list; for replicated groups every seed of `seeds`), with the params
keys it reads, its data inputs and its outputs. Paths and keys carry {dataset}, {model} and
{seed} where the axes go, and {feature_seed} where they name the featurenet replicate whose
features every comparison uses (evaluate.feature_seed). From here:

- `genbench dag` writes dvc.yaml (genbench/dag.py), with DVC's own matrix over the params lists;
- the Snakefile defines one rule per group (genbench/snakemake_rules.py);
- tests/test_dag.py proves the two runners build the same jobs, files, settings and edges.

A group's source files are derived, never typed (code_deps.py: group_files): the import closure
of the command-line module, of the module the group runs (`entry`) and of the modules it loads by
name (`loads`). The command line (genbench/cli.py) is built from the groups too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genbench import paths

if TYPE_CHECKING:
    from genbench.config import Params

D, M, S = "{dataset}", "{model}", "{seed}"
FEATURE_SEED = "{feature_seed}"  # a value of params.yaml (evaluate.feature_seed), not an axis
# Commands whose stages write no timing record: the report reads them all.
UNTIMED = {"report"}
# Each command's help in `genbench --help`.
COMMANDS = {
    "download": "put a dataset's raw files into data/raw/<dataset>/",
    "pretrained": "put the feature spaces' network weights into data/pretrained/",
    "preprocess": "split and scale a dataset into data/processed/<dataset>/",
    "tune": "choose one model's settings on the validation split, with the budget every model gets",
    "train": "train one model on one dataset",
    "sample": "draw images from one trained generative model",
    "evaluate": "evaluate one trained model against its dataset's test split",
    "references": "score real training images and noise as generative models are scored",
    "cas": "classification accuracy score of the class-conditional models' samples, and of real images",
    "report": "render reports/index.html from every metrics file",
}


@dataclass(frozen=True)
class In:
    path: str
    name: str  # how the stage asks for it: io.input(name)


@dataclass(frozen=True)
class Out:
    path: str
    name: str  # how the stage asks for it (io.output(name)) and the Snakefile names it (to be cached)
    kind: str = "outs"  # how dvc.yaml lists it: outs, metrics or plots
    folder: bool = False
    persist: bool = False  # kept by DVC when the stage reruns (files placed by hand)
    plot: dict = field(default_factory=dict)  # DVC's plot options
    snakemake_report: dict = field(default_factory=dict)  # Snakemake's report() options; empty: not in its report


@dataclass(frozen=True)
class Group:
    name: str
    command: str  # the genbench subcommand
    entry: str  # the module whose stage(params, io) runs it
    doc: str
    models: str | None = None  # "classic" or "generative": the kind of model on the model axis
    listed_in: str | None = None  # the axis's params list (models.<this>) where it is not the kind's own list
    model: str | None = None  # a fixed model the command names (featurenet's groups)
    per_dataset: bool = True
    per_seed: bool = False  # one stage per training replicate (params.yaml: seeds)
    params: tuple[str, ...] = ()  # keys in params.yaml; () with whole_params: the whole file
    whole_params: bool = False
    inputs: tuple[In, ...] = ()  # files and folders made by other groups
    sources: tuple[str, ...] = ()  # folders the user fills: DVC hashes each, Snakemake lists its files as inputs
    gathers: tuple[str, ...] = ()  # folders: every output of the current DAG inside them
    outputs: tuple[Out, ...] = ()
    loads: tuple[str, ...] = ()  # modules loaded by a computed name; ".*": a whole package
    cache: bool = True  # in Snakemake's between-workflow cache
    resources: str = "light"  # params.yaml: resources.<this>

    @property
    def kind(self) -> str | None:
        """The kind of model (models.base.Kind's value) the command dispatches on to this group; None without one."""
        return self.models or ("classifier" if self.model else None)

    @property
    def model_list(self) -> str | None:
        """The params list (models.<this>) of its model axis; None without one."""
        return self.listed_in or self.models

    @property
    def axes(self) -> tuple[str, ...]:
        return (
            (("dataset",) if self.per_dataset else ())
            + (("model",) if self.models else ())
            + (("seed",) if self.per_seed else ())
        )

    @property
    def names(self) -> tuple[str | None, str | None, str | None]:
        """The dataset, model and seed its command names, {dataset}, {model} and {seed} where they vary."""
        return (
            (D if self.per_dataset else None),
            self.model or (M if self.models else None),
            (S if self.per_seed else None),
        )

    @property
    def shell(self) -> str:
        return command_line(self.command, *self.names)

    @property
    def timing(self) -> str | None:
        """Where the stage's timing record goes (genbench/timings.py); None for the report, which reads them."""
        return None if self.command in UNTIMED else str(paths.timing_file(self.command, *self.names))

    @property
    def all_outputs(self) -> tuple[Out, ...]:
        """The declared outputs and the timing record."""
        return self.outputs + ((Out(self.timing, "timing"),) if self.timing else ())


def command_line(command: str, dataset: str | None, model: str | None, seed: int | str | None = None) -> str:
    """A stage's command as dvc.yaml and the Snakefile spell it."""
    words = ["genbench", command]
    for option, value in (("dataset", dataset), ("model", model), ("seed", seed)):
        if value is not None:
            words += [f"--{option}", str(value)]
    return " ".join(words)


def _deep_model_outputs(model: str) -> tuple[Out, ...]:
    folder = paths.model_dir(D, model, S)
    # Separate files, not one folder: Snakemake compares files by checksum, so a retrain that gives the
    # same bytes does not rerun what reads them.
    return (
        Out(str(folder / paths.WEIGHTS), "weights"),
        Out(str(folder / paths.MODEL_CONFIG), "config"),
        Out(str(folder / paths.TRAIN_INFO), "train_info"),
        Out(str(paths.training_log_dir(D, model, S) / "metrics.json"), "summary", kind="metrics"),
        Out(
            str(paths.training_log_dir(D, model, S) / "plots" / "metrics"),
            "curves",
            kind="plots",
            folder=True,
            plot={"x": "step"},
        ),
    )


def _classifier_outputs(model: str) -> tuple[Out, ...]:
    return (
        Out(str(paths.metrics_file(D, model, S)), "metrics", kind="metrics"),
        Out(
            str(paths.predictions_file(D, model, S)),
            "predictions",
            kind="plots",
            plot={
                "template": "confusion",
                "x": "predicted",
                "y": "actual",
                "title": f"{model} on {D}, seed {S}, test split",
            },
        ),
    )


DATA = (In(str(paths.processed_data(D)), "data"), In(str(paths.processed_meta(D)), "meta"))
RUNTIME = ("train.device", "train.threads")  # deep stages' results depend on the device and the CPU thread count


def weights(model: str, seed: str = S, role: str = "") -> tuple[In, ...]:
    """A deep model's weights and config, named `<role>weights` and `<role>config`."""
    folder = paths.model_dir(D, model, seed)
    return In(str(folder / paths.WEIGHTS), f"{role}weights"), In(str(folder / paths.MODEL_CONFIG), f"{role}config")


def tuned(model: str) -> tuple[Out, ...]:
    """A tune stage's outputs: the settings training reads, and the study's record."""
    return Out(str(paths.tuned_settings(D, model)), "settings"), Out(str(paths.tuning_file(D, model)), "summary")


def samples(model: str) -> tuple[In, ...]:
    folder = paths.samples_dir(D, model, S)
    return In(str(folder / paths.SAMPLES), "samples"), In(str(folder / paths.SAMPLE_INFO), "sample_info")


# The models the DAG gives a role of their own, the one place outside their modules and the registry that names them.
# The classifier whose features every generative comparison uses (FID, KID, precision, recall):
FEATURE_SPACE = "featurenet"
# The feature spaces evaluate.feature_spaces may list, the featurenet first; the others are networks trained
# elsewhere, whose weights are a verified input (evaluate/spaces.py, evaluate/pretrained.py).
FEATURE_SPACES = (FEATURE_SPACE, "inception", "dinov2")
# The classic models the classification accuracy score fits, with the real baselines' params:
CAS_MODELS = ("svm", "xgboost")
FEATURES = weights(FEATURE_SPACE, FEATURE_SEED, role="feature_")
CAS_CODE = tuple(f"genbench.models.{model}" for model in CAS_MODELS)
CAS_PARAMS = tuple(f"classic.{model}" for model in CAS_MODELS)
PRETRAINED = In(str(paths.PRETRAINED), "pretrained")  # the feature spaces' weights beside the featurenet


GROUPS: tuple[Group, ...] = (
    Group(
        "download",
        "download",
        "genbench.data.download",
        "the dataset's raw files, verified by sha256 (files put there by hand are kept), or your own images read "
        "from data/own/",
        params=("download", "own_datasets"),
        sources=(str(paths.OWN_DATA),),
        outputs=(Out(str(paths.raw_dir(D)), "raw", folder=True, persist=True),),
        # Not in Snakemake's cache: raw files may be placed by hand, and a cached output is a link
        # into the shared cache, which such a file would then change for everyone.
        cache=False,
    ),
    Group(
        "pretrained",
        "pretrained",
        "genbench.evaluate.fetch_pretrained",
        "the weights of the feature spaces evaluate.feature_spaces adds to the featurenet, verified by sha256 (files "
        "put there by hand are kept)",
        per_dataset=False,
        params=("evaluate.feature_spaces", "download"),
        outputs=(Out(PRETRAINED.path, "pretrained", folder=True, persist=True),),
        # Not in Snakemake's cache, as the raw data: files may be placed by hand.
        cache=False,
    ),
    Group(
        "preprocess",
        "preprocess",
        "genbench.data.preprocess",
        "seeded stratified splits, pixels scaled to [0, 1]",
        params=("data",),
        inputs=(In(str(paths.raw_dir(D)), "raw"),),
        outputs=(Out(DATA[0].path, "data"), Out(DATA[1].path, "meta")),
    ),
    Group(
        "tune",
        "tune",
        "genbench.tune.classic",
        "the classic baselines' settings chosen by validation accuracy (Optuna, tune.trials each), or as given",
        models="classic",
        # The whole tune section: a study already run to its budget answers from its journal in seconds.
        params=(f"classic.{M}", "tune"),
        inputs=DATA,
        outputs=tuned(M),
        loads=(f"genbench.models.{M}",),
    ),
    Group(
        "train",
        "train",
        "genbench.train.classic",
        "the classic baselines on the flattened training split with their tuned settings, once per seed",
        models="classic",
        per_seed=True,
        inputs=(*DATA, In(str(paths.tuned_settings(D, M)), "settings")),
        outputs=(Out(str(paths.model_dir(D, M, S)), "model", folder=True),),
        loads=(f"genbench.models.{M}",),
    ),
    Group(
        "evaluate",
        "evaluate",
        "genbench.evaluate.classic",
        "the classic baselines on the test split, with intervals",
        models="classic",
        per_seed=True,
        params=("evaluate.bootstrap_resamples",),
        inputs=(*DATA, In(str(paths.model_dir(D, M, S)), "model")),
        outputs=(*_classifier_outputs(M), Out(str(paths.model_figures_file(D, M, S)), "figures")),
        loads=(f"genbench.models.{M}",),
    ),
    Group(
        "tune_featurenet",
        "tune",
        "genbench.tune.deep",
        "the deep classifier's settings chosen by validation accuracy (Optuna, tune.trials, pruned), or as given",
        model=FEATURE_SPACE,
        params=("train", FEATURE_SPACE, "tune"),
        inputs=DATA,
        outputs=tuned(FEATURE_SPACE),
        loads=(f"genbench.models.{FEATURE_SPACE}",),
        resources="deep",
    ),
    Group(
        "train_featurenet",
        "train",
        "genbench.train.deep",
        "the deep classifier with its tuned settings, once per seed; one replicate is the generative models' feature "
        "space",
        model=FEATURE_SPACE,
        per_seed=True,
        params=("train",),
        inputs=(*DATA, In(str(paths.tuned_settings(D, FEATURE_SPACE)), "settings")),
        outputs=_deep_model_outputs(FEATURE_SPACE),
        loads=(f"genbench.models.{FEATURE_SPACE}",),
        resources="deep",
    ),
    Group(
        "evaluate_featurenet",
        "evaluate",
        "genbench.evaluate.featurenet",
        "the deep classifier on the test split, with intervals",
        model=FEATURE_SPACE,
        per_seed=True,
        params=(*RUNTIME, "evaluate.bootstrap_resamples"),
        inputs=(*DATA, *weights(FEATURE_SPACE)),
        outputs=_classifier_outputs(FEATURE_SPACE),
        loads=(f"genbench.models.{FEATURE_SPACE}",),
        resources="deep",
    ),
    Group(
        "tune_generative",
        "tune",
        "genbench.tune.deep",
        "the generative models' settings chosen by validation FID in featurenet space (Optuna, tune.trials, "
        "pruned), or as given",
        models="generative",
        # The judge's images and sampler are the tune section's and the model's defaults, so that evaluate.* and
        # sampling.*, which never retrain a model, reach no tune either.
        params=("train", f"generative.{M}", "tune"),
        inputs=(*DATA, *FEATURES),
        outputs=tuned(M),
        loads=(f"genbench.models.{M}", f"genbench.models.{FEATURE_SPACE}"),
        resources="deep",
    ),
    Group(
        "train_generative",
        "train",
        "genbench.train.deep",
        "the generative models with their tuned settings, by the shared training loop, once per seed",
        models="generative",
        per_seed=True,
        params=("train",),
        inputs=(*DATA, In(str(paths.tuned_settings(D, M)), "settings")),
        outputs=_deep_model_outputs(M),
        loads=(f"genbench.models.{M}",),
        resources="deep",
    ),
    Group(
        "sample",
        "sample",
        "genbench.sample",
        "images drawn from each trained generative model, and the figures it shows of itself",
        # Conditional models draw the classes of the test images they are compared with (data.seed picks those).
        models="generative",
        per_seed=True,
        # generative.<model>: whether it is conditional (GenerativeParams.is_conditional).
        params=(*RUNTIME, "data.seed", "evaluate.n_samples", f"generative.{M}", f"sampling.{M}"),
        inputs=(*DATA, *weights(M)),
        outputs=(
            Out(str(paths.samples_dir(D, M, S) / paths.SAMPLES), "samples"),
            Out(str(paths.samples_dir(D, M, S) / paths.SAMPLE_INFO), "sample_info"),
            Out(str(paths.samples_dir(D, M, S) / paths.VIEWS), "views"),
        ),
        loads=(f"genbench.models.{M}",),
        resources="deep",
    ),
    Group(
        "evaluate_generative",
        "evaluate",
        "genbench.evaluate.generative",
        "FID, KID, precision and recall in featurenet space with intervals, class statistics, likelihood bounds",
        models="generative",
        per_seed=True,
        params=(*RUNTIME, "data.seed", "evaluate", f"sampling.{M}"),
        inputs=(*DATA, *FEATURES, *weights(M), *samples(M), PRETRAINED),
        outputs=(
            Out(str(paths.metrics_file(D, M, S)), "metrics", kind="metrics"),
            Out(str(paths.projection_file(D, M, S)), "projection"),
        ),
        loads=(f"genbench.models.{M}", f"genbench.models.{FEATURE_SPACE}"),
        resources="deep",
    ),
    Group(
        "evaluate_references",
        "references",
        "genbench.evaluate.references",
        "held-out real images and noise, scored like the generative models: the floor and the ceiling",
        # CAS's floor: the classifiers evaluate/cas.py trains (CAS_MODELS), with the real baselines' params.
        params=(*RUNTIME, "data.seed", "evaluate", *CAS_PARAMS),
        inputs=(*DATA, *FEATURES, PRETRAINED),
        outputs=(Out(str(paths.references_file(D)), "metrics", kind="metrics"),),
        loads=(f"genbench.models.{FEATURE_SPACE}", *CAS_CODE),
        resources="deep",
    ),
    Group(
        "cas",
        "cas",
        "genbench.evaluate.cas",
        "classification accuracy score of a class-conditional model's samples",
        # The classifiers evaluate/cas.py trains (CAS_MODELS), with the real baselines' params.
        models="generative",
        listed_in="cas",
        per_seed=True,
        params=CAS_PARAMS,
        inputs=(*DATA, *samples(M)),
        outputs=(Out(str(paths.cas_file(D, M, S)), "metrics", kind="metrics"),),
        loads=CAS_CODE,
    ),
    Group(
        "report",
        "report",
        "genbench.report.build",
        "every metrics file, figure and timing record rendered into one HTML page, and the results table",
        per_dataset=False,
        whole_params=True,
        gathers=(
            "data/processed",
            "data/models",
            "data/samples",
            "reports/metrics",
            "reports/tuning",
            "reports/predictions",
            "reports/projections",
            "reports/training",
            "reports/model-figures",
            str(paths.TIMINGS),
        ),
        outputs=(
            Out(str(paths.REPORT), "page", snakemake_report={"caption": "index.rst", "category": "Report"}),
            Out(str(paths.RESULTS_CSV), "results_csv"),
            Out(str(paths.RESULTS_TEX), "results_tex"),
            Out(str(paths.SUMMARY), "summary", kind="metrics"),
            Out(
                str(paths.REPORT_FIGURES),
                "figures",
                kind="plots",
                folder=True,
                snakemake_report={
                    "patterns": ["{dataset}/{figure}.png"],
                    "caption": "figure.rst",
                    "category": "Figures",
                    "subcategory": "{dataset}",
                    "labels": {"dataset": "{dataset}", "figure": "{figure}"},
                },
            ),
        ),
        # Not in Snakemake's cache: the page records the git commit it was rendered at.
        cache=False,
    ),
)


@dataclass(frozen=True)
class Stage:
    """One stage of the DAG for a params file (a DVC stage, a Snakemake job), as both runners name its files.
    A stage's code is handed its Stage (`io`) and asks it for its files by name, as the spec declares them."""

    group: Group
    dataset: str | None
    model: str | None
    seed: int | None
    feature_seed: int
    params_path: Path = Path("params.yaml")
    argv: tuple[str, ...] = ()  # the command line's words after `genbench`, for a stage that starts itself again

    def fill(self, text: str) -> str:
        for placeholder, value in (
            (D, self.dataset),
            (M, self.model),
            (S, self.seed),
            (FEATURE_SEED, self.feature_seed),
        ):
            if value is not None:
                text = text.replace(placeholder, str(value))
        return text

    @property
    def name(self) -> str:
        """As DVC names the stage: train@digits-svm-0."""
        axes = "-".join(str(n) for n in (self.dataset, self.model, self.seed) if n is not None)
        return f"{self.group.name}@{axes}" if axes else self.group.name

    @property
    def timing(self) -> str | None:
        return self.fill(self.group.timing) if self.group.timing else None

    @property
    def outputs(self) -> list[str]:
        return [self.fill(out.path) for out in self.group.all_outputs]

    def input(self, name: str) -> Path:
        return Path(self.fill(next(i.path for i in self.group.inputs if i.name == name)))

    def output(self, name: str) -> Path:
        return Path(self.fill(next(o.path for o in self.group.all_outputs if o.name == name)))


def stages(params: Params) -> list[Stage]:
    """Every stage of the DAG that `params` asks for."""
    found = []
    for group in GROUPS:
        datasets = params.datasets if group.per_dataset else [None]
        models = getattr(params.models, group.model_list) if group.model_list else [None]
        seeds = params.seeds if group.per_seed else [None]
        found += [Stage(group, d, m, s, params.evaluate.feature_seed) for d in datasets for m in models for s in seeds]
    return found


def gathered(folder: str, params: Params) -> list[str]:
    """Every output of the current DAG inside `folder`: what a dependency on the folder stands for."""
    return sorted(out for stage in stages(params) for out in stage.outputs if out.startswith(folder.rstrip("/") + "/"))
