"""Every model the pipeline knows, by name and kind: the one place a model is registered.

A model is a module genbench/models/<name>.py that keeps its kind's contract (models/base.py) and
owns the schema of its params.yaml sections, and one line here. Read by the params check (every
model's section at once) and by the DAG's code dependencies, never by a stage: registering a model
reruns no stage of another. After registering one, `genbench dag` writes dvc.yaml anew (only when
its code imports a module no model of its kind imported before).
"""

from __future__ import annotations

from genbench.models.base import Kind

MODELS: dict[str, Kind] = {
    "xgboost": Kind.CLASSIC,
    "svm": Kind.CLASSIC,
    "logreg": Kind.CLASSIC,
    "featurenet": Kind.CLASSIFIER,
    "vae": Kind.GENERATIVE,
    "gan": Kind.GENERATIVE,
    "ddpm": Kind.GENERATIVE,
    "ldm": Kind.GENERATIVE,
    "cnf": Kind.GENERATIVE,
    "ebm": Kind.GENERATIVE,
}


def names(kind: Kind) -> list[str]:
    return [name for name, registered in MODELS.items() if registered is kind]
