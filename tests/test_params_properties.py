"""Generated params files: every stage either runs or stops with one line and exit code 2.

Two properties. Hostile files (wrong types, missing and extra keys, huge and negative
numbers, unicode, empty lists) are refused by every stage before it writes anything.
Plausible files (every value inside the schema's bounds, with small workloads) run the
whole pipeline, or stop at a stage with one line naming the key that does not fit the data.
GENBENCH_PROPERTY_EXAMPLES raises the number of pipelines the second property runs.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from genbench import cli
from genbench.errors import ConfigError
from genbench.models import registry
from genbench.models.base import Kind
from genbench.validate import load_params

pytestmark = pytest.mark.faults

CLASSIC_MODELS, GENERATIVE_MODELS = registry.names(Kind.CLASSIC), registry.names(Kind.GENERATIVE)
TINY = yaml.safe_load((Path(__file__).parent / "params/tiny.yaml").read_text())
STAGES = [
    ["download", "--dataset", "digits"],
    ["preprocess", "--dataset", "digits"],
    *[["tune", "--dataset", "digits", "--model", model] for model in CLASSIC_MODELS],
    *[
        [stage, "--dataset", "digits", "--model", model, "--seed", "0"]
        for stage in ("train", "evaluate")
        for model in (*CLASSIC_MODELS, "featurenet", *GENERATIVE_MODELS)
    ],
    *[["sample", "--dataset", "digits", "--model", model, "--seed", "0"] for model in GENERATIVE_MODELS],
    *[["cas", "--dataset", "digits", "--model", model, "--seed", "0"] for model in TINY["models"]["cas"]],
    ["references", "--dataset", "digits"],
    ["report"],
]


def leaves(tree: dict, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a params tree, sections included."""
    found = []
    for key, value in tree.items():
        found.append((*prefix, key))
        if isinstance(value, dict):
            found += leaves(value, (*prefix, key))
    return found


KEY_PATHS = leaves(TINY)
hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "1e3", "0x10", "yes", "∞", "naïve", "digits\u0000"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def hostile_documents(draw) -> dict:
    document = copy.deepcopy(TINY)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(KEY_PATHS))
        parent = document
        for key in path[:-1]:
            if not isinstance(parent.get(key), dict):
                break
            parent = parent[key]
        else:
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(hostile_values)
            elif action == "delete":
                parent.pop(path[-1], None)
            else:
                parent[draw(st.text(min_size=1, max_size=10))] = draw(hostile_values)
    return document


