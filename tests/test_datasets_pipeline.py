"""The whole pipeline, every deep model and XGBoost, on images of 28x28x1 fetched over HTTP (IDX files from a
loopback mirror) beside a folder of your own images, and on 32x32x3 images (a CIFAR-10 binary archive). The SVM
and logistic regression read the same flattened pixels as XGBoost (models/classic.py) and are left out, and the
CIFAR run is a test of its own: DVC rewrites the whole dvc.lock after each stage, so a stage costs more the more
stages share the file."""

from __future__ import annotations

import csv
import json

import browser
import numpy as np
import pytest
from fake_data import FileServer, cifar_archive, mnist_like_files, register_datasets, sha256
from PIL import Image, ImageDraw

pytestmark = pytest.mark.pipeline


# A class label that would run if the report did not escape text from the data.
SCRIPT_LABEL = "<script>window.__genbench_injected = true</script>"
OWN_CLASSES = ("circle", "<b>square", "triangle")  # folder names; the second must be shown as text
SHAPES = {"tinymnist": (1, 28, 28), "tinycifar": (3, 32, 32), "shapes": (3, 16, 16)}
TEST_SIZES = {"tinymnist": 40, "tinycifar": 20, "shapes": 24}  # asserted from each dataset's meta.json
GENERATIVE = ("vae", "gan", "ddpm", "ldm", "cnf", "ebm")
# per dataset: download, preprocess, the references, a tune per model (8), 2 classifiers x (train, evaluate),
# 6 generative models x (train, sample, evaluate), 5 conditional ones' CAS
STAGES_PER_DATASET = 3 + 8 + 2 * 2 + 6 * 3 + 5


