"""params.yaml validation: one line naming the key, the value and what is allowed; exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genbench.config import ConfigError, canonical_json, load_params

ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_default_params_file_is_valid():
    params = load_params(ROOT / "params.yaml")
    assert params.datasets == ["digits"]
    assert params.models.classic == ["xgboost", "svm", "logreg"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("classic: {svm: {C: 1, degree: 3}}", "classic.svm.degree: unknown key; allowed keys here: C, kernel, gamma, max_train_samples"),
        ("colour: red", "colour: unknown key; allowed keys here: seeds, datasets, models, download, data, classic, train, featurenet, generative, sampling, evaluate, resources"),
        ("classic: {svm: {C: '3'}}", "classic.svm.C: Input should be a valid number (got '3')"),
        ("classic: {svm: {C: -1.5}}", "classic.svm.C: Input should be greater than 0 (got -1.5)"),
        ("datasets: [digits, imagenet]", "datasets.1: Input should be 'digits', 'mnist', 'fashion_mnist' or 'cifar10' (got 'imagenet')"),
        ("datasets: []", "datasets: List should have at least 1 item after validation, not 0 (got [])"),
        ("models: {classic: [svm, svm]}", "models.classic: names must be unique; repeated: svm (got ['svm', 'svm'])"),
        ("seeds: [true]", "seeds.0: Input should be a valid integer (got True)"),
        ("seeds: [0, 0]", "seeds: names must be unique; repeated: 0 (got [0, 0])"),
        ("seeds: []", "seeds: List should have at least 1 item after validation, not 0 (got [])"),
        ("seeds: [1, 2]", "evaluate.feature_seed: 0 is not one of seeds (1, 2); the feature space is the featurenet of one of the seeds"),
        ("data: {test_fraction: 1.5}", "data.test_fraction: Input should be less than 1 (got 1.5)"),
    ],
)
def test_bad_params_name_key_value_and_rule(tmp_path, text, expected):
    path = write_params(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_params(path)
    assert str(error.value) == f"{path}: {expected}"


def test_several_problems_are_counted_on_one_line(tmp_path):
    path = write_params(tmp_path, "seeds: [-1]\nclassic: {svm: {C: 0}}\nfoo: 1")
    message = str(pytest.raises(ConfigError, load_params, path).value)
    assert "\n" not in message and message.endswith("(and 2 more problems)")


@pytest.mark.parametrize("text", ["[1, 2]", "a: [unclosed", ""])
def test_not_a_mapping_or_not_yaml(tmp_path, text):
    with pytest.raises(ConfigError, match="params.yaml: (not valid YAML|expected a mapping)"):
        load_params(write_params(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")


def test_canonical_json_normalises_numbers(tmp_path):
    int_c = load_params(write_params(tmp_path, "classic: {svm: {C: 5}}")).section("classic.svm")
    float_c = load_params(write_params(tmp_path, "classic: {svm: {C: 5.0}}")).section("classic.svm")
    assert canonical_json(int_c) == canonical_json(float_c)
    assert '"C":5.0' in canonical_json(int_c)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ({"classic": {"svm": {"C": 1.0, "bogus": 1}}}, "classic.svm.bogus"),
        ({"classic": {"svm": {"C": "high"}}}, "classic.svm.C"),
        ({"classic": {"svm": {"C": -3.0}}}, "classic.svm.C"),
        ({"datasets": ["nosuchset"]}, "datasets.0"),
    ],
)
def test_stage_stops_with_one_line_and_exit_code_2(tmp_path, edit, key):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(edit)
    write_params(tmp_path, yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, "-m", "genbench", "train", "--dataset", "digits", "--model", "svm", "--seed", "0"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"genbench: error: params.yaml: {key}: ")
    assert not (tmp_path / "data").exists(), "a rejected stage must write nothing"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--dataset", "mnist", "--model", "svm", "--seed", "0"], "--dataset 'mnist': not in params.yaml datasets (digits)"),
        (["evaluate", "--dataset", "digits", "--model", "resnet", "--seed", "0"], "--model 'resnet': not one of params.yaml's models for this stage (xgboost, svm, logreg, featurenet, vae, gan, ddpm)"),
        (["sample", "--dataset", "digits", "--model", "svm", "--seed", "0"], "--model 'svm': not one of params.yaml's models for this stage (vae, gan, ddpm)"),
        (["train", "--dataset", "digits", "--model", "svm", "--seed", "7"], "--seed 7: not in params.yaml seeds (0, 1, 2)"),
    ],
)
def test_cli_names_outside_params(tmp_path, args, message):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    done = subprocess.run([sys.executable, "-m", "genbench", *args], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == f"genbench: error: {message}\n"


@pytest.mark.parametrize("args", [["fly"], ["train", "--dataset", "digits"], []])
def test_cli_misuse_is_a_usage_error(args):
    done = subprocess.run([sys.executable, "-m", "genbench", *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert "usage: genbench" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("preset", sorted((ROOT / "presets").glob("*.yaml")), ids=lambda p: p.name)
def test_presets_are_valid_params_files(preset):
    params = load_params(preset)
    assert yaml.safe_load(preset.read_text()).keys() == yaml.safe_load((ROOT / "params.yaml").read_text()).keys(), (
        "a preset names every section, since DVC reads the values from the file"
    )
    assert params.datasets


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("datasets: [digits]", "datasets: [digits, imagenet]", "datasets.1"),
        ("generative: [vae, gan, ddpm]", "generative: [vae, diffusion]", "models.generative.1"),
        ("classic: [xgboost, svm, logreg]", "classic: [svm, random_forest]", "models.classic.1"),
    ],
)
def test_a_name_the_spec_does_not_know_stops_every_runner_with_one_line(workspace, old, new, key):
    """genbench and Snakemake say it in one line and exit 2; DVC runs the first stage, whose line it
    shows, and then adds its own that names the stage and that exit code."""
    workspace.edit("params.yaml", old, new)
    line = f"genbench: error: params.yaml: {key}: Input should be "
    for command in (["genbench", "download", "--dataset", "digits"], ["snakemake", "-n", "--cores", "1"], ["snakemake", "--cores", "1"]):
        done = workspace.run(*command, check=False)
        assert done.returncode == 2, command
        assert done.stderr.startswith(line) and done.stderr.count("\n") == 1, (command, done.stderr)
    repro = workspace.run("dvc", "repro", check=False)
    lines = [entry for entry in (repro.stdout + repro.stderr).splitlines() if entry.startswith(("genbench:", "ERROR:"))]
    assert repro.returncode != 0 and len(lines) == 2 and lines[0].startswith(line)
    assert lines[1].startswith("ERROR: failed to reproduce 'download@digits': failed to run: genbench download --dataset digits, exited with 2")
    assert not workspace.path("data/raw").exists() and not workspace.path("reports/timings").exists()
