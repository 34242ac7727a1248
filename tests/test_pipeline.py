"""The pipeline run for real by DVC and by Snakemake: invalidation, caching, interop, determinism."""

from __future__ import annotations

import base64
import json
import os
import re
import time

import pytest
import yaml

import browser
import slurm_cluster

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


# Files that hold wall-clock seconds (train, sample, evaluate and stage times): measurements, not results.
# They are compared without those values; every other output file must match byte for byte.
TIMED = re.compile(r"/(train|sample)\.json$|^reports/metrics/|^reports/training/.*/metrics\.json$")
TIMING_CURVE = re.compile(r"/images_per_second\.tsv$")  # dvclive's throughput log: only its steps are results
TIMING_KEYS = {"timing", "sampling", "sampler_comparison", "fit_seconds", "train_seconds", "images_per_second", "seconds", "seconds_per_1000"}


def output_files(workspace) -> dict[str, bytes]:
    """Every file of every output that dvc.lock records (not Snakemake's markers, which .dvcignore hides from DVC)."""
    files = {}
    for stage in yaml.safe_load(workspace.path("dvc.lock").read_text())["stages"].values():
        for out in stage.get("outs", []):
            path = workspace.path(out["path"])
            for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"):
                files[str(file.relative_to(workspace.root))] = file.read_bytes()
    return files


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    return [without_timings(v) for v in value] if isinstance(value, list) else value


@pytest.fixture
def slurm(tmp_path):
    """A one-node SLURM cluster for this test; yields its job-completion log."""
    with slurm_cluster.running(tmp_path / "slurm") as jobcomp_log:
        yield jobcomp_log


def test_a_slurm_run_matches_a_dvc_run_and_snakemake_replans_what_changed(workspace, tmp_path, slurm):
    """Two clean runs, one by Snakemake through a real SLURM cluster (every job an sbatch job) and one
    by DVC, each recorded in a dvc.lock: the same bytes in every output file, and the same hashes for
    every stage without timings. Then Snakemake's own report, DVC adopting its outputs, and its reruns."""
    from conftest import Workspace, copy_project

    by_dvc = Workspace(copy_project(tmp_path / "by-dvc"))
    by_dvc.path("params.yaml").write_text(workspace.path("params.yaml").read_text())
    by_dvc.run("git", "init", "-q")
    assert sorted(by_dvc.dvc_repro()) == ALL_STAGES
    workspace.run("snakemake", "--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "1", timeout=900)
    jobs = slurm_cluster.completed_jobs(slurm, workspace.root)
    assert len(jobs) == len(ALL_STAGES) and {job["JobState"] for job in jobs} == {"COMPLETED"}
    # Each job asked for the memory params.yaml: resources gives its kind (tiny.yaml: 500 MB light, 1000 MB deep).
    memory = sorted(re.search(r"mem=(\d+)M", job["Tres"])[1] for job in jobs)
    assert memory == sorted(["500"] * 9 + ["1000"] * 12)
    assert workspace.snakemake_planned() == []
    workspace.run("dvc", "commit", "--force")  # DVC hashes the Snakemake run's outputs into a dvc.lock of its own
    assert dvc_changed_stages(workspace) == [], "after dvc commit the Snakemake outputs are DVC's"
    assert workspace.dvc_repro() == []

    first_files, second_files = output_files(by_dvc), output_files(workspace)
    assert sorted(first_files) == sorted(second_files)
    assert len(first_files) > 60
    for name, data in first_files.items():
        if name == "reports/index.html":
            continue  # timings and provenance; its tables come from the metrics compared here
        if TIMED.search(name):
            assert without_timings(json.loads(data)) == without_timings(json.loads(second_files[name])), name
        elif TIMING_CURVE.search(name):
            assert [line.split(b"\t")[0] for line in data.splitlines()] == [line.split(b"\t")[0] for line in second_files[name].splitlines()]
        else:
            assert data == second_files[name], name
    locks = [yaml.safe_load(ws.path("dvc.lock").read_text())["stages"] for ws in (by_dvc, workspace)]
    assert sorted(locks[0]) == sorted(locks[1]) == ALL_STAGES
    for stage in ALL_STAGES:
        untimed = all(not TIMED.search(name) and not TIMING_CURVE.search(name) and name != "reports/index.html" for out in locks[0][stage].get("outs", [])
                      for name in first_files if name == out["path"] or name.startswith(out["path"] + "/"))
        if untimed:
            assert locks[0][stage]["outs"] == locks[1][stage]["outs"], stage

    # Snakemake's own report, with the figures the report rule registers.
    workspace.run("snakemake", "--report", "reports/snakemake.html")
    snakemake_report = workspace.path("reports/snakemake.html").read_text()
    registered = [p.name for p in workspace.path("reports/figures/digits").glob("*.png")]
    assert len(registered) == 14 and all(name in snakemake_report for name in registered), "every figure, by name"
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
