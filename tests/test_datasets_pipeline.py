"""The whole pipeline on datasets fetched over HTTP: IDX and CIFAR-10 binary files from a loopback mirror."""

from __future__ import annotations

import json

import pytest

import browser
from fake_data import FileServer, cifar_archive, mnist_like_files, register_datasets, sha256

pytestmark = pytest.mark.pipeline


# A class label that would run if the report did not escape text from the data.
SCRIPT_LABEL = "<script>window.__genbench_injected = true</script>"


def test_dvc_repro_on_downloaded_idx_and_cifar_datasets(workspace):
    mnist_files = mnist_like_files()
    cifar_files = {"cifar-10-binary.tar.gz": cifar_archive()}
    mnist_classes = (SCRIPT_LABEL, *map(str, range(1, 10)))
    register_datasets(workspace, {"tinymnist": ("MNIST", mnist_files), "tinycifar": ("CIFAR10", cifar_files)}, {"tinymnist": mnist_classes})
    workspace.edit("params.yaml", "datasets: [digits]", "datasets: [digits, tinymnist, tinycifar]")
    workspace.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: []")  # tested elsewhere; saves time
    served = {f"/mirror/tinymnist/{n}": d for n, d in mnist_files.items()}
    # CIFAR's archive is put in place by hand instead: it must be used as it is.
    workspace.path("data/raw/tinycifar").mkdir(parents=True)
    workspace.path("data/raw/tinycifar/cifar-10-binary.tar.gz").write_bytes(cifar_files["cifar-10-binary.tar.gz"])

    corrupt = {path: data[:-1] + b"!" for path, data in served.items()}
    with FileServer(corrupt) as server:
        workspace.extra_env["GENBENCH_DATA_MIRROR"] = server.url + "/mirror"
        failed = workspace.run("genbench", "download", "--dataset", "tinymnist", check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "train-images-idx3-ubyte.gz from http://127.0.0.1" in failed.stderr and "expected " + sha256(mnist_files["train-images-idx3-ubyte.gz"]) in failed.stderr
    assert sorted(p.name for p in workspace.path("data/raw/tinymnist").iterdir()) == [], "nothing under a final name"

    with FileServer(served) as server:
        workspace.extra_env["GENBENCH_DATA_MIRROR"] = server.url + "/mirror"
        ran = workspace.dvc_repro()
    # per dataset: download, preprocess, 4 classifiers x (train, evaluate) and the references (floor and ceiling)
    assert len(ran) == 3 * (2 + 2 * 4 + 1) + 1
    assert sorted(path for path, _ in server.requests) == sorted(served), "each file fetched once, CIFAR never"

    mnist_meta = json.loads(workspace.path("data/processed/tinymnist/meta.json").read_text())
    assert mnist_meta["image_shape"] == [1, 28, 28]
    assert mnist_meta["sizes"]["test"] == 40, "the official test split is kept"
    assert mnist_meta["raw_sha256"] == {n: sha256(d) for n, d in mnist_files.items()}
    cifar_meta = json.loads(workspace.path("data/processed/tinycifar/meta.json").read_text())
    assert cifar_meta["image_shape"] == [3, 32, 32] and cifar_meta["classes"][0] == "airplane"
    assert cifar_meta["sizes"] == {"train": 90, "val": 10, "test": 20}

    for dataset in ("digits", "tinymnist", "tinycifar"):
        for model in ("xgboost", "svm", "logreg"):
            metrics = json.loads(workspace.path(f"reports/metrics/{dataset}/seed-0/{model}.json").read_text())
            assert 0 <= metrics["accuracy"] <= 1
    classifiers = ["xgboost", "svm", "logreg", "featurenet"]
    page = browser.open_report(workspace.path("reports/index.html"), "report-three-datasets.png")
    assert (page.console_errors, page.failed_requests, page.page_errors, page.undecoded_images) == ([], [], [], [])
    assert page.models_by_table == {f"{d}/classifiers": classifiers for d in ("digits", "tinymnist", "tinycifar")}
    assert not page.injected and SCRIPT_LABEL in page.text, "a label from the data is shown as text, never run"

    # A model taken out of params leaves the report; nothing but the report reruns.
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [xgboost, svm]")
    assert workspace.dvc_repro() == ["report"]
    report = workspace.path("reports/index.html").read_text()
    assert report.count('<table class="summary"') == 3 and 'data-model="logreg"' not in report
    assert report.count('data-model="svm"') == 3

    # Offline now: the downloaded files are verified in place, nothing is fetched again.
    workspace.extra_env["GENBENCH_DATA_MIRROR"] = "http://127.0.0.1:9"
    workspace.edit("params.yaml", "retries: 4", "retries: 0")
    assert sorted(workspace.dvc_repro()) == ["download@digits", "download@tinycifar", "download@tinymnist", "report"]
