"""The one place that names artifact paths, relative to the repository root.

The pipeline's spec (pipeline.py) declares these paths to DVC and Snakemake, with
{dataset} and {model} in place of the names, and both fail a stage that does not write them.
"""

from __future__ import annotations

from pathlib import Path

# The files of a model's folder (deep models: all three; classic ones: train.json beside the model file)
# and of a generative model's sample folder.
WEIGHTS, MODEL_CONFIG, TRAIN_INFO = "weights.safetensors", "config.json", "train.json"
SAMPLES, SAMPLE_INFO, VIEWS = "samples.npz", "sample.json", "views.npz"

REPORT = Path("reports/index.html")
REPORT_FIGURES = Path("reports/figures")  # the report's figures as files, also inline in the page
TIMINGS = Path("reports/timings")


def raw_dir(dataset: str) -> Path:
    return Path("data/raw") / dataset


def processed_data(dataset: str) -> Path:
    return Path("data/processed") / dataset / "data.npz"


def processed_meta(dataset: str) -> Path:
    return Path("data/processed") / dataset / "meta.json"


def model_dir(dataset: str, model: str) -> Path:
    return Path("data/models") / dataset / model


def metrics_file(dataset: str, model: str) -> Path:
    return Path("reports/metrics") / dataset / f"{model}.json"


def cas_file(dataset: str) -> Path:
    """Classification accuracy scores of the class-conditional models' samples and of real training images."""
    return Path("reports/metrics") / dataset / "cas.json"


def references_file(dataset: str) -> Path:
    """FID, KID, precision and recall of real training images and of noise: the floor and the ceiling."""
    return Path("reports/metrics") / dataset / "references.json"


def projection_file(dataset: str, model: str) -> Path:
    """Real test and generated images in 2-D: the featurenet features projected on the real ones' principal axes."""
    return Path("reports/projections") / dataset / f"{model}.npz"


def predictions_file(dataset: str, model: str) -> Path:
    return Path("reports/predictions") / dataset / f"{model}.csv"


def samples_dir(dataset: str, model: str) -> Path:
    return Path("data/samples") / dataset / model


def timing_file(command: str, dataset: str | None, model: str | None) -> Path:
    """The timing record of one stage run (genbench/timings.py); only the report reads it."""
    return TIMINGS / command / f"{'-'.join(n for n in (dataset, model) if n) or command}.json"


def training_log_dir(dataset: str, model: str) -> Path:
    """dvclive's curves of a deep model's training (DVC plots)."""
    return Path("reports/training") / dataset / model


def checkpoint_dir(dataset: str, model: str) -> Path:
    """Scratch space for checkpoints of a training run in progress; not a pipeline output."""
    return Path("data/checkpoints") / dataset / model