def draw_shapes(root, per_class: int = 40) -> None:
    """Three classes of one bright shape each on a dark ground, at two sizes (12 and 20 pixels) and jittered,
    with a captions.csv that says each image's colour, shape and size."""
    rng = np.random.default_rng(0)
    rows = [("file", "caption")]
    for label, cls in enumerate(OWN_CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            side = (12, 20)[i % 2]
            image = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 60, 3)))
            pen = ImageDraw.Draw(image)
            a, b = rng.integers(0, side // 4, 2), side - 1 - rng.integers(0, side // 4, 2)
            colour = ((255, 200, 0), (0, 200, 255), (255, 0, 200))[label]
            if label == 0:
                pen.ellipse([*a, *b], fill=colour)
            elif label == 1:
                pen.rectangle([*a, *b], fill=colour)
            else:
                pen.polygon([(a[0], b[1]), (b[0], b[1]), ((a[0] + b[0]) // 2, a[1])], fill=colour)
            image.save(root / cls / f"{i:03d}.png")
            words = (("yellow", "circle"), ("cyan", "square"), ("magenta", "triangle"))[label]
            rows.append((f"{cls}/{i:03d}.png", f"a {'small' if side == 12 else 'large'} {' '.join(words)}"))
    with (root / "captions.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)


def every_model_on(workspace, datasets: tuple[str, ...]) -> None:
    """params.yaml for these datasets, every deep model and XGBoost, at fewer steps than tiny.yaml's: the tests
    assert shapes, ranges and finite figures, not quality."""
    workspace.edit("params.yaml", "datasets: [digits]", f"datasets: [{', '.join(datasets)}]")
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [xgboost]")
    workspace.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: [vae, gan, ddpm, ldm, cnf, ebm]")
    workspace.edit("params.yaml", "cas: [gan, ddpm]", "cas: [gan, ddpm, ldm, cnf, ebm]")
    for model, steps in (("vae", 600), ("gan", 300), ("ddpm", 200), ("ldm", 100), ("cnf", 100), ("ebm", 100)):
        workspace.edit("params.yaml", f"  {model}:\n    steps: {steps}\n", f"  {model}:\n    steps: 40\n")
    workspace.edit("params.yaml", "    autoencoder_steps: 30\n", "    autoencoder_steps: 20\n")
    workspace.edit("params.yaml", "  trials: 3 ", "  trials: 0 ")  # tuning has tests of its own


def assert_every_model_scored(workspace, datasets: tuple[str, ...]) -> None:
    for dataset in datasets:
        for model in ("xgboost", "featurenet"):
            metrics = json.loads(workspace.path(f"reports/metrics/{dataset}/seed-0/{model}.json").read_text())
            assert 0 <= metrics["accuracy"] <= 1
        for model in GENERATIVE:
            samples = np.load(workspace.path(f"data/samples/{dataset}/seed-0/{model}/samples.npz"))
            assert samples["x"].shape == (40, *SHAPES[dataset]) and samples["x"].dtype == np.float32
            assert 0 <= samples["x"].min() and samples["x"].max() <= 1 and samples["x"].std() > 0
            levels = samples["x"] * 255  # stored as the dataset stores its own 8-bit images
            np.testing.assert_allclose(levels, np.round(levels), atol=1e-3, err_msg=f"{dataset} {model}")
            metrics = json.loads(workspace.path(f"reports/metrics/{dataset}/seed-0/{model}.json").read_text())
            for key in ("fid", "kid", "precision", "recall"):
                assert np.isfinite(metrics[key]) and all(np.isfinite(metrics[f"{key}_interval"])), (dataset, model, key)
            if model in ("vae", "ddpm", "cnf"):
                assert np.isfinite(metrics["likelihood"]["bits_per_dim"]) and metrics["likelihood"]["bits_per_dim"] > 0
                assert (metrics["likelihood"]["kind"] == "exact") == (model == "cnf")
            if model == "ldm":  # drawn for the compared test images' captions, and scored on them
                assert len(samples["prompts"]) == 40
                if dataset == "shapes":  # captions.csv's captions, of which the class is checked
                    test_captions = np.load(workspace.path("data/processed/shapes/data.npz"))["captions_test"]
                    assert set(samples["prompts"]) <= set(test_captions) and samples["said"].shape == (40, 0)
                    assert metrics["faithfulness"]["captions"] == "given"
                else:
                    assert samples["said"].shape == (40, 2) and metrics["faithfulness"]["captions"] == "measured"
                seen = metrics["faithfulness"]["seen"]
                assert seen["class"]["n"] == 40 and 0 <= seen["all"]["rate"] <= seen["class"]["rate"] <= 1
            if model == "ebm":  # its logits classify the whole test split
                classified = metrics["classifier"]
                n_test = TEST_SIZES[dataset]
                assert sum(map(sum, classified["confusion_matrix"])) == len(classified["correct"]) == n_test
                assert classified["accuracy"] == sum(classified["correct"]) / n_test
            else:
                assert metrics.get("classifier") is None


def open_report_of(workspace, datasets: tuple[str, ...], screenshot: str) -> browser.PageReport:
    """The page in Chromium, without an error, with every model's row in each dataset's tables."""
    page = browser.open_report(workspace.path("reports/index.html"), screenshot)
    assert (page.console_errors, page.failed_requests, page.page_errors, page.undecoded_images) == ([], [], [], [])
    assert page.models_by_table == {
        **{f"{d}/classifiers": ["xgboost", "featurenet", "ebm"] for d in datasets},
        **{f"{d}/{kind}": list(GENERATIVE) for d in datasets for kind in ("generative", "sample-classes")},
    }
    report = workspace.path("reports/index.html").read_text()
    assert all(f'<table class="faithfulness" data-dataset="{d}" data-model="ldm">' in report for d in datasets)
    return page


@pytest.mark.minutes(8)
def test_dvc_repro_on_idx_files_from_a_mirror_beside_your_own_folder(workspace):
    datasets = ("tinymnist", "shapes")
    mnist_files = mnist_like_files()
    mnist_classes = (SCRIPT_LABEL, *map(str, range(1, 10)))
    register_datasets(workspace, {"tinymnist": ("MNIST", mnist_files)}, {"tinymnist": mnist_classes})
    draw_shapes(workspace.path("data/own/shapes"))
    every_model_on(workspace, datasets)
    workspace.edit(
        "params.yaml",
        "own_datasets: {}",
        "own_datasets: {shapes: {path: data/own/shapes, channels: 3, size: [16, 16]}}",
    )
    served = {f"/mirror/tinymnist/{n}": d for n, d in mnist_files.items()}

    corrupt = {path: data[:-1] + b"!" for path, data in served.items()}
    with FileServer(corrupt) as server:
        workspace.extra_env["GENBENCH_DATA_MIRROR"] = server.url + "/mirror"
        failed = workspace.run("genbench", "download", "--dataset", "tinymnist", check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert (
        "train-images-idx3-ubyte.gz from http://127.0.0.1" in failed.stderr
        and "expected the official file's sha256 " + sha256(mnist_files["train-images-idx3-ubyte.gz"]) in failed.stderr
    )
    assert sorted(p.name for p in workspace.path("data/raw/tinymnist").iterdir()) == [], "nothing under a final name"

    with FileServer(served) as server:
        workspace.extra_env["GENBENCH_DATA_MIRROR"] = server.url + "/mirror"
        ran = workspace.dvc_repro(timeout=1200)  # 78 stages: about 500 s on 2 cores beside other tests
    assert len(ran) == len(datasets) * STAGES_PER_DATASET + 2  # and the pretrained weights (none) and the report
    assert sorted(path for path, _ in server.requests) == sorted(served), "each file fetched once"

    mnist_meta = json.loads(workspace.path("data/processed/tinymnist/meta.json").read_text())
    assert mnist_meta["image_shape"] == [1, 28, 28]
    assert mnist_meta["sizes"]["test"] == TEST_SIZES["tinymnist"], "the official test split is kept"
    assert mnist_meta["raw_sha256"] == {n: sha256(d) for n, d in mnist_files.items()}
    shapes_meta = json.loads(workspace.path("data/processed/shapes/meta.json").read_text())
    assert shapes_meta["image_shape"] == [3, 16, 16] and shapes_meta["classes"] == sorted(OWN_CLASSES)
    assert shapes_meta["sizes"] == {"train": 86, "val": 10, "test": TEST_SIZES["shapes"]}
    assert_every_model_scored(workspace, datasets)
    page = open_report_of(workspace, datasets, "report-idx-and-own-folder.png")
    assert not page.injected and SCRIPT_LABEL in page.text, "a label from the data is shown as text, never run"
    assert "<b>square" in page.text and "Your own images, from data/own/shapes" in page.text

    # Text to image from the command line: a grid of --n images, the same bytes again; bad prompts in one line.
    out = workspace.path("seven.png")
    command = ("genbench", "generate", "--dataset", "tinymnist", "--model", "ldm", "--seed", "0", "--n", "6")
    workspace.run(*command, "--prompt", "a thick seven slanted left", "--out", str(out))
    first = out.read_bytes()
    with Image.open(out) as grid:
        assert grid.mode == "L" and grid.size == (3 * (28 * 3 + 1) + 1, 2 * (28 * 3 + 1) + 1)  # 3 columns, 2 rows
    workspace.run(*command, "--prompt", "a thick seven slanted left", "--out", str(out))
    assert out.read_bytes() == first
    for prompt, says in (
        ("a purple seven", "'purple' not in the tokenizer's vocabulary"),
        ("  ", "--prompt: empty"),
        ("a thick seven slanted left " * 4, "the text encoder reads at most 20"),
    ):
        failed = workspace.run(*command, "--prompt", prompt, check=False)
        assert failed.returncode == 2 and says in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    failed = workspace.run(*command[:5], "gan", *command[6:], "--prompt", "a seven", check=False)
    assert (
        failed.returncode == 2
        and "--model 'gan': not a generative model of params.yaml that follows prompts (ldm)" in (failed.stderr)
    )

    # A model taken out of params leaves the report; nothing but the report reruns.
    workspace.edit(
        "params.yaml", "generative: [vae, gan, ddpm, ldm, cnf, ebm]", "generative: [gan, ddpm, ldm, cnf, ebm]"
    )
    assert workspace.dvc_repro() == ["report"]
    report = workspace.path("reports/index.html").read_text()
    assert (
        report.count('<table class="summary" data-dataset=') == 3 * len(datasets) and 'data-model="vae"' not in report
    )
    assert report.count('data-model="xgboost"') == len(datasets)

    # One image of your own edited: only its dataset goes stale. Every download stage runs again (data/own/
    # is an input of each) and the others find their files unchanged, so of the preprocess stages only
    # that dataset's runs, and DVC then finds its stages stale and no other dataset's.
    before = {d: workspace.path(f"data/processed/{d}/data.npz").read_bytes() for d in datasets}
    Image.new("RGB", (20, 20), (255, 255, 255)).save(workspace.path("data/own/shapes/circle/007.png"))
    workspace.extra_env["GENBENCH_DATA_MIRROR"] = "http://127.0.0.1:9"  # offline now: nothing may be fetched again
    workspace.edit("params.yaml", "retries: 4", "retries: 0")
    ran = workspace.run("dvc", "repro", *(f"preprocess@{d}" for d in datasets)).stdout
    ran = [line.split("'")[1] for line in ran.splitlines() if line.startswith("Running stage '")]
    assert sorted(ran) == sorted([*(f"download@{d}" for d in datasets), "preprocess@shapes"])
    assert [d for d in datasets if workspace.path(f"data/processed/{d}/data.npz").read_bytes() != before[d]] == [
        "shapes"
    ]
    stale = json.loads(workspace.run("dvc", "status", "--json").stdout)
    # The pretrained stage reads download.* too: it goes stale with the retries and fetches nothing.
    assert stale and all("shapes" in stage or stage in ("report", "pretrained") for stage in stale), sorted(stale)
    assert {
        "evaluate_references@shapes",
        "train@shapes-xgboost-0",
        "train_featurenet@shapes-0",
        "train_generative@shapes-ddpm-0",
    } <= set(stale)


@pytest.mark.minutes(4)
def test_dvc_repro_on_a_cifar_archive_placed_by_hand(workspace):
    cifar_files = {"cifar-10-binary.tar.gz": cifar_archive()}
    register_datasets(workspace, {"tinycifar": ("CIFAR10", cifar_files)}, {})
    every_model_on(workspace, ("tinycifar",))
    # The archive is put in place by hand: it must be used as it is, and nothing fetched.
    workspace.path("data/raw/tinycifar").mkdir(parents=True)
    workspace.path("data/raw/tinycifar/cifar-10-binary.tar.gz").write_bytes(cifar_files["cifar-10-binary.tar.gz"])
    with FileServer({}) as server:
        workspace.extra_env["GENBENCH_DATA_MIRROR"] = server.url + "/mirror"
        ran = workspace.dvc_repro(timeout=900)  # 40 stages
    assert len(ran) == STAGES_PER_DATASET + 2
    assert server.requests == [], "nothing fetched"

    cifar_meta = json.loads(workspace.path("data/processed/tinycifar/meta.json").read_text())
    assert cifar_meta["image_shape"] == [3, 32, 32] and cifar_meta["classes"][0] == "airplane"
    assert cifar_meta["sizes"] == {"train": 90, "val": 10, "test": TEST_SIZES["tinycifar"]}
    assert_every_model_scored(workspace, ("tinycifar",))
    open_report_of(workspace, ("tinycifar",), "report-cifar.png")


def test_snakemake_keeps_files_placed_by_hand_when_it_runs_the_download(workspace):
    files = mnist_like_files()
    register_datasets(workspace, {"tinymnist": ("MNIST", files)}, {})
    workspace.edit("params.yaml", "datasets: [digits]", "datasets: [tinymnist]")
    raw = workspace.path("data/raw/tinymnist")
    raw.mkdir(parents=True)
    for name, data in files.items():
        (raw / name).write_bytes(data)
    placed = {name: (raw / name).stat().st_ino for name in files}
    workspace.extra_env["GENBENCH_DATA_MIRROR"] = "http://127.0.0.1:9"  # offline: the files are all there is
    # The download job's output folder exists: Snakemake removes a job's outputs before running it, unless flagged.
    workspace.run("snakemake", "--cores", "1", "reports/timings/download/tinymnist.json")
    kept = {p.name: p.stat().st_ino for p in raw.iterdir() if not p.name.startswith(".snakemake")}
    assert kept == placed, "the files placed by hand, untouched"
