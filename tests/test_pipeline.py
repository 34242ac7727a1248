"""The pipeline run for real by DVC and by Snakemake: invalidation, caching, interop, determinism."""

from __future__ import annotations

import base64
import json
import os
import re
import time

import pytest

import browser

pytestmark = pytest.mark.pipeline

ALL_STAGES = sorted([
    "download@digits", "preprocess@digits",
    "train@digits-xgboost", "train@digits-svm", "train@digits-logreg",
    "evaluate@digits-xgboost", "evaluate@digits-svm", "evaluate@digits-logreg",
    "train_featurenet@digits", "evaluate_featurenet@digits",
    "train_generative@digits-vae", "train_generative@digits-gan", "train_generative@digits-ddpm",
    "sample@digits-vae", "sample@digits-gan", "sample@digits-ddpm",
    "evaluate_generative@digits-vae", "evaluate_generative@digits-gan", "evaluate_generative@digits-ddpm",
    "evaluate_references@digits",
    "report",
])
# classic.svm also sets the SVM that the classification accuracy score trains on samples.
SVM_AND_REPORT = sorted(
    ["train@digits-svm", "evaluate@digits-svm", "evaluate_references@digits", "report"]
    + [f"evaluate_generative@digits-{m}" for m in ("vae", "gan", "ddpm")]
)
VAE_AND_REPORT = sorted(["train_generative@digits-vae", "sample@digits-vae", "evaluate_generative@digits-vae", "report"])
# evaluate.n_samples: what is drawn and compared changes; no model is retrained.
SAMPLING_AND_REPORT = sorted(
    [f"{stage}@digits-{m}" for stage in ("sample", "evaluate_generative") for m in ("vae", "gan", "ddpm")]
    + ["evaluate_references@digits", "report"]
)
N_SAMPLES = "  n_samples: 40"
VAE_LATENT = "    latent_dim: 8"
SVM_C = "  svm:\n    C: 10.0"


def dvc_changed_stages(workspace) -> list[str]:
    return sorted(json.loads(workspace.run("dvc", "status", "--json").stdout))


