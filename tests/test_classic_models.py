"""Classic model files: round trips, determinism, and refusal of crafted files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from genbench.errors import DataError
from genbench.models import base
from genbench.models.base import module_of as module_for
from genbench.validate import whole_schema

Params = whole_schema()  # every model's section typed


@pytest.fixture(scope="module")
def toy_data():
    rng = np.random.default_rng(0)
    x = rng.random((90, 16), dtype=np.float64).astype(np.float32)
    y = np.arange(90) % 3
    x[np.arange(90), y] += 1.0  # learnable
    return x, y


@pytest.mark.parametrize("model", ["xgboost", "svm", "logreg"])
def test_save_load_round_trip_is_exact_and_deterministic(tmp_path, toy_data, model):
    x, y = toy_data
    module = module_for(model)
    settings = base.settings(Params(classic={"xgboost": {"n_estimators": 5, "n_jobs": 1}}), model, module)
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        module.save(module.build(settings, 0).fit(x, y), folder)
    files = sorted(p.name for p in first.iterdir())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    restored = module.load(first)
    reference = module.build(settings, 0).fit(x, y)
    np.testing.assert_array_equal(restored.predict(x), reference.predict(x))


FIT_XGBOOST = """
import sys
from pathlib import Path
import numpy as np
from sklearn.datasets import load_digits
from genbench.models import base, classic
from genbench.validate import whole_schema
x, y = load_digits(return_X_y=True)
x = (x[:500] / 16).astype(np.float32).reshape(-1, 1, 8, 8)
module = base.module_of("xgboost")
settings = {"n_estimators": 30, "max_depth": 8, "colsample_bytree": 0.72, "learning_rate": 0.04, "n_jobs": 2}
settings = base.settings(whole_schema()(classic={"xgboost": settings}), "xgboost", module)
module.save(classic.fit(module, settings, x, y[:500], 0, "classic.xgboost")[0], Path(sys.argv[1]))
"""


def test_xgboost_fits_the_same_trees_whatever_omp_num_threads_the_runner_sets(tmp_path):
    """Snakemake sets OMP_NUM_THREADS=1 for a one-thread job, dvc leaves it unset (as many threads as cores):
    the trees of n_jobs 2 must not depend on which runner fitted them. Unfixed, these two differ."""
    trees = {}
    for omp in ("1", "2"):
        folder = tmp_path / f"omp-{omp}"
        folder.mkdir()
        env = os.environ | {"OMP_NUM_THREADS": omp}
        subprocess.run([sys.executable, "-c", FIT_XGBOOST, str(folder)], env=env, check=True)
        trees[omp] = (folder / "model.json").read_bytes()
    assert trees["1"] == trees["2"]


def test_skops_refuses_a_crafted_type(tmp_path, toy_data):
    module = module_for("svm")
    module.save(module.build(module.Params(), 0).fit(*toy_data), tmp_path)
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    schema = json.loads(members["schema.json"])
    schema["__module__"], schema["__class__"] = "os", "system"
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(DataError, match=r"model.skops: refusing to load untrusted types os.system"):
        module.load(tmp_path)


@pytest.mark.parametrize("model", ["svm", "xgboost"])
def test_a_pickle_in_place_of_a_model_is_refused(tmp_path, model):
    module = module_for(model)
    file_name = "model.skops" if model == "svm" else "model.json"
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCode(str(marker)))
    (tmp_path / file_name).write_bytes(payload)
    with pytest.raises(DataError, match=f"{file_name}: not a readable"):
        module.load(tmp_path)
    assert not marker.exists()


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(DataError, match="model.json: file not found"):
        module_for("xgboost").load(tmp_path)
    with pytest.raises(DataError, match="model.skops: file not found"):
        module_for("logreg").load(tmp_path)


def test_a_classic_model_saves_and_loads_without_importing_torch(tmp_path, toy_data):
    """skops lists scikit-learn's estimators when imported, and that walk would import torch through
    sklearn.externals; a classic stage needs none of it, and skops trusts the same types either way."""
    np.savez(tmp_path / "toy.npz", x=toy_data[0], y=toy_data[1])
    trusted = "import skops.io._trusted_types as t; print(t.SKLEARN_ESTIMATOR_TYPE_NAMES)\n"
    by_genbench = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from genbench.models import logreg, sklearn_format\n"
        f"data, folder = np.load({str(tmp_path / 'toy.npz')!r}), Path({str(tmp_path)!r})\n"
        "sklearn_format.save(logreg.build(logreg.Params(), 0).fit(data['x'], data['y']), folder)\n"
        "restored = sklearn_format.load(folder)\n"
        "assert (restored.predict(data['x']) == data['y']).mean() > 0.9\n"
        "print(sorted(name for name in sys.modules if name == 'torch' or name.startswith('torch.')))\n"
    )
    torch_modules, genbench_trusts = _python(by_genbench + trusted).splitlines()
    assert torch_modules == "[]"
    assert genbench_trusts == _python(trusted).strip() and "sklearn.svm._classes.SVC" in genbench_trusts


def _python(script: str) -> str:
    """What a fresh interpreter prints running `script`."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
