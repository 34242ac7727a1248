"""params.yaml validation: one line naming the key, the value and what is allowed; exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genbench import config
from genbench.config import ConfigError, canonical_json
from genbench.validate import load_params

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
        (
            "classic: {svm: {C: 1, degree: 3}}",
            "classic.svm.degree: unknown key; allowed keys here: C, kernel, gamma, max_train_samples",
        ),
        (
            "colour: red",
            "colour: unknown key; allowed keys here: seeds, datasets, own_datasets, models, download, data, classic, "
            "train, featurenet, generative, sampling, evaluate, tune, resources",
        ),
        ("classic: {svm: {C: '3'}}", "classic.svm.C: Input should be a valid number (got '3')"),
        ("classic: {svm: {C: -1.5}}", "classic.svm.C: Input should be greater than 0 (got -1.5)"),
        (
            "datasets: [digits, imagenet]",
            "datasets: 'imagenet' is neither a registry dataset (digits, mnist, fashion_mnist, cifar10) nor a key of "
            "own_datasets (none)",
        ),
        (
            "own_datasets: {mnist: {path: data/own/m, channels: 1}}",
            "own_datasets.mnist: the name of a registry dataset; choose another",
        ),
        (
            "own_datasets: {'my set': {path: data/own/m, channels: 1}}",
            "own_datasets.my set.[key]: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_]{0,63}$' (got 'my set')",
        ),
        (
            "own_datasets: {m: {path: data/own/m, channels: 2}}",
            "own_datasets.m.channels: Input should be 1 or 3 (got 2)",
        ),
        (
            "datasets: [m]\nmodels: {generative: [vae, gan, ddpm]}\nown_datasets: {m: {path: data/own/m, channels: "
            "1, size: [30, 30]}}",
            "own_datasets.m.size: 30x30: vae needs sides divisible by 4, gan needs sides divisible by 4, ddpm needs "
            "sides divisible by 4; declare a size such as 32x32 (fit: pad or resize)",
        ),
        (
            "models: {generative: [vae, ddpm], cas: [vae]}",
            "models.cas: vae draws unconditional samples, which have no class to score; list only conditional models "
            "(here: ddpm)",
        ),
        (
            "models: {generative: [gan], cas: [gan]}\ngenerative: {gan: {conditional: false}}",
            "models.cas: gan draws unconditional samples, which have no class to score; list only conditional models "
            "(here: none)",
        ),
        (
            "models: {generative: [ddpm], cas: [gan]}",
            "models.cas: gan is not in models.generative; list it there too, or drop it here",
        ),
        (
            "tune: {space: {svm: {degree: {low: 2, high: 5}}}}",
            "tune.space.svm.degree: unknown key; the model's keys: C, kernel, gamma, max_train_samples",
        ),
        (
            "tune: {space: {svm: {C: {low: 10, high: 1}}}}",
            "tune.space.svm.C: an empty range: low 10 is not below high 1 (got {'low': 10, 'high': 1})",
        ),
        (
            "tune: {space: {svm: {C: {low: 0, high: 10, log: true}}}}",
            "tune.space.svm.C: a log range starts above 0 (got low 0) (got {'low': 0, 'high': 10, 'log': True})",
        ),
        (
            "tune: {space: {xgboost: {max_depth: {low: 2, high: 6.5}}}}",
            "tune.space.xgboost.max_depth: an integer setting: low and high must be whole numbers (got 2, 6.5)",
        ),
        (
            "tune: {space: {svm: {kernel: {choices: [rbf, cubic]}}}}",
            "tune.space.svm.kernel: 'cubic' is not a value the model takes: Input should be 'rbf', 'linear', 'poly' or "
            "'sigmoid'",
        ),
        (
            "tune: {space: {svm: {kernel: {low: 1, high: 2}}}}",
            "tune.space.svm.kernel: a range needs a numeric setting; give choices",
        ),
        (
            "tune: {space: {resnet: {lr: {low: 0.1, high: 2}}}}",
            "tune.space.resnet: not a registered model (xgboost, svm, logreg, featurenet, vae, gan, ddpm, ldm, cnf, "
            "ebm)",
        ),
        (
            "tune: {space: {gan: {conditional: {choices: [true, false]}}}}",
            "tune.space.gan.conditional: False changes whether the model is conditional, its role in the "
            "comparison; not searchable",
        ),
        ("tune: {trials: -1}", "tune.trials: Input should be greater than or equal to 0 (got -1)"),
        ("datasets: []", "datasets: List should have at least 1 item after validation, not 0 (got [])"),
        ("models: {classic: [svm, svm]}", "models.classic: names must be unique; repeated: svm (got ['svm', 'svm'])"),
        ("seeds: [true]", "seeds.0: Input should be a valid integer (got True)"),
        ("seeds: [0, 0]", "seeds: names must be unique; repeated: 0 (got [0, 0])"),
        ("seeds: []", "seeds: List should have at least 1 item after validation, not 0 (got [])"),
        (
            "seeds: [1, 2]",
            "evaluate.feature_seed: 0 is not one of seeds (1, 2); the feature space is the featurenet of one of the "
            "seeds",
        ),
        ("data: {test_fraction: 1.5}", "data.test_fraction: Input should be less than 1 (got 1.5)"),
        (
            "sampling: {ldm: {guidance_interval: [0.7, 0.2]}}",
            "sampling.ldm.guidance_interval: must be [low, high] with 0 <= low <= high <= 1 (got [0.7, 0.2])",
        ),
        (
            "sampling: {ddpm: {guidance_interval: [0.5, 1.5]}}",
            "sampling.ddpm.guidance_interval: must be [low, high] with 0 <= low <= high <= 1 (got [0.5, 1.5])",
        ),
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


@pytest.mark.parametrize(
    "load", [load_params, config.load_params], ids=["validated whole", "a model's section as given"]
)
def test_canonical_json_normalises_numbers(tmp_path, load):
    int_c = load(write_params(tmp_path, "classic: {svm: {C: 5}}")).section("classic.svm")
    float_c = load(write_params(tmp_path, "classic: {svm: {C: 5.0}}")).section("classic.svm")
    other_c = load(write_params(tmp_path, "classic: {svm: {C: 5.5}}")).section("classic.svm")
    assert canonical_json(int_c) == canonical_json(float_c) != canonical_json(other_c)
    assert '"C":5' in canonical_json(int_c) and '"C":5.5' in canonical_json(other_c)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ({"classic": {"svm": {"C": 1.0, "bogus": 1}}}, "classic.svm.bogus"),
        ({"classic": {"svm": {"C": "high"}}}, "classic.svm.C"),
        ({"classic": {"svm": {"C": -3.0}}}, "classic.svm.C"),
        ({"datasets": ["nosuchset"]}, "datasets"),
    ],
)
def test_stage_stops_with_one_line_and_exit_code_2(tmp_path, edit, key):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(edit)
    write_params(tmp_path, yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, "-m", "genbench", "train", "--dataset", "digits", "--model", "svm", "--seed", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"genbench: error: params.yaml: {key}: ")
    assert not (tmp_path / "data").exists(), "a rejected stage must write nothing"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--dataset", "mnist", "--model", "svm", "--seed", "0"],
            "--dataset 'mnist': not in params.yaml datasets (digits)",
        ),
        (
            ["evaluate", "--dataset", "digits", "--model", "resnet", "--seed", "0"],
            "--model 'resnet': not one of params.yaml's models for this stage (xgboost, svm, logreg, featurenet, "
            "vae, gan, ddpm, ldm, cnf, ebm)",
        ),
        (
            ["sample", "--dataset", "digits", "--model", "svm", "--seed", "0"],
            "--model 'svm': not one of params.yaml's models for this stage (vae, gan, ddpm, ldm, cnf, ebm)",
        ),
        (
            ["train", "--dataset", "digits", "--model", "svm", "--seed", "7"],
            "--seed 7: not in params.yaml seeds (0, 1, 2)",
        ),
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
def test_presets_are_valid_params_files(preset, workspace):
    params = load_params(preset)
    assert yaml.safe_load(preset.read_text()).keys() == yaml.safe_load((ROOT / "params.yaml").read_text()).keys(), (
        "a preset names every section, since DVC reads the values from the file"
    )
    assert params.datasets
    workspace.set_params(preset.read_text())
    listed = workspace.run("dvc", "stage", "list", check=False)
    assert listed.returncode == 0, f"DVC cannot read dvc.yaml's values from {preset.name}: {listed.stderr.strip()}"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("datasets: [digits]", "datasets: [digits, imagenet]", "datasets: 'imagenet' is neither a registry dataset"),
        ("generative: [vae, gan, ddpm]", "generative: [vae, diffusion]", "models.generative.1: Input should be "),
        ("classic: [xgboost, svm, logreg]", "classic: [svm, random_forest]", "models.classic.1: Input should be "),
    ],
)
def test_a_name_the_spec_does_not_know_stops_every_runner_with_one_line(workspace, old, new, says):
    """genbench and Snakemake say it in one line and exit 2; DVC runs the first stage, whose line it
    shows, and then adds its own that names the stage and that exit code."""
    workspace.edit("params.yaml", old, new)
    line = f"genbench: error: params.yaml: {says}"
    for command in (
        ["genbench", "download", "--dataset", "digits"],
        ["snakemake", "-n", "--cores", "1"],
        ["snakemake", "--cores", "1"],
    ):
        done = workspace.run(*command, check=False)
        assert done.returncode == 2, command
        assert done.stderr.startswith(line) and done.stderr.count("\n") == 1, (command, done.stderr)
    repro = workspace.run("dvc", "repro", check=False)
    lines = [entry for entry in (repro.stdout + repro.stderr).splitlines() if entry.startswith(("genbench:", "ERROR:"))]
    assert repro.returncode != 0 and len(lines) == 2 and lines[0].startswith(line)
    assert lines[1].startswith(
        "ERROR: failed to reproduce 'download@digits': failed to run: genbench download --dataset digits, exited with 2"
    )
    assert not workspace.path("data/raw").exists() and not workspace.path("reports/timings").exists()


def class_folders(root: Path, counts: dict[str, int]) -> None:
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(b"")  # the layout check only counts names


@pytest.mark.parametrize(
    ("path", "counts", "says"),
    [
        (
            "elsewhere/shapes",
            None,
            "own_datasets.shapes.path: elsewhere/shapes is not inside data/own/, the folder both runners track",
        ),
        ("data/own/../shapes", None, "own_datasets.shapes.path: data/own/../shapes is not inside data/own/"),
        ("data/own/shapes", None, "own_datasets.shapes.path: data/own/shapes: folder not found"),
        ("data/own/shapes.npz", None, "own_datasets.shapes.path: data/own/shapes.npz: file not found"),
        ("data/own/shapes", {"circle": 8}, "data/own/shapes: 1 class found (circle); a dataset needs two or more"),
        ("data/own/shapes", {"circle": 8, "square": 0}, "data/own/shapes: class 'square' has no images"),
        (
            "data/own/shapes",
            {"circle": 20, "square": 12},
            "data/own/shapes: class 'square' has 12 images; data.test_fraction 0.2 and data.val_fraction 0.1 need at "
            "least 13 per class for the stratified splits",
        ),
    ],
)
def test_an_own_dataset_that_cannot_be_split_is_refused_before_any_stage(tmp_path, monkeypatch, path, counts, says):
    monkeypatch.chdir(tmp_path)
    if counts is not None:
        class_folders(tmp_path / path, counts)
    params = write_params(
        tmp_path, f"datasets: [shapes]\nown_datasets: {{shapes: {{path: {path}, channels: 1, size: [8, 8]}}}}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_params(params)
    message = str(error.value)
    assert says in message and "\n" not in message


def test_an_own_class_folder_holds_images_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    class_folders(tmp_path / "data/own/shapes", {"circle": 13, "square": 13})
    (tmp_path / "data/own/shapes/square/notes.txt").write_text("x")
    (tmp_path / "data/own/shapes/.DS_Store").write_text("x")  # hidden entries and files beside the classes are skipped
    (tmp_path / "data/own/shapes/README.md").write_text("x")
    params = write_params(
        tmp_path, "datasets: [shapes]\nown_datasets: {shapes: {path: data/own/shapes, channels: 1}}\n"
    )
    with pytest.raises(ConfigError, match=r"^data/own/shapes/square/notes.txt: not a PNG or JPEG file"):
        load_params(params)
    (tmp_path / "data/own/shapes/square/notes.txt").unlink()
    assert load_params(params).own_datasets["shapes"].size is None
