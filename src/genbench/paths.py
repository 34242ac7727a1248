"""The one place that names artifact paths, relative to the repository root.

dvc.yaml and the Snakefile spell the same paths; tests/test_dag.py checks they agree.
"""

from pathlib import Path

DVC_LOCK = Path("dvc.lock")
REPORT = Path("reports/index.html")
REPORT_FIGURES = Path("reports/figures")  # the report's figures as files, also inline in the page


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


def training_log_dir(dataset: str, model: str) -> Path:
    """dvclive's curves of a deep model's training (DVC plots)."""
    return Path("reports/training") / dataset / model


def checkpoint_dir(dataset: str, model: str) -> Path:
    """Scratch space for checkpoints of a training run in progress; not a pipeline output."""
    return Path("data/checkpoints") / dataset / model
