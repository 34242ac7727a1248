"""One DAG, declared once, two runners: dvc.yaml is the spec's, and DVC and Snakemake build the same jobs, files and
edges."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT


def graph(workspace, runner: str) -> dict:
    return json.loads(workspace.run("python", "tests/dag_export.py", runner).stdout)


@pytest.mark.parametrize(
    ("params", "n_datasets", "n_seeds"),
    [("default", 1, 3), ("tiny.yaml", 1, 1), ("two datasets", 2, 3), ("your own", 2, 1)],
)
def test_dvc_and_snakemake_graphs_are_equal(workspace, params, n_datasets, n_seeds):
    default = (ROOT / "params.yaml").read_text()
    if params == "default":
        workspace.set_params(default)
    elif params == "two datasets":
        workspace.set_params(default.replace("datasets: [digits]", "datasets: [digits, mnist]"))
    elif params == "your own":
        for cls in ("a", "b"):
            for i in range(13):
                workspace.path(f"data/own/mine/{cls}/{i}.png").parent.mkdir(parents=True, exist_ok=True)
                workspace.path(f"data/own/mine/{cls}/{i}.png").write_bytes(b"")  # the graphs look at names only
        workspace.edit("params.yaml", "datasets: [digits]", "datasets: [digits, mine]")
        workspace.edit(
            "params.yaml", "own_datasets: {}", "own_datasets: {mine: {path: data/own/mine, channels: 1, size: [8, 8]}}"
        )
    dvc, snakemake = graph(workspace, "dvc"), graph(workspace, "snakemake")
    assert sorted(dvc["jobs"]) == sorted(snakemake["jobs"])
    for command, job in dvc["jobs"].items():
        assert job == snakemake["jobs"][command], command
    assert dvc["edges"] == snakemake["edges"]
    # The whole pipeline. Per dataset: a download, a preprocess, the references (floor and ceiling) and a
    # tune per model (3 classic, the featurenet, the generative ones: 5 in params.yaml, 3 in tiny.yaml). Per
    # dataset and seed: a train and an evaluate per classifier (3 classic + featurenet); a train, a sample and
    # an evaluate per generative model; a classification accuracy score per conditional one (models.cas).
    # Then one report, and one pretrained stage (the feature spaces' weights, none here).
    n_classifiers = 4
    n_generative, n_conditional = (6, 5) if params in ("default", "two datasets") else (3, 2)
    per_seed_jobs = 2 * n_classifiers + 3 * n_generative + n_conditional
    assert len(dvc["jobs"]) == n_datasets * (3 + n_classifiers + n_generative + n_seeds * per_seed_jobs) + 2
    # Edges per dataset: download -> preprocess and its timing record -> report; preprocess into the
    # stages per seed that read the data (each classifier's train and evaluate, each generative model's
    # train, sample and evaluate, each CAS), the references and the report. Per seed: each classic model's
    # train -> evaluate and both into the report (9); the featurenet's train -> its evaluation and the
    # report, its evaluation -> report (3); per generative model, train -> sample, evaluate and report,
    # sample -> evaluate and report, evaluate -> report (6); sample -> CAS and CAS -> report per conditional
    # one. The feature space (the featurenet of seed 0) -> every seed's generative evaluations and the
    # references; references -> report. Each tune: preprocess -> tune -> report, and tune -> each seed's train;
    # the feature space -> each generative model's tune. The pretrained weights -> every generative evaluation and
    # the references, and its timing record -> the report.
    reads_data = 2 * n_classifiers + 3 * n_generative + n_conditional
    per_seed = reads_data + 9 + 3 + 6 * n_generative + 2 * n_conditional + n_generative + n_classifiers + n_generative
    tunes = 2 * n_classifiers + 3 * n_generative
    pretrained = n_seeds * n_generative + 1
    assert len(dvc["edges"]) == n_datasets * (2 + 2 + tunes + n_seeds * per_seed + 1 + 1 + pretrained) + 1
    assert any("--dataset mnist" in command for command in dvc["jobs"]) == (params == "two datasets")
    own_files = sorted(str(p.relative_to(workspace.root)) for p in workspace.path("data/own").rglob("*") if p.is_file())
    assert all(
        set(own_files) <= set(job["deps"])
        for command, job in dvc["jobs"].items()
        if command.startswith("genbench download")
    )
    assert len(own_files) == (27 if params == "your own" else 1), "every file of data/own/, its README included"
    assert sorted({m.group(1) for command in dvc["jobs"] for m in [re.search(r"--seed (\d+)", command)] if m}) == [
        str(s) for s in range(n_seeds)
    ]


def test_model_list_drives_both_graphs(workspace):
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [svm]")
    workspace.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: [ddpm]")
    workspace.edit("params.yaml", "cas: [gan, ddpm]", "cas: [ddpm]")
    for runner in ("dvc", "snakemake"):
        commands = sorted(graph(workspace, runner)["jobs"])
        assert commands == sorted(
            [
                "genbench download --dataset digits",
                "genbench pretrained",
                "genbench preprocess --dataset digits",
                "genbench references --dataset digits",
                "genbench report",
                *(f"genbench tune --dataset digits --model {m}" for m in ("svm", "featurenet", "ddpm")),
                *(
                    f"genbench {c} --seed 0"
                    for c in (
                        "cas --dataset digits --model ddpm",
                        "evaluate --dataset digits --model ddpm",
                        "evaluate --dataset digits --model featurenet",
                        "evaluate --dataset digits --model svm",
                        "sample --dataset digits --model ddpm",
                        "train --dataset digits --model ddpm",
                        "train --dataset digits --model featurenet",
                        "train --dataset digits --model svm",
                    )
                ),
            ]
        ), runner


def test_dvc_yaml_is_the_specs_and_says_when_it_is_stale(workspace):
    assert workspace.run("genbench", "dag", "--check").returncode == 0, "the committed dvc.yaml is what the spec gives"
    assert (
        workspace.path("dvc.yaml")
        .read_text()
        .startswith("# The pipeline's DAG for `dvc repro`, generated from src/genbench/pipeline.py by `genbench dag`")
    )
    for spec in ("Snakefile", "src/genbench/pipeline.py", "src/genbench/snakemake_rules.py"):
        assert not re.search(r"""["']src/\S*\.py["']""", workspace.path(spec).read_text()), (
            f"{spec} types no source file"
        )

    # A new import in a stage's module is a new dependency of that stage, and of no other.
    workspace.edit(
        "src/genbench/evaluate/references.py",
        "from genbench.data import splits\n",
        "from genbench.data import splits, idx\n",
    )
    stale = workspace.run("genbench", "dag", "--check", check=False)
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr.count("\n") == 1 and stale.stderr.startswith(
        "genbench: error: dvc.yaml is stale, run `genbench dag`: line "
    )
    assert "src/genbench/data/idx.py" in stale.stderr
    before = graph(workspace, "dvc")["jobs"]
    workspace.run("genbench", "dag")
    assert workspace.run("genbench", "dag", "--check").returncode == 0
    for runner in ("dvc", "snakemake"):
        after = graph(workspace, runner)["jobs"]
        gained = {command: sorted(set(job["deps"]) - set(before[command]["deps"])) for command, job in after.items()}
        assert {c: g for c, g in gained.items() if g} == {
            "genbench references --dataset digits": ["src/genbench/data/idx.py"]
        }, runner

    workspace.path("dvc.yaml").unlink()
    missing = workspace.run("genbench", "dag", "--check", check=False)
    assert missing.returncode == 1 and "dvc.yaml: file not found; run `genbench dag`" in missing.stderr


