"""One DAG, declared once, two runners: dvc.yaml is the spec's, and DVC and Snakemake build the same jobs, files and edges."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT


def graph(workspace, runner: str) -> dict:
    return json.loads(workspace.run("python", "tests/dag_export.py", runner).stdout)


@pytest.mark.parametrize(("params", "n_datasets"), [("default", 1), ("tiny.yaml", 1), ("two datasets", 2)])
def test_dvc_and_snakemake_graphs_are_equal(workspace, params, n_datasets):
    default = (ROOT / "params.yaml").read_text()
    if params == "default":
        workspace.set_params(default)
    elif params == "two datasets":
        workspace.set_params(default.replace("datasets: [digits]", "datasets: [digits, mnist]"))
    dvc, snakemake = graph(workspace, "dvc"), graph(workspace, "snakemake")
    assert sorted(dvc["jobs"]) == sorted(snakemake["jobs"])
    for command, job in dvc["jobs"].items():
        assert job == snakemake["jobs"][command], command
    assert dvc["edges"] == snakemake["edges"]
    # The whole pipeline. Per dataset: a download and a preprocess; a train and an evaluate per
    # classifier (3 classic + featurenet); a train, a sample and an evaluate per generative model (3);
    # the references (floor and ceiling) and the classification accuracy score; then one report.
    n_classifiers, n_generative = 4, 3
    assert len(dvc["jobs"]) == n_datasets * (2 + 2 * n_classifiers + 3 * n_generative + 2) + 1
    # Edges per dataset: download -> preprocess, and preprocess into the 19 stages that read the data and
    # the report; per classic model train -> evaluate and both into the report; the featurenet into its
    # evaluation, the 3 generative evaluations, the references and the report, its evaluation into the
    # report; per generative model train into sample, evaluate and the report, sample into evaluate and
    # the report, evaluate into the report; references and CAS into the report; download's timing
    # record into the report. And the CAS stage reads the samples of every dataset (DVC sees one folder).
    per_dataset = 1 + 20 + 3 * 3 + 6 + 1 + 3 * 3 + 3 * 2 + 3 + 2 + 1
    assert len(dvc["edges"]) == n_datasets * per_dataset + n_datasets * n_datasets * n_generative
    assert any("--dataset mnist" in command for command in dvc["jobs"]) == (n_datasets == 2)


def test_model_list_drives_both_graphs(workspace):
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [svm]")
    workspace.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: [ddpm]")
    for runner in ("dvc", "snakemake"):
        commands = sorted(graph(workspace, runner)["jobs"])
        assert commands == [
            "genbench cas --dataset digits",
            "genbench download --dataset digits",
            "genbench evaluate --dataset digits --model ddpm",
            "genbench evaluate --dataset digits --model featurenet",
            "genbench evaluate --dataset digits --model svm",
            "genbench preprocess --dataset digits",
            "genbench references --dataset digits",
            "genbench report",
            "genbench sample --dataset digits --model ddpm",
            "genbench train --dataset digits --model ddpm",
            "genbench train --dataset digits --model featurenet",
            "genbench train --dataset digits --model svm",
        ], runner


def test_dvc_yaml_is_the_specs_and_says_when_it_is_stale(workspace):
    assert workspace.run("genbench", "dag", "--check").returncode == 0, "the committed dvc.yaml is what the spec gives"
    assert workspace.path("dvc.yaml").read_text().startswith("# The pipeline's DAG for `dvc repro`, generated from src/genbench/pipeline.py by `genbench dag`")
    for spec in ("Snakefile", "src/genbench/pipeline.py", "src/genbench/snakemake_rules.py"):
        assert not re.search(r"""["']src/\S*\.py["']""", workspace.path(spec).read_text()), f"{spec} types no source file"

    # A new import in a stage's module is a new dependency of that stage, and of no other.
    workspace.edit("src/genbench/evaluate/references.py", "from genbench.data import splits\n", "from genbench.data import splits, idx\n")
    stale = workspace.run("genbench", "dag", "--check", check=False)
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr.count("\n") == 1 and stale.stderr.startswith("genbench: error: dvc.yaml is stale, run `genbench dag`: line ")
    assert "src/genbench/data/idx.py" in stale.stderr
    before = graph(workspace, "dvc")["jobs"]
    workspace.run("genbench", "dag")
    assert workspace.run("genbench", "dag", "--check").returncode == 0
    for runner in ("dvc", "snakemake"):
        after = graph(workspace, runner)["jobs"]
        gained = {command: sorted(set(job["deps"]) - set(before[command]["deps"])) for command, job in after.items()}
        assert {c: g for c, g in gained.items() if g} == {"genbench references --dataset digits": ["src/genbench/data/idx.py"]}, runner

    workspace.path("dvc.yaml").unlink()
    missing = workspace.run("genbench", "dag", "--check", check=False)
    assert missing.returncode == 1 and "dvc.yaml: file not found; run `genbench dag`" in missing.stderr


def test_snakemake_builds_its_rules_without_torch(workspace):
    """Snakemake reads the spec, the params schema and the import graph on every call: none of it loads
    torch or the other libraries the stages compute with (Snakemake itself imports numpy)."""
    done = workspace.run("python", "-X", "importtime", "-m", "snakemake", "-n", "--cores", "1")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"genbench.pipeline", "genbench.code_deps", "genbench.config"} <= imported
    assert not {name for name in imported if name.split(".")[0] in ("torch", "sklearn", "xgboost", "matplotlib")}
