"""An edit reruns only the stages it can change: `genbench reach` on both runners' graphs, and the runners themselves.

On the default DAG (81 stages): registering a model or editing the params check reruns nothing; code
only training runs reruns only the deep models' training; a model's module reruns that model's stages
(and, for a classifier the classification accuracy score fits, the stages that fit it).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import ROOT
from test_plugin_model import PLUGIN, REGISTRATION

pytestmark = pytest.mark.pipeline

TRAINING_ONLY = [
    "src/genbench/train/loop.py",
    "src/genbench/train/distributed.py",
    "src/genbench/train/preemption.py",
    "src/genbench/train/precision.py",
    "src/genbench/train/deep.py",
]
SEEDS = (0, 1, 2)
DEFAULT_GENERATIVE = ("vae", "gan", "ddpm", "ldm", "cnf", "ebm")  # params.yaml's
TINY_GENERATIVE = ("vae", "gan", "ddpm")  # tests/params/tiny.yaml's


def generative_tunes(models: tuple[str, ...]) -> list[str]:
    return [f"tune_generative@digits-{m}" for m in models]


def reach(workspace, runner: str, *files: str) -> dict[str, list[str]]:
    """{file: the stages an edit to it reruns}, as `genbench reach` prints them."""
    out = workspace.run("genbench", "reach", "--runner", runner, *files).stdout
    found: dict[str, list[str]] = {}
    file = None
    for line in out.splitlines():
        heading = re.match(r"(\S+): \d+ of \d+ stages", line)
        if heading:
            file = heading[1]
            found[file] = []
        else:
            found[file].append(line.strip())
    return found


def stages_of(model: str, groups: tuple[str, ...]) -> list[str]:
    return [f"{group}@digits-{model}-{seed}" for group in groups for seed in SEEDS]


@pytest.mark.parametrize("runner", ["dvc", "snakemake"])
def test_each_edit_reaches_the_stages_it_can_change(workspace, runner):
    workspace.set_params((ROOT / "params.yaml").read_text())
    shutil.copyfile(PLUGIN, workspace.path("src/genbench/models/toy.py"))  # registered, listed in no params
    registry = workspace.path("src/genbench/models/registry.py")
    registry.write_text(registry.read_text() + REGISTRATION)
    found = reach(
        workspace,
        runner,
        "src/genbench/models/toy.py",
        "src/genbench/models/registry.py",
        "src/genbench/validate.py",
        "src/genbench/params_check.py",
        *TRAINING_ONLY,
        "src/genbench/models/ddpm.py",
        "src/genbench/models/logreg.py",
        "src/genbench/models/svm.py",
        "src/genbench/data/sources.py",
        "src/genbench/evaluate/spaces.py",
    )
    for file in (
        "src/genbench/models/toy.py",
        "src/genbench/models/registry.py",
        "src/genbench/validate.py",
        "src/genbench/params_check.py",
    ):
        assert found[file] == [], file
    deep_training = sorted(
        [f"train_featurenet@digits-{s}" for s in SEEDS]
        + [stage for model in DEFAULT_GENERATIVE for stage in stages_of(model, ("train_generative",))]
        + ["tune_featurenet@digits", *generative_tunes(DEFAULT_GENERATIVE)]  # a tune trains its trials by the loop
    )
    for file in TRAINING_ONLY:
        assert found[file] == deep_training, file
    assert found["src/genbench/models/ddpm.py"] == sorted(
        [*stages_of("ddpm", ("evaluate_generative", "sample", "train_generative")), "tune_generative@digits-ddpm"]
    )
    assert found["src/genbench/models/logreg.py"] == sorted(
        [*stages_of("logreg", ("evaluate", "train")), "tune@digits-logreg"]
    )
    cas = [f"cas@digits-{m}-{s}" for m in ("gan", "ddpm", "ldm", "cnf", "ebm") for s in SEEDS]
    assert found["src/genbench/models/svm.py"] == sorted(
        [
            *stages_of("svm", ("evaluate", "train")),
            "tune@digits-svm",
            *cas,
            "evaluate_references@digits",
        ]
    )
    # The pretrained stage fetches with the datasets' downloader; it rewrites the same verified weights.
    assert found["src/genbench/data/sources.py"] == ["download@digits", "preprocess@digits", "pretrained"], (
        "a new dataset: no model's stage"
    )
    assert found["src/genbench/evaluate/spaces.py"] == sorted(
        [
            "evaluate_references@digits",
            *(stage for m in DEFAULT_GENERATIVE for stage in stages_of(m, ("evaluate_generative",))),
        ]
    ), "a feature space: the evaluations that compute in it, never a training"


def test_registering_a_model_reruns_nothing_a_training_edit_reruns_training_only(finished_workspace):
    """The runners themselves, after the tiny run: DVC finds no stage changed by a registration, Snakemake plans no job;
    an edit to the training loop changes the deep models' training stages only."""
    workspace = finished_workspace
    shutil.copyfile(PLUGIN, workspace.path("src/genbench/models/toy.py"))
    registry = workspace.path("src/genbench/models/registry.py")
    registry.write_text(registry.read_text() + REGISTRATION)
    assert workspace.run("dvc", "status", "--json").stdout.strip() == "{}"
    assert workspace.snakemake_planned() == []
    workspace.edit("src/genbench/train/loop.py", '"""The one training loop', '"""The only training loop')
    changed = sorted(json.loads(workspace.run("dvc", "status", "--json").stdout))
    assert changed == sorted(
        [
            "train_featurenet@digits-0",
            *(f"train_generative@digits-{m}-0" for m in TINY_GENERATIVE),
            "tune_featurenet@digits",
            *generative_tunes(TINY_GENERATIVE),
        ]
    )
    assert reach(workspace, "dvc", "src/genbench/train/loop.py") == {"src/genbench/train/loop.py": changed}