def test_snakemake_builds_its_rules_without_torch_once_the_params_passed_their_check(workspace):
    """Snakemake reads the spec, the params schema and the import graph on every call: none of it loads
    torch or the other libraries the stages compute with (Snakemake itself imports numpy). The check of
    the whole params file imports every model, torch with them, until a file has passed it once."""

    def imported_by_a_dry_run() -> set[str]:
        done = workspace.run("python", "-X", "importtime", "-m", "snakemake", "-n", "--cores", "1")
        return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}

    def heavy(imported: set[str]) -> set[str]:
        return {name for name in imported if name.split(".")[0] in ("torch", "sklearn", "xgboost", "matplotlib")}

    # The check is loaded by name, which -X importtime does not list; the dataset registry it imports stands for it.
    first, second = imported_by_a_dry_run(), imported_by_a_dry_run()
    assert "torch" in heavy(first) and "genbench.data.sources" in first, (
        "the first call checks the file with every model's schema"
    )
    assert {"genbench.pipeline", "genbench.code_deps", "genbench.config", "genbench.params_check"} <= second
    assert "genbench.data.sources" not in second, "a kept verdict answers without the schemas"
    assert not heavy(second)
    workspace.edit("params.yaml", "  n_samples: 40", "  n_samples: 41")
    assert heavy(imported_by_a_dry_run()), "a changed file is checked again"
