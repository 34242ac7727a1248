"""One DAG, two runners: DVC and Snakemake build the same jobs, files and edges."""

from __future__ import annotations

import json

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
    # the references (floor and ceiling); then one report.
    # Edges per dataset: 5 per classifier (its trained model and metrics both feed the report); per
    # generative model 1 into train, 2 into sample, 4 into evaluate, 3 into the report; 3 for the
    # references; download -> preprocess; preprocess -> report.
    n_classifiers, n_generative = 4, 3
    assert len(dvc["jobs"]) == n_datasets * (2 + 2 * n_classifiers + 3 * n_generative + 1) + 1
    assert len(dvc["edges"]) == n_datasets * (5 * n_classifiers + 10 * n_generative + 3 + 2)
    assert any("--dataset mnist" in command for command in dvc["jobs"]) == (n_datasets == 2)


def test_model_list_drives_both_graphs(workspace):
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [svm]")
    workspace.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: [ddpm]")
    for runner in ("dvc", "snakemake"):
        commands = sorted(graph(workspace, runner)["jobs"])
        assert commands == [
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