def test_dvc_reruns_only_what_a_change_touches(workspace):
    assert sorted(workspace.dvc_repro()) == ALL_STAGES
    report = workspace.path("reports/index.html").read_text()
    assert "real training images (floor)" in report and "Gaussian noise (ceiling)" in report
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", report), "self-contained: no external resource"
    assert workspace.run("git", "rev-parse", "HEAD").stdout.strip() in report
    assert "uncommitted changes in" not in report, "dvc.lock, which DVC is writing, does not count"
    figures = sorted(p.relative_to(workspace.path("reports/figures")).as_posix() for p in workspace.path("reports/figures").rglob("*.png"))
    assert figures == sorted(
        [f"digits/confusion-{m}.png" for m in ("xgboost", "svm", "logreg", "featurenet")]
        + [f"digits/samples-{m}.png" for m in ("vae", "gan", "ddpm")]
        + [f"digits/{f}.png" for f in ("importance-xgboost", "real", "trajectory-ddpm", "reconstructions-vae",
                                        "interpolation-vae", "features-2d", "training")]
    )
    for name in figures:  # the files Snakemake's report and `dvc plots` show are the images inline in the page
        assert base64.b64encode(workspace.path(f"reports/figures/{name}").read_bytes()).decode() in report, name

    page = browser.open_report(workspace.path("reports/index.html"), "report-digits.png")
    assert (page.console_errors, page.failed_requests, page.page_errors) == ([], [], [])
    assert page.undecoded_images == [] and page.n_images == len(figures)
    assert page.models_by_table == {
        "digits/classifiers": ["xgboost", "svm", "logreg", "featurenet"],
        "digits/generative": ["vae", "gan", "ddpm"],
        "digits/sample-classes": ["vae", "gan", "ddpm"],
    }

    assert workspace.dvc_repro() == []
    assert workspace.snakemake_planned() == [], "Snakemake must accept outputs that DVC made"
    workspace.commit("first run")

    # Content, not file times: a checkpoint touched is no change; any metrics file edited is one for the report.
    later = time.time() + 60
    weights = sorted(workspace.path("data/models/digits").rglob("*.safetensors"))
    assert len(weights) == 4, "featurenet, vae, gan and ddpm"
    for path in weights:
        os.utime(path, (later, later))
    assert dvc_changed_stages(workspace) == []
    for model in ("svm", "featurenet", "ddpm", "references"):
        metrics = workspace.path(f"reports/metrics/digits/{model}.json")
        original = metrics.read_bytes()
        metrics.write_bytes(original.replace(b"{", b'{"edited": 1, ', 1))
        assert "report" in dvc_changed_stages(workspace), model
        metrics.write_bytes(original)
    assert dvc_changed_stages(workspace) == []

    workspace.edit("params.yaml", SVM_C, "  svm:\n    C: 3.0")
    assert sorted(workspace.dvc_repro()) == SVM_AND_REPORT
    # The report's "what changed" holds the numbers `dvc metrics diff` gives against the committed run.
    diff = json.loads(workspace.run("dvc", "metrics", "diff", "--json").stdout)
    expected = sorted((path, metric) for path, metrics in diff.items() for metric, change in metrics.items() if change.get("old") is not None)
    report = workspace.path("reports/index.html").read_text()
    shown = sorted(re.findall(r'<tr data-file="([^"]+)" data-metric="([^"]+)">', report))
    assert shown == expected and any(path == "reports/metrics/digits/svm.json" for path, _ in shown)
    for path, metric in expected:
        change = diff[path][metric]
        assert f'<td class="num">{change["old"]:.4g}</td><td class="num">{change["new"]:.4g}</td>' in report, (path, metric)

    workspace.edit("params.yaml", "# A small", "# A tiny")
    assert workspace.dvc_repro() == [], "a comment is not a parameter"

    workspace.edit("params.yaml", N_SAMPLES, "  n_samples: 30")
    assert sorted(workspace.dvc_repro()) == SAMPLING_AND_REPORT
    assert json.loads(workspace.path("reports/metrics/digits/ddpm.json").read_text())["n_images"] == 30
    workspace.edit("params.yaml", "  n_samples: 30", N_SAMPLES)

    workspace.edit("params.yaml", VAE_LATENT, "    latent_dim: 4")
    assert sorted(workspace.dvc_repro()) == VAE_AND_REPORT
    workspace.edit("params.yaml", "    latent_dim: 4", VAE_LATENT)
    workspace.edit("params.yaml", "  svm:\n    C: 3.0", SVM_C)
    restored = workspace.run("dvc", "repro").stdout
    assert "Running stage" not in restored
    for stage in sorted(set(SVM_AND_REPORT) | set(VAE_AND_REPORT)):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in restored
    assert dvc_changed_stages(workspace) == []

    workspace.edit("src/genbench/models/classic/svm.py", '"""Support', '"""The support')
    assert dvc_changed_stages(workspace) == sorted(set(SVM_AND_REPORT) - {"report"}), "the SVM's code, also run by CAS"
    ran = workspace.dvc_repro()
    assert {"train@digits-svm", "evaluate@digits-svm"} <= set(ran)
    assert not any("xgboost" in stage or "logreg" in stage for stage in ran)


def test_snakemake_plans_what_dvc_runs_and_dvc_adopts_its_outputs(workspace):
    workspace.run("snakemake", "--profile", "profiles/local")
    assert workspace.snakemake_planned() == []
    # Snakemake's own report, with the figures the report rule registers.
    workspace.run("snakemake", "--report", "reports/snakemake.html")
    snakemake_report = workspace.path("reports/snakemake.html").read_text()
    registered = [p.name for p in workspace.path("reports/figures/digits").glob("*.png")]
    assert len(registered) == 14 and all(name in snakemake_report for name in registered), "every figure, by name"
    workspace.run("dvc", "commit", "--force")
    assert dvc_changed_stages(workspace) == [], "after dvc commit the Snakemake outputs are DVC's"
    assert workspace.dvc_repro() == []
    workspace.commit("outputs made by Snakemake")

    workspace.edit("params.yaml", SVM_C, "  svm:\n    C: 3")
    assert workspace.snakemake_planned() == SVM_AND_REPORT
    workspace.run("snakemake", "--profile", "profiles/local")
    assert workspace.snakemake_planned() == []

    workspace.edit("params.yaml", "  svm:\n    C: 3", "  svm:\n    C: 3.0")
    assert workspace.snakemake_planned() == [], "3 and 3.0 are the same setting"
    workspace.edit("params.yaml", "# A small", "# A tiny")
    assert workspace.snakemake_planned() == [], "a comment is not a parameter"

    workspace.edit("params.yaml", VAE_LATENT, "    latent_dim: 4")
    assert workspace.snakemake_planned() == VAE_AND_REPORT
    workspace.edit("params.yaml", VAE_LATENT.replace("8", "4"), VAE_LATENT)
    workspace.edit("params.yaml", N_SAMPLES, "  n_samples: 30")
    assert workspace.snakemake_planned() == SAMPLING_AND_REPORT

    workspace.edit("src/genbench/models/classic/svm.py", '"""Support', '"""The support')
    planned = workspace.snakemake_planned()
    assert {"train@digits-svm", "evaluate@digits-svm"} <= set(planned)
    assert not any("xgboost" in job or "logreg" in job for job in planned)