def files_in(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder holding the digits dataset's raw and processed files, where stages run."""
    root = tmp_path_factory.mktemp("params")
    (root / "params.yaml").write_text(yaml.safe_dump(TINY))
    before = Path.cwd()
    os.chdir(root)
    try:
        for stage in STAGES[:2]:
            assert cli.main(["--params", "params.yaml", *stage]) == 0
    finally:
        os.chdir(before)
    return root


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
@given(document=hostile_documents(), stage=st.sampled_from(STAGES))
def test_a_hostile_params_file_is_refused_by_every_stage_before_it_writes(folder, monkeypatch, capsys, document, stage):
    params = folder / "hostile.yaml"
    params.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        load_params(params)
        assume(False)  # still a valid file: the plausible property below runs those
    except ConfigError:
        pass
    monkeypatch.chdir(folder)
    capsys.readouterr()
    before = files_in(folder)
    code = cli.main(["--params", "hostile.yaml", *stage])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("genbench: error: hostile.yaml: "), err
    assert files_in(folder) == before


@st.composite
def plausible_documents(draw) -> dict:
    """Any values inside the schema's bounds, with workloads small enough to run the whole pipeline."""
    small, unit = st.integers, st.floats
    subset = lambda names: st.lists(st.sampled_from(names), unique=True, max_size=len(names))  # noqa: E731
    timesteps, n_samples, seed = draw(small(2, 40)), draw(small(10, 40)), draw(small(0, 2**32 - 1))
    generative, gan_conditional = draw(subset(list(GENERATIVE_MODELS))), draw(st.booleans())
    conditional = [m for m in generative if m in ("ddpm", "ldm", "cnf", "ebm") or (m == "gan" and gan_conditional)]
    ldm_steps = draw(small(2, 10))
    return {
        "seeds": [seed],
        "datasets": ["digits"],
        "models": {
            "classic": draw(subset(list(CLASSIC_MODELS))),
            "generative": generative,
            "cas": draw(subset(conditional)) if conditional else [],
        },
        "data": {
            "seed": draw(small(0, 2**32 - 1)),
            "test_fraction": draw(unit(0.05, 0.6)),
            "val_fraction": draw(st.sampled_from([0.0, 0.01, 0.1, 0.5])),
        },
        "classic": {
            "xgboost": {
                "n_estimators": draw(small(1, 10)),
                "max_depth": draw(small(1, 6)),
                "learning_rate": draw(unit(0.01, 1.0)),
                "subsample": draw(unit(0.1, 1.0)),
                "colsample_bytree": draw(unit(0.1, 1.0)),
                "n_jobs": 1,
            },
            "svm": {
                "C": draw(unit(1e-3, 1e3)),
                "kernel": draw(st.sampled_from(["rbf", "linear", "poly", "sigmoid"])),
                "gamma": draw(st.one_of(st.sampled_from(["scale", "auto"]), unit(1e-4, 10.0))),
                "max_train_samples": draw(st.one_of(st.none(), small(1, 500))),
            },
            "logreg": {"C": draw(unit(1e-3, 1e3)), "max_iter": draw(small(1, 200))},
        },
        "train": {
            "device": "cpu",
            "threads": 1,
            "checkpoint_every": draw(small(1, 20)),
            "log_every": draw(small(1, 20)),
        },
        "featurenet": {
            "steps": draw(small(1, 20)),
            "batch_size": draw(small(1, 64)),
            "lr": draw(unit(1e-4, 0.1)),
            "width": draw(small(4, 12)),
            "feature_dim": draw(small(2, 16)),
        },
        "generative": {
            "vae": {
                "steps": draw(small(1, 15)),
                "batch_size": draw(small(1, 64)),
                "latent_dim": draw(small(1, 8)),
                "hidden": draw(small(4, 12)),
                "beta": draw(unit(0.01, 4.0)),
                "likelihood": draw(st.sampled_from(["bernoulli", "gaussian"])),
            },
            "gan": {
                "steps": draw(small(1, 15)),
                "batch_size": draw(small(2, 64)),
                "z_dim": draw(small(1, 8)),
                "hidden": draw(small(4, 12)),
                "conditional": gan_conditional,
                "loss": draw(st.sampled_from(["hinge", "non_saturating"])),
            },
            "ddpm": {
                "steps": draw(small(1, 10)),
                "batch_size": draw(small(1, 32)),
                "base_channels": draw(st.sampled_from([8, 16])),
                "channel_multipliers": draw(st.lists(small(1, 2), min_size=1, max_size=3)),
                "blocks_per_level": draw(small(1, 2)),
                "schedule": draw(st.sampled_from(["linear", "cosine"])),
                "timesteps": timesteps,
                "ema_decay": draw(unit(0.0, 0.999)),
                "p_uncond": draw(unit(0.0, 1.0)),
            },
            "ldm": {
                "steps": ldm_steps,
                "autoencoder_steps": draw(small(1, ldm_steps - 1)),
                "batch_size": draw(small(1, 32)),
                "downsample": draw(st.sampled_from([1, 2, 4, 8])),
                "latent_channels": draw(small(1, 4)),
                "autoencoder_channels": 8,
                "kl_weight": draw(unit(0.0, 1.0)),
                "base_channels": draw(st.sampled_from([8, 16])),
                "channel_multipliers": draw(st.lists(small(1, 2), min_size=1, max_size=3)),
                "text_width": draw(st.sampled_from([8, 16])),
                "text_layers": draw(small(1, 2)),
                "max_tokens": draw(small(6, 24)),
                "vocab_size": draw(small(16, 128)),
                "schedule": draw(st.sampled_from(["linear", "cosine"])),
                "timesteps": timesteps,
                "p_uncond": draw(unit(0.0, 1.0)),
                "p_drop_word": draw(unit(0.0, 1.0)),
                "held_out": draw(st.sampled_from([{}, {"digits": [["7", "thick"], ["2", "slanted left"]]}])),
            },
            "cnf": {
                "steps": draw(small(1, 10)),
                "batch_size": draw(small(1, 32)),
                "hidden": draw(small(4, 32)),
                "layers": draw(small(1, 3)),
                "class_channels": draw(small(1, 8)),
                "kinetic_weight": draw(unit(0.0, 1.0)),
                "jacobian_weight": draw(unit(0.0, 1.0)),
                "solver": draw(st.sampled_from(["rk4", "midpoint", "euler"])),
                "solver_steps": draw(small(1, 4)),
                "adjoint": draw(st.booleans()),
            },
            "ebm": {
                "steps": draw(small(1, 10)),
                "batch_size": draw(small(1, 32)),
                "width": draw(st.sampled_from([4, 8])),
                "hidden": draw(small(4, 32)),
                "langevin_steps": draw(small(1, 5)),
                "step_size": draw(unit(0.01, 2.0)),
                "noise": draw(unit(0.0, 0.1)),
                "buffer_size": draw(small(1, 200)),
                "reinit": draw(unit(0.0, 1.0)),
                "data_noise": draw(unit(0.0, 0.1)),
                "energy_weight": draw(unit(0.0, 1.0)),
                "classifier_weight": draw(unit(0.0, 2.0)),
            },
        },
        "sampling": {
            "vae": {"temperature": draw(unit(0.01, 3.0))},
            "gan": {"truncation": draw(st.one_of(st.none(), unit(0.05, 3.0)))},
            "ddpm": {
                "sampler": draw(st.sampled_from(["ddim", "ancestral"])),
                "steps": draw(small(1, 2 * timesteps)),
                "eta": draw(unit(0.0, 1.0)),
                "guidance": draw(unit(0.0, 5.0)),
            },
            "ldm": {
                "steps": draw(small(1, 2 * timesteps)),
                "eta": draw(unit(0.0, 1.0)),
                "guidance": draw(unit(0.0, 5.0)),
            },
            "cnf": {
                "temperature": draw(unit(0.01, 3.0)),
                "solver": draw(st.sampled_from(["dopri5", "rk4", "midpoint", "euler"])),
                "solver_steps": draw(small(1, 4)),
            },
            "ebm": {
                "steps": draw(small(1, 20)),
                "step_size": draw(unit(0.01, 2.0)),
                "noise": draw(unit(0.0, 0.1)),
            },
        },
        "tune": {
            "trials": draw(small(0, 3)),
            "seed": draw(small(0, 2**32 - 1)),
            "space": {
                "svm": {"C": {"low": 0.01, "high": 100.0, "log": True}},
                "xgboost": {"max_depth": {"low": 1, "high": 4}, "learning_rate": {"low": 0.05, "high": 1.0}},
                "logreg": {"C": {"choices": [0.1, 1.0, 10.0]}},
            },
        },
        "evaluate": {
            "n_samples": n_samples,
            "kid_subsets": draw(small(1, 10)),
            "nearest_neighbours": draw(small(1, min(12, n_samples - 1))),
            "iwae_samples": draw(small(1, 10)),
            "ddpm_bound": draw(st.booleans()),
            "timing_samples": draw(small(1, 5)),
            "feature_seed": seed,
            "bootstrap_resamples": draw(small(20, 40)),
        },
    }


def pipeline_commands(document: dict) -> list[list[str]]:
    models, seed = document["models"], str(document["seeds"][0])
    every = [*models["classic"], "featurenet", *models["generative"]]
    return [
        *[["tune", "--dataset", "digits", "--model", m] for m in [*models["classic"], "featurenet"]],
        *[["train", "--dataset", "digits", "--model", m, "--seed", seed] for m in [*models["classic"], "featurenet"]],
        *[["tune", "--dataset", "digits", "--model", m] for m in models["generative"]],  # judged in its features
        *[["train", "--dataset", "digits", "--model", m, "--seed", seed] for m in models["generative"]],
        *[["sample", "--dataset", "digits", "--model", m, "--seed", seed] for m in models["generative"]],
        *[["evaluate", "--dataset", "digits", "--model", m, "--seed", seed] for m in every],
        *[["cas", "--dataset", "digits", "--model", m, "--seed", seed] for m in models["cas"]],
        ["references", "--dataset", "digits"],
        ["report"],
    ]


@settings(
    max_examples=int(os.environ.get("GENBENCH_PROPERTY_EXAMPLES", "3")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=plausible_documents())
def test_a_plausible_params_file_runs_every_stage_or_names_the_key(
    folder, tmp_path_factory, monkeypatch, capsys, document
):
    run_dir = tmp_path_factory.mktemp("plausible")
    shutil.copytree(folder / "data/raw", run_dir / "data/raw")
    (run_dir / "params.yaml").write_text(yaml.safe_dump(document))
    load_params(run_dir / "params.yaml")  # the strategy keeps inside the schema
    monkeypatch.chdir(run_dir)
    for command in [
        ["download", "--dataset", "digits"],
        ["pretrained"],
        ["preprocess", "--dataset", "digits"],
        *pipeline_commands(document),
    ]:
        capsys.readouterr()
        code = cli.main(command)
        err = capsys.readouterr().err
        if code == 2:  # a value the schema allows that this data cannot honour: one line naming it, then stop
            lines = [line for line in err.splitlines() if line.startswith("genbench: error:")]
            assert len(lines) == 1 and re.match(r"genbench: error: params\.yaml: [a-z_]+(\.[a-z_]+)*: ", lines[0]), err
            event(f"{command[0]} stopped: {lines[0].split(': ')[3]}")
            return
        assert code == 0, f"{' '.join(command)} exited {code}: {err.strip().splitlines()[-1:]}"
    assert (run_dir / "reports/index.html").stat().st_size > 0
    event("every stage ran")
