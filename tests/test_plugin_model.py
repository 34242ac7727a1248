"""A generative model is a plug-in: one module under models/ and one line in the registry, nothing else.

The toy model (tests/plugins/toy.py) is registered in a copy of the project and runs through
train, sample, evaluate, CAS and the report with `dvc repro` and with Snakemake.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, Workspace, assert_reads_declared, copy_project

pytestmark = pytest.mark.pipeline

PLUGIN = Path(__file__).resolve().parent / "plugins" / "toy.py"
REGISTRATION = """MODELS["toy"] = Kind.GENERATIVE
"""
TOY_STAGES = ["train_generative@digits-toy-0", "sample@digits-toy-0", "evaluate_generative@digits-toy-0"]


def register_toy(ws: Workspace) -> None:
    """What a researcher adding a model does: the module, its registry line, its params sections."""
    shutil.copyfile(PLUGIN, ws.path("src/genbench/models/toy.py"))
    registry = ws.path("src/genbench/models/registry.py")
    registry.write_text(registry.read_text() + REGISTRATION)
    params = yaml.safe_load(ws.path("params.yaml").read_text())
    params["models"] = {"classic": ["svm"], "generative": ["toy"], "cas": ["toy"]}
    params["generative"]["toy"] = {"steps": 60, "batch_size": 32}
    params["sampling"]["toy"] = {"temperature": 1.0}
    ws.path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.minutes(3)
def test_a_model_registered_outside_src_runs_through_both_runners(workspace, tmp_path):
    dvc_yaml = workspace.path("dvc.yaml").read_text()
    register_toy(workspace)
    workspace.run("genbench", "dag")
    assert workspace.path("dvc.yaml").read_text() == dvc_yaml, "the stages' shape does not depend on which models exist"
    assert workspace.run("genbench", "dag", "--check").returncode == 0
    workspace.executed()  # not stages

    ran = workspace.dvc_repro()
    assert set(TOY_STAGES) | {"cas@digits-toy-0", "report"} <= set(ran)
    runs = workspace.executed()
    assert_reads_declared(workspace, runs)
    toy_runs = [run for run in runs if run["command"].endswith("--model toy --seed 0")]
    assert len(toy_runs) == 4, "train, sample, evaluate and CAS"
    assert all(
        "src/genbench/models/toy.py" in run["read"] for run in toy_runs if not run["command"].startswith("genbench cas")
    )

    metrics = json.loads(workspace.path("reports/metrics/digits/seed-0/toy.json").read_text())
    assert metrics["conditional"] is True and all(
        math.isfinite(metrics[k]) for k in ("fid", "kid", "precision", "recall")
    )
    assert metrics["likelihood"]["kind"] == "exact" and math.isfinite(metrics["likelihood"]["bits_per_dim"])
    cas = json.loads(workspace.path("reports/metrics/digits/seed-0/cas/toy.json").read_text())
    assert cas["scores"]["svm"]["accuracy"] > 0.5, "class means plus noise carry their class"
    page = workspace.path("reports/index.html").read_text()
    assert re.search(
        r'<table class="summary" data-dataset="digits" data-kind="generative">.*?<tr data-model="toy">', page, re.S
    )
    figures = {p.name for p in workspace.path("reports/figures/digits").glob("*.png")}
    assert {"samples-toy.png", "means-toy.png"} <= figures
    assert "toy: the mean image of each class." in page

    # The same model under Snakemake, in a second copy: the same stages and the same bytes.
    by_snakemake = Workspace(copy_project(tmp_path / "by-snakemake"))
    by_snakemake.path("params.yaml").write_text((ROOT / "tests/params/tiny.yaml").read_text())
    register_toy(by_snakemake)
    by_snakemake.run("git", "init", "-q")
    by_snakemake.run("snakemake", "--cores", "2")
    snakemake_runs = by_snakemake.executed()
    assert sorted(run["command"] for run in snakemake_runs) == sorted(run["command"] for run in runs)
    assert_reads_declared(by_snakemake, snakemake_runs)
    for name in (
        "data/models/digits/seed-0/toy/weights.safetensors",
        "data/samples/digits/seed-0/toy/samples.npz",
        "data/samples/digits/seed-0/toy/views.npz",
        "reports/metrics/digits/seed-0/toy.json",
        "reports/metrics/digits/seed-0/cas/toy.json",
    ):
        assert by_snakemake.path(name).read_bytes() == workspace.path(name).read_bytes(), name


def test_no_code_outside_a_model_names_it():
    """No module but the model's own, the registry and the spec (pipeline.py, where the DAG gives a model a role
    of its own: the feature space, the CAS classifiers) holds a registered model's name as a string."""
    from genbench.models import registry

    names = set(registry.MODELS)
    owners = {f"src/genbench/models/{name}.py" for name in names} | {
        "src/genbench/models/registry.py",
        "src/genbench/pipeline.py",
    }
    found = []
    for path in sorted((ROOT / "src/genbench").rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        if relative in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert found == []
    assert {"vae", "gan", "ddpm", "featurenet", "xgboost", "svm", "logreg"} <= names, (
        "the scan covers every kind of model"
    )
