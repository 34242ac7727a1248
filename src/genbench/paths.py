"""The one place that names artifact paths, relative to the repository root.

The pipeline's spec (pipeline.py) declares these paths to DVC and Snakemake, with
{dataset}, {model} and {seed} in place of the names, and both fail a stage that does not write them.
A seed is a training replicate (params.yaml: seeds): each one's outputs sit in a seed-<n> folder.
"""

from __future__ import annotations

from pathlib import Path

# The files of a model's folder (deep models: all three; classic ones: train.json beside the model file)
# and of a generative model's sample folder.
WEIGHTS, MODEL_CONFIG, TRAIN_INFO = "weights.safetensors", "config.json", "train.json"
SAMPLES, SAMPLE_INFO, VIEWS = "samples.npz", "sample.json", "views.npz"

OWN_DATA = Path("data/own")  # datasets of your own (data/own.py): a dependency of every download stage in both runners
REPORT = Path("reports/index.html")
REPORT_FIGURES = Path("reports/figures")  # the report's figures as files, also inline in the page
RESULTS_CSV = Path("reports/results.csv")  # every figure of the page, one row per dataset, model, seed and metric
RESULTS_TEX = Path("reports/results.tex")  # the page's tables for a paper
SUMMARY = Path(
    "reports/summary.json"
)  # each figure's mean, standard deviation and t-interval over the seeds (DVC metrics)
TIMINGS = Path("reports/timings")


RAW = Path("data/raw")  # a folder per dataset
PRETRAINED = Path("data/pretrained")  # the feature spaces' network weights (evaluate/pretrained.py)


def raw_dir(dataset: str) -> Path:
    return RAW / dataset


def processed_data(dataset: str) -> Path:
    return Path("data/processed") / dataset / "data.npz"


def processed_meta(dataset: str) -> Path:
    return Path("data/processed") / dataset / "meta.json"


def replicate(seed: int | str) -> str:
    return f"seed-{seed}"


def model_dir(dataset: str, model: str, seed: int | str) -> Path:
    return Path("data/models") / dataset / replicate(seed) / model


def metrics_file(dataset: str, model: str, seed: int | str) -> Path:
    return Path("reports/metrics") / dataset / replicate(seed) / f"{model}.json"


def cas_file(dataset: str, model: str, seed: int | str) -> Path:
    """Classification accuracy scores of one generative model's samples (none for an unconditional model)."""
    return Path("reports/metrics") / dataset / replicate(seed) / "cas" / f"{model}.json"


def tuned_settings(dataset: str, model: str) -> Path:
    """The settings a model's training reads: chosen by its tune stage, or as params.yaml gives them."""
    return Path("data/tuned") / dataset / f"{model}.json"


def tuning_file(dataset: str, model: str) -> Path:
    return Path("reports/tuning") / dataset / f"{model}.json"


def study_file(dataset: str, model: str) -> Path:
    """Optuna's journal of a model's studies; not a pipeline output, so that a killed tune resumes from it."""
    return Path("data/studies") / dataset / f"{model}.journal"


def references_file(dataset: str) -> Path:
    """FID, KID, precision, recall and CAS of real images and of noise: the floor and the ceiling."""
    return Path("reports/metrics") / dataset / "references.json"


def projection_file(dataset: str, model: str, seed: int | str) -> Path:
    """Real test and generated images in 2-D: the featurenet features projected on the real ones' principal axes."""
    return Path("reports/projections") / dataset / replicate(seed) / f"{model}.npz"


def predictions_file(dataset: str, model: str, seed: int | str) -> Path:
    return Path("reports/predictions") / dataset / replicate(seed) / f"{model}.csv"


def model_figures_file(dataset: str, model: str, seed: int | str) -> Path:
    """The figures a classic model draws of itself once fitted (its figures() hook; views.PixelMap), for the report."""
    return Path("reports/model-figures") / dataset / replicate(seed) / f"{model}.npz"


def samples_dir(dataset: str, model: str, seed: int | str) -> Path:
    return Path("data/samples") / dataset / replicate(seed) / model


def timing_file(command: str, dataset: str | None, model: str | None, seed: int | str | None = None) -> Path:
    """The timing record of one stage run (genbench/timings.py); only the report reads it."""
    names = [n for n in (dataset, model, None if seed is None else replicate(seed)) if n is not None]
    return TIMINGS / command / f"{'-'.join(names) or command}.json"


def training_log_dir(dataset: str, model: str, seed: int | str) -> Path:
    """dvclive's curves of a deep model's training (DVC plots)."""
    return Path("reports/training") / dataset / replicate(seed) / model


def tune_scratch(dataset: str, model: str) -> Path:
    """Scratch space of a deep model's tuning trial in progress; not a pipeline output."""
    return Path("data/checkpoints") / dataset / "tune" / model


def checkpoint_dir(dataset: str, model: str, seed: int | str) -> Path:
    """Scratch space for checkpoints of a training run in progress; not a pipeline output."""
    return Path("data/checkpoints") / dataset / replicate(seed) / model
