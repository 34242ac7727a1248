"""Malformed files at every stage boundary: each stage that reads one stops with a line naming it.

A copy of the tiny pipeline's finished run (conftest.py: tiny_run); each case damages one file,
runs every stage that dvc.yaml says depends on it, and puts the file back. A stage must exit
non-zero with one `genbench: error: <file>: ...` line and no traceback, and leave its earlier
outputs untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from genbench import cli

pytestmark = pytest.mark.faults

DATA = "data/processed/digits/data.npz"
META = "data/processed/digits/meta.json"


def npz_arrays(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def edit_arrays(change: Callable[[dict[str, np.ndarray]], None]) -> Callable[[bytes], bytes]:
    def damage(raw: bytes) -> bytes:
        arrays = npz_arrays(raw)
        change(arrays)
        return npz_bytes(arrays)

    return damage


def edit_json(change: Callable[[dict], object]) -> Callable[[bytes], bytes]:
    def damage(raw: bytes) -> bytes:
        return json.dumps(change(json.loads(raw))).encode()

    return damage


def set_item(arrays: dict, key: str, value) -> None:
    arrays[key] = value


def nan_first_pixel(arrays: dict, key: str) -> None:
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan


def truncated(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def not_zip(raw: bytes) -> bytes:
    return b"this is not the file you are looking for\n"


# (file, what is wrong, how to damage its bytes)
CASES = [
    (DATA, "truncated", truncated),
    (DATA, "not an archive", not_zip),
    (DATA, "an array missing", edit_arrays(lambda a: a.pop("y_test"))),
    (DATA, "images without a channel axis", edit_arrays(lambda a: set_item(a, "x_train", a["x_train"][:, 0]))),
    (DATA, "fewer labels than images", edit_arrays(lambda a: set_item(a, "y_train", a["y_train"][:-1]))),
    (DATA, "a label out of range", edit_arrays(lambda a: set_item(a, "y_test", a["y_test"] + 10))),
    (DATA, "a negative label", edit_arrays(lambda a: set_item(a, "y_train", a["y_train"] - 1))),
    (DATA, "a NaN pixel", edit_arrays(lambda a: nan_first_pixel(a, "x_train"))),
    (DATA, "pixels outside [0, 1]", edit_arrays(lambda a: set_item(a, "x_test", a["x_test"] * 255))),
    (
        DATA,
        "an empty test split",
        edit_arrays(lambda a: (set_item(a, "x_test", a["x_test"][:0]), set_item(a, "y_test", a["y_test"][:0]))),
    ),
    (
        DATA,
        "an empty training split",
        edit_arrays(lambda a: (set_item(a, "x_train", a["x_train"][:0]), set_item(a, "y_train", a["y_train"][:0]))),
    ),
    (DATA, "string labels", edit_arrays(lambda a: set_item(a, "y_train", a["y_train"].astype(str)))),
    (META, "truncated", truncated),
    (META, "no class names", edit_json(lambda m: {k: v for k, v in m.items() if k != "classes"})),
    (META, "class names not a list", edit_json(lambda m: m | {"classes": "0123456789"})),
    (META, "a JSON list", edit_json(lambda m: [m])),
    ("data/models/digits/seed-0/svm/model.skops", "truncated", truncated),
    ("data/models/digits/seed-0/xgboost/model.json", "truncated", truncated),
    ("data/models/digits/seed-0/xgboost/model.json", "not a model", edit_json(lambda m: {"learner": 1})),
    ("data/models/digits/seed-0/featurenet/weights.safetensors", "truncated", truncated),
    ("data/models/digits/seed-0/featurenet/config.json", "settings missing", edit_json(lambda c: {})),
    ("data/models/digits/seed-0/ddpm/weights.safetensors", "truncated", truncated),
    ("data/models/digits/seed-0/ddpm/config.json", "truncated", truncated),
    (
        "data/models/digits/seed-0/vae/config.json",
        "a width of the wrong type",
        edit_json(lambda c: c | {"hidden": "wide"}),
    ),
    ("data/models/digits/seed-0/gan/train.json", "truncated", truncated),
    ("data/samples/digits/seed-0/gan/samples.npz", "truncated", truncated),
    ("data/samples/digits/seed-0/gan/samples.npz", "a NaN pixel", edit_arrays(lambda a: nan_first_pixel(a, "x"))),
    (
        "data/samples/digits/seed-0/vae/samples.npz",
        "images of another size",
        edit_arrays(lambda a: set_item(a, "x", a["x"][:, :, :4, :4])),
    ),
    (
        "data/samples/digits/seed-0/gan/samples.npz",
        "a label out of range",
        edit_arrays(lambda a: set_item(a, "y", a["y"] + 10)),
    ),
    (
        "data/samples/digits/seed-0/ddpm/samples.npz",
        "no samples",
        edit_arrays(lambda a: (set_item(a, "x", a["x"][:0]), set_item(a, "y", a["y"][:0]))),
    ),
    ("data/samples/digits/seed-0/ddpm/sample.json", "settings missing", edit_json(lambda s: {})),
    ("data/samples/digits/seed-0/ddpm/views.npz", "truncated", truncated),
    ("data/samples/digits/seed-0/vae/views.npz", "an array missing", edit_arrays(lambda a: a.pop("001.row_labels"))),
    (
        "data/samples/digits/seed-0/vae/views.npz",
        "a grid of another image size",
        edit_arrays(lambda a: set_item(a, "000.images", a["000.images"][..., :4, :4])),
    ),
    (
        "data/samples/digits/seed-0/ddpm/views.npz",
        "fewer row labels than rows",
        edit_arrays(lambda a: set_item(a, "000.row_labels", a["000.row_labels"][:-1])),
    ),
    (
        "data/samples/digits/seed-0/ddpm/views.npz",
        "a file name with a path in it",
        edit_arrays(lambda a: set_item(a, "000.text", np.array(["../x", *a["000.text"][1:]]))),
    ),
    ("reports/metrics/digits/seed-0/svm.json", "truncated", truncated),
    (
        "reports/metrics/digits/seed-0/svm.json",
        "the accuracy missing",
        edit_json(lambda m: {k: v for k, v in m.items() if k != "accuracy"}),
    ),
    ("reports/metrics/digits/seed-0/ddpm.json", "FID not a number", edit_json(lambda m: m | {"fid": "low"})),
    ("reports/metrics/digits/references.json", "a JSON list", edit_json(lambda m: [])),
    ("reports/metrics/digits/seed-0/cas/ddpm.json", "no scores", edit_json(lambda m: {"seed": 0})),
    ("reports/metrics/digits/seed-0/cas/ddpm.json", "null scores", edit_json(lambda m: m | {"scores": None})),
    (
        "reports/metrics/digits/seed-0/cas/ddpm.json",
        "an accuracy not a number",
        edit_json(lambda m: m | {"scores": {"svm": {"accuracy": "high"}}}),
    ),
    (
        "reports/metrics/digits/references.json",
        "CAS's floor not a number",
        edit_json(lambda m: m | {"cas_real_train": {"svm": {"accuracy": "high"}}}),
    ),
    ("reports/predictions/digits/seed-0/svm.csv", "not a table of classes", lambda raw: b"\xff\xfe"),
    (
        "reports/predictions/digits/seed-0/svm.csv",
        "a prediction missing",
        lambda raw: raw[: raw.rstrip(b"\n").rfind(b"\n") + 1],
    ),
    ("reports/projections/digits/seed-0/ddpm.npz", "the features missing", edit_arrays(lambda a: a.pop("features"))),
    ("reports/timings/train/digits-svm-seed-0.json", "truncated", truncated),
    (
        "reports/timings/train/digits-svm-seed-0.json",
        "fit seconds not a number",
        edit_json(lambda r: r | {"fit_seconds": "slow"}),
    ),
    (
        "reports/timings/evaluate/digits-ddpm-seed-0.json",
        "sampler timings without steps",
        edit_json(lambda r: r | {"sampler_timings": {"samplers": {"ddim": {}}}}),
    ),
    ("reports/projections/digits/seed-0/gan.npz", "a NaN point", edit_arrays(lambda a: nan_first_pixel(a, "real"))),
    (
        "reports/model-figures/digits/seed-0/xgboost.npz",
        "a map of another shape",
        edit_arrays(lambda a: a.update({"000.values": a["000.values"][:2]})),
    ),
    (
        "reports/training/digits/seed-0/vae/plots/metrics/loss/kl.tsv",
        "a value that is not a number",
        lambda raw: raw + b"25\tlow\n",
    ),
]


# Stages that depend on a folder, or share a rule with a model that reads a file, but never open these
# files; they are not run on them.
NOT_OPENED = [
    (r"genbench (evaluate|cas) ", r"views\.npz$", "these arrays feed the report's figures"),
    (
        r"genbench report$",
        r"data/models/.*/(weights\.safetensors|config\.json|model\.skops|model\.json)$",
        "the report reads metrics, samples and the figures models drew of themselves, not the models",
    ),
    (r"genbench report$", r"sample\.json$", "whether a model is conditional reaches the report through its metrics"),
    (
        r"genbench tune --dataset \w+ --model (vae|gan|ddpm)$",
        r".",
        "without a search space (tiny.yaml gives the generative models none) a tune writes the params as given",
    ),
]


def opens(command: str, relative: str) -> bool:
    return not any(re.search(c, command) and re.search(f, relative) for c, f, _ in NOT_OPENED)


@pytest.fixture(scope="module")
def pipeline(tiny_run, tmp_path_factory) -> tuple[Path, dict[str, list[str]], dict[str, list[str]]]:
    """A copy of the tiny pipeline's finished run, and for each stage command the files it depends on."""
    from dag_export import dvc_graph

    root = tmp_path_factory.mktemp("malformed") / "repo"
    shutil.copytree(tiny_run.root, root, symlinks=True)
    before = Path.cwd()
    os.chdir(root)
    try:
        graph = dvc_graph()
    finally:
        os.chdir(before)
    deps = {command: job["deps"] for command, job in graph["jobs"].items()}
    outs = {command: job["outs"] for command, job in graph["jobs"].items()}
    return root, deps, outs


