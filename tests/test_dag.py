"""One DAG, two runners: DVC and Snakemake build the same jobs, files and edges."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT


def graph(workspace, runner: str) -> dict:
    return json.loads(workspace.run("python", "tests/dag_export.py", runner).stdout)


@pytest.mark.parametrize("params", ["default", "tiny.yaml"])
def test_dvc_and_snakemake_graphs_are_equal(workspace, params):
    if params == "default":
        workspace.set_params((ROOT / "params.yaml").read_text())
    dvc, snakemake = graph(workspace, "dvc"), graph(workspace, "snakemake")
    assert sorted(dvc["jobs"]) == sorted(snakemake["jobs"])
    for command, job in dvc["jobs"].items():
        assert job == snakemake["jobs"][command], command
    assert dvc["edges"] == snakemake["edges"]
    # The graph is the whole pipeline, not an empty or partial one.
    assert len(dvc["jobs"]) == 9 and len(dvc["edges"]) == 14


def test_model_list_drives_both_graphs(workspace):
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [svm]")
    for runner in ("dvc", "snakemake"):
        commands = sorted(graph(workspace, runner)["jobs"])
        assert commands == [
            "genbench download --dataset digits",
            "genbench evaluate --dataset digits --model svm",
            "genbench preprocess --dataset digits",
            "genbench report",
            "genbench train --dataset digits --model svm",
        ], runner
