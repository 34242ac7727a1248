import sys
from importlib import metadata

from genbench.config import canonical_json, load_params
from genbench.errors import ConfigError

try:
    PARAMS = load_params("params.yaml")
except ConfigError as error:
    sys.exit(f"genbench: error: {error}")

DATASETS = list(PARAMS.datasets)
CLASSIC_MODELS = list(PARAMS.models.classic)
GENERATIVE_MODELS = list(PARAMS.models.generative)


# What each job asks a cluster scheduler for (params.yaml: resources); deep jobs also ask for a GPU
# unless they are told to run on the CPU. Local runs ignore all three.
LIGHT = PARAMS.resources.light.model_dump()
DEEP = PARAMS.resources.deep.model_dump() | {"gpu": 0 if PARAMS.train.device == "cpu" else 1}


def one_of(names):
    return "|".join(names) if names else "(?!)"  # an empty list matches nothing



wildcard_constraints:
    dataset=one_of(DATASETS),


def setting(dotted_key):
    """The validated value of a params key as normalised text: 5 and 5.0 compare equal."""
    return canonical_json(PARAMS.section(dotted_key))


# The libraries whose numbers the stages compute with, at their installed versions. The
# between-workflow cache (--cache) hashes a job's command, params, input files and upstream jobs,
# but not the software environment unless it comes from conda or a container: as a param of every
# cached rule, an upgrade cannot be served a result computed by the old version.
COMPUTE_LIBRARIES = (
    "numpy", "scipy", "scikit-learn", "xgboost", "xgboost-cpu", "torch", "torchmetrics",
    "safetensors", "skops", "dvclive", "pillow", "matplotlib",
)


def installed_versions(names):
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # XGBoost installs as xgboost or as xgboost-cpu
            pass
    return versions


SOFTWARE = canonical_json(installed_versions(COMPUTE_LIBRARIES))


# Source files each stage runs; dvc.yaml lists the same ones.
CORE_CODE = [
    "src/genbench/cli.py",
    "src/genbench/config.py",
    "src/genbench/artifacts.py",
    "src/genbench/errors.py",
    "src/genbench/paths.py",
    "src/genbench/data/sources.py",
]


def classic_code(model):
    return [
        "src/genbench/data/splits.py", "src/genbench/records.py",
        "src/genbench/models/classic/__init__.py",
        "src/genbench/models/classic/sklearn_format.py",
        f"src/genbench/models/classic/{model}.py",
        "src/genbench/train/classic.py",
    ]


def deep_code(model):
    return [
        "src/genbench/models/deep.py",
        f"src/genbench/models/{model}.py",
        "src/genbench/train/loop.py",
    ]