def snapshot(root: Path, outs: list[str]) -> dict[str, str]:
    files = [
        p for out in outs for p in ([root / out] if (root / out).is_file() else (root / out).rglob("*")) if p.is_file()
    ]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_every_reader_of_a_damaged_file_names_it(pipeline, monkeypatch, capsys):
    """One test for all cases, so that they share one copy of the run."""
    root, deps, outs = pipeline
    monkeypatch.chdir(root)
    failures, runs = [], 0
    for relative, problem, damage in CASES:
        readers = [
            c
            for c, files in deps.items()
            if opens(c, relative) and any(relative == f or relative.startswith(f.rstrip("/") + "/") for f in files)
        ]
        assert readers, f"no stage reads {relative}"
        path = root / relative
        intact = path.read_bytes()
        try:
            path.write_bytes(damage(intact))
            for command in readers:
                runs += 1
                kept = snapshot(root, outs[command])
                try:
                    code = cli.main(shlex.split(command)[1:])
                except Exception as e:  # what the console script would show as a traceback
                    code, err = None, f"Traceback: {type(e).__name__}: {e}"
                else:
                    err = capsys.readouterr().err
                lines = [line for line in err.splitlines() if line.startswith("genbench: error:")]
                if code == 0 or "Traceback" in err or len(lines) != 1 or relative not in lines[0]:
                    failures.append(
                        f"{relative} ({problem}): {command}: exit {code}: "
                        f"{err.strip().splitlines()[-1] if err.strip() else 'no message'}"
                    )
                elif snapshot(root, outs[command]) != kept:
                    failures.append(f"{relative} ({problem}): {command}: changed its outputs before failing")
        finally:
            path.write_bytes(intact)
    assert not failures, f"{len(failures)} of {runs} stage runs on {len(CASES)} damaged files:\n" + "\n".join(failures)