def test_two_clean_runs_give_identical_artifacts(workspace, tmp_path):
    """One clean run by DVC, one by Snakemake (two processes per stage, two runners): same bytes."""
    from conftest import Workspace, copy_project

    second = Workspace(copy_project(tmp_path / "second"))
    second.path("params.yaml").write_text(workspace.path("params.yaml").read_text())
    second.run("git", "init", "-q")
    assert sorted(workspace.dvc_repro()) == ALL_STAGES
    second.run("snakemake", "--cores", "2")

    def same_bytes(relative: str) -> bool:
        return workspace.path(relative).read_bytes() == second.path(relative).read_bytes()

    for relative in [
        "data/raw/digits/images-idx3-ubyte.gz",
        "data/processed/digits/data.npz",
        "data/processed/digits/meta.json",
        "data/models/digits/xgboost/model.json",
        "data/models/digits/svm/model.skops",
        "data/models/digits/logreg/model.skops",
    ] + [f"reports/predictions/digits/{m}.csv" for m in ("xgboost", "svm", "logreg", "featurenet")] + [
        f"data/models/digits/{m}/weights.safetensors" for m in ("featurenet", "vae", "gan", "ddpm")
    ] + [f"data/samples/digits/{m}/{f}" for m in ("vae", "gan", "ddpm") for f in ("samples.npz",)] + [
        "data/samples/digits/ddpm/trajectory.npz", "data/samples/digits/vae/reconstructions.npz",
        "data/samples/digits/vae/interpolation.npz",
    ] + [f"reports/projections/digits/{m}.npz" for m in ("vae", "gan", "ddpm")]:
        assert same_bytes(relative), relative
    for model in ("xgboost", "svm", "logreg", "featurenet"):
        first, other = (json.loads(ws.path(f"reports/metrics/digits/{model}.json").read_text()) for ws in (workspace, second))
        # Wall-clock timings are measurements, not results; every other value must match exactly.
        first.pop("timing"), other.pop("timing")
        assert first == other, model
    for model in ("vae", "gan", "ddpm", "references"):
        first, other = (json.loads(ws.path(f"reports/metrics/digits/{model}.json").read_text()) for ws in (workspace, second))
        for metrics in (first, other):
            metrics.pop("timing", None), metrics.pop("sampling", None), metrics.pop("sampler_comparison", None)
            for scored in [*(metrics.get("cas") or {}).values(), *metrics.get("real_train_vs_test", {}).get("cas", {}).values()]:
                scored.pop("fit_seconds")
        assert first == other, model


def test_experiments_params_metrics_and_plots(workspace):
    workspace.dvc_repro()
    workspace.commit("baseline")
    workspace.run("dvc", "exp", "run", "-S", "classic.svm.C=3")

    params_diff = json.loads(workspace.run("dvc", "params", "diff", "--json").stdout)
    assert params_diff["params.yaml"]["classic.svm.C"] == {"old": 10.0, "new": 3, "diff": -7.0}

    shown = json.loads(workspace.run("dvc", "metrics", "show", "--json").stdout)
    metrics = shown[""]["data"]["reports/metrics/digits/svm.json"]["data"]
    assert 0.9 < metrics["accuracy"] <= 1.0 and set(metrics) >= {"macro_f1", "per_class", "timing"}

    diff = json.loads(workspace.run("dvc", "metrics", "diff", "--json").stdout)
    assert "timing.fit_seconds" in diff["reports/metrics/digits/svm.json"]
    assert "reports/metrics/digits/xgboost.json" not in diff or "accuracy" not in diff["reports/metrics/digits/xgboost.json"]

    rendered = json.loads(workspace.run("dvc", "plots", "show", "--json").stdout)
    confusion = rendered["data"]["reports/predictions/digits/svm.csv"][0]
    assert confusion["type"] == "vega"
    assert len(confusion["content"]["data"]["values"]) == 360, "one row per test image"
    trajectory = rendered["data"]["reports/figures/digits/trajectory-ddpm.png"][0]
    assert trajectory["type"] == "image", "the report's figures are DVC image plots too"
