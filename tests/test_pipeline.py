"""The pipeline run for real by DVC and by Snakemake: invalidation, caching, interop, determinism."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import time

import browser
import pytest
import slurm_cluster
import slurm_training
import slurm_tuning
import yaml
from conftest import assert_reads_declared
from fake_data import FileServer, mnist_like_files, register_datasets

pytestmark = pytest.mark.pipeline


def seeded(seed: int, classic=("xgboost", "svm", "logreg"), generative=("vae", "gan", "ddpm")) -> list[str]:
    """The stages of one training replicate (tests/params/tiny.yaml has seeds: [0])."""
    return [
        *(f"{stage}@digits-{m}-{seed}" for stage in ("train", "evaluate") for m in classic),
        f"train_featurenet@digits-{seed}",
        f"evaluate_featurenet@digits-{seed}",
        *(
            f"{stage}@digits-{m}-{seed}"
            for stage in ("train_generative", "sample", "evaluate_generative")
            for m in generative
        ),
        *(f"cas@digits-{m}-{seed}" for m in generative if m != "vae"),  # the VAE is unconditional: no CAS
    ]


GENERATIVE_TUNED = [f"tune_generative@digits-{m}" for m in ("vae", "gan", "ddpm")]
TUNED = [  # per dataset, not per seed
    *(f"tune@digits-{m}" for m in ("xgboost", "svm", "logreg")),
    "tune_featurenet@digits",
    *GENERATIVE_TUNED,
]
ALL_STAGES = sorted(
    ["download@digits", "pretrained", "preprocess@digits", *TUNED, "evaluate_references@digits", *seeded(0), "report"]
)
# classic.svm sets the SVM and the ones that the classification accuracy score trains on samples and,
# for its floor, on real images; no FID, KID, precision, recall or likelihood bound is computed again.
SVM_AND_REPORT = sorted(
    [
        "tune@digits-svm",
        "train@digits-svm-0",
        "evaluate@digits-svm-0",
        *(f"cas@digits-{m}-0" for m in ("gan", "ddpm")),
        "evaluate_references@digits",
        "report",
    ]
)
# A sampler setting: the DDPM is sampled and evaluated again, not trained.
GUIDANCE_AND_REPORT = sorted(
    [
        "sample@digits-ddpm-0",
        "evaluate_generative@digits-ddpm-0",
        "cas@digits-ddpm-0",
        "report",
    ]
)
# The VAE is unconditional: it has no CAS stage (models.cas).
VAE_BRANCH = sorted(
    ["train_generative@digits-vae-0", "sample@digits-vae-0", "evaluate_generative@digits-vae-0", "report"]
)
VAE_AND_REPORT = sorted(["tune_generative@digits-vae", *VAE_BRANCH])
# evaluate.n_samples: what is drawn and compared changes; no model is retrained.
SAMPLING_AND_REPORT = sorted(
    [f"{stage}@digits-{m}-0" for stage in ("sample", "evaluate_generative") for m in ("vae", "gan", "ddpm")]
    + [f"cas@digits-{m}-0" for m in ("gan", "ddpm")]
    + ["evaluate_references@digits", "report"]
)
N_SAMPLES = "  n_samples: 40"
VAE_LATENT = "    latent_dim: 8"
SVM_C = "  svm:\n    C: 10.0"
GUIDANCE = "    guidance: 1.5"
GAN_WEIGHTS = "data/models/digits/seed-0/gan/weights.safetensors"


def dvc_changed_stages(workspace) -> list[str]:
    return sorted(json.loads(workspace.run("dvc", "status", "--json").stdout))


STAGE_ROW = re.compile(
    r'<tr data-stage="([^"]+)"><td[^>]*>[^<]*</td><td class="num"[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td><td '
    r'class="hash"[^>]*>([^<(]*)'
)


def assert_svm_trained_with_the_tuned_settings(workspace) -> None:
    """tiny.yaml gives tune.trials: 3; the SVM's training reads what its study chose."""
    from genbench.models import svm

    record = json.loads(workspace.path("reports/tuning/digits/svm.json").read_text())
    tuned = json.loads(workspace.path("data/tuned/digits/svm.json").read_text())["settings"]
    assert len(record["trials"]) == 3
    assert record["best_value"] == max(record["given_value"], *(t["value"] for t in record["trials"]))
    assert {key: tuned[key] for key in record["chosen"]} == record["chosen"]
    fitted = svm.load(workspace.path("data/models/digits/seed-0/svm")).get_params()
    assert {key: fitted[key] for key in record["chosen"]} == record["chosen"]


def assert_page_shows_the_timing_records(workspace) -> dict[str, tuple[str, str, str]]:
    """Each stage row of the page holds the run time, finishing time and commit of that stage's timing
    record on disk: the page shows the runs that made its inputs, however it was restored."""
    rows = {
        stage: (seconds, finished, commit.strip())
        for stage, seconds, finished, commit in STAGE_ROW.findall(workspace.path("reports/index.html").read_text())
    }
    assert sorted(rows) == sorted(set(ALL_STAGES) - {"report"})
    for stage, shown in rows.items():
        record = json.loads(workspace.path(timing_record(stage)).read_text())
        assert shown == (f"{record['seconds']:.1f}", record["finished"], record["commit"][:12]), stage
    return rows


def timing_record(stage: str) -> str:
    """reports/timings/<command>/<dataset>[-<model>][-seed-<seed>].json of a stage named as DVC names it."""
    words = command_of(stage).split()
    options = dict(zip(words[2::2], words[3::2]))
    names = [options.get("--dataset"), options.get("--model"), options.get("--seed") and f"seed-{options['--seed']}"]
    return f"reports/timings/{words[1]}/{'-'.join(n for n in names if n) or words[1]}.json"


def assert_quality_floors(workspace) -> None:
    """Even on the tiny params, no model is garbage: each classifier's accuracy interval is far above
    chance (10 classes), each generative model's FID is below the noise ceiling's, and each conditional
    model's samples train a classifier whose CAS interval is above chance."""
    metrics = lambda name: json.loads(workspace.path(f"reports/metrics/digits/{name}.json").read_text())  # noqa: E731
    for model in ("xgboost", "svm", "logreg", "featurenet"):
        assert metrics(f"seed-0/{model}")["accuracy_interval"][0] > 0.5, model
    noise_fid = metrics("references")["noise_vs_test"]["fid"]
    for model in ("vae", "gan", "ddpm"):
        assert metrics(f"seed-0/{model}")["fid"] < noise_fid, model
    for model in ("gan", "ddpm"):
        assert metrics(f"seed-0/cas/{model}")["scores"]["svm"]["accuracy_interval"][0] > 0.1, model
    assert not workspace.path("reports/metrics/digits/seed-0/cas/vae.json").exists(), "the VAE is unconditional"


def rendered_at(workspace) -> str:
    return re.search(
        r'<th>rendered at git commit</th><td class="hash">([0-9a-f]+)</td>',
        workspace.path("reports/index.html").read_text(),
    )[1]


@pytest.mark.minutes(6)
def test_dvc_reruns_only_what_a_change_touches(finished_workspace, tiny_run):
    workspace = finished_workspace
    assert sorted(tiny_run.ran) == ALL_STAGES
    assert_reads_declared(workspace, tiny_run.executed)
    assert_quality_floors(workspace)
    report = workspace.path("reports/index.html").read_text()
    assert_svm_trained_with_the_tuned_settings(workspace)
    assert "Settings chosen on the validation split" in report
    assert "real held-out images (floor)" in report and "Gaussian noise (ceiling)" in report
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", report), "self-contained: no external resource"
    assert rendered_at(workspace) == workspace.run("git", "rev-parse", "HEAD").stdout.strip()
    assert "uncommitted changes in" not in report, "dvc.lock, which DVC is writing, does not count"
    figures = sorted(
        p.relative_to(workspace.path("reports/figures")).as_posix()
        for p in workspace.path("reports/figures").rglob("*.png")
    )
    assert figures == sorted(
        [f"digits/confusion-{m}.png" for m in ("xgboost", "svm", "logreg", "featurenet")]
        + [f"digits/tuning-{m}.png" for m in ("xgboost", "svm", "logreg", "featurenet")]
        + [f"digits/samples-{m}.png" for m in ("vae", "gan", "ddpm")]
        + [
            f"digits/{f}.png"
            for f in (
                "importance-xgboost",
                "real",
                "trajectory-ddpm",
                "reconstructions-vae",
                "interpolation-vae",
                "features-2d",
                "training",
            )
        ]
    )
    for name in figures:  # the files Snakemake's report and `dvc plots` show are the images inline in the page
        assert base64.b64encode(workspace.path(f"reports/figures/{name}").read_bytes()).decode() in report, name
    assert_page_shows_the_timing_records(workspace)

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
    weights = sorted(workspace.path("data/models/digits/seed-0").rglob("*.safetensors"))
    assert len(weights) == 4, "featurenet, vae, gan and ddpm"
    for path in weights:
        os.utime(path, (later, later))
    assert dvc_changed_stages(workspace) == []
    for model in ("seed-0/svm", "seed-0/featurenet", "seed-0/ddpm", "references", "seed-0/cas/ddpm"):
        metrics = workspace.path(f"reports/metrics/digits/{model}.json")
        original = metrics.read_bytes()
        metrics.write_bytes(original.replace(b"{", b'{"edited": 1, ', 1))
        assert "report" in dvc_changed_stages(workspace), model
        metrics.write_bytes(original)
    assert dvc_changed_stages(workspace) == []

    # A retrain that reproduces its weights reruns nothing that reads them: only the report, for the new timing record.
    weights_before = workspace.path(GAN_WEIGHTS).read_bytes()
    workspace.run("dvc", "repro", "--force", "--single-item", "train_generative@digits-gan-0")
    assert [run["command"] for run in workspace.executed()] == ["genbench train --dataset digits --model gan --seed 0"]
    assert workspace.path(GAN_WEIGHTS).read_bytes() == weights_before
    assert workspace.dvc_repro() == ["report"]
    assert_page_shows_the_timing_records(workspace)

    # A page DVC keeps from an earlier run names the commit it was rendered at, and says so.
    rendered = rendered_at(workspace)
    workspace.edit("README.md", "# genbench", "# genbench, the benchmark")
    workspace.commit("the README only")
    assert workspace.dvc_repro() == []
    assert rendered_at(workspace) == rendered != workspace.run("git", "rev-parse", "HEAD").stdout.strip()
    assert (
        "The commit is the one checked out when this page was rendered"
        in workspace.path("reports/index.html").read_text()
    )

    workspace.edit("params.yaml", SVM_C, "  svm:\n    C: 1.0")  # a setting that moves the accuracy
    assert sorted(workspace.dvc_repro()) == SVM_AND_REPORT
    # The report's "what changed" holds the numbers `dvc metrics diff` gives against the committed run.
    diff = json.loads(workspace.run("dvc", "metrics", "diff", "--json").stdout)
    expected = sorted(
        (path, metric)
        for path, metrics in diff.items()
        for metric, change in metrics.items()
        if change.get("old") is not None
        and "_interval" not in metric
        and path != "reports/summary.json"  # the report's own output
    )
    report = workspace.path("reports/index.html").read_text()
    shown = {
        (path, metric): beyond
        for path, metric, beyond in re.findall(
            r'<tr data-file="([^"]+)" data-metric="([^"]+)" data-beyond="([^"]+)">', report
        )
    }
    assert sorted(shown) == expected and ("reports/metrics/digits/seed-0/svm.json", "accuracy") in shown
    assert not any("timing" in metric for _, metric in shown), "timings are in no metrics file"
    for path, metric in expected:
        change = diff[path][metric]
        assert f'<td class="num">{change["old"]:.4g}</td><td class="num">{change["new"]:.4g}</td>' in report, (
            path,
            metric,
        )
    # A change is flagged only past half its interval's width in the new run.
    low, high = json.loads(workspace.path("reports/metrics/digits/seed-0/svm.json").read_text())["accuracy_interval"]
    assert shown[("reports/metrics/digits/seed-0/svm.json", "accuracy")] == str(
        abs(diff["reports/metrics/digits/seed-0/svm.json"]["accuracy"]["diff"]) > (high - low) / 2
    )

    workspace.edit("params.yaml", "# A small", "# A tiny")
    assert workspace.dvc_repro() == [], "a comment is not a parameter"

    workspace.edit("params.yaml", GUIDANCE, "    guidance: 3.0")
    assert sorted(workspace.dvc_repro()) == GUIDANCE_AND_REPORT
    workspace.edit("params.yaml", "    guidance: 3.0", GUIDANCE)

    workspace.edit("params.yaml", VAE_LATENT, "    latent_dim: 4")
    assert sorted(workspace.dvc_repro()) == VAE_AND_REPORT
    workspace.edit("params.yaml", "    latent_dim: 4", VAE_LATENT)
    workspace.edit("params.yaml", "  svm:\n    C: 1.0", SVM_C)
    restored = workspace.run("dvc", "repro").stdout
    assert "Running stage" not in restored
    for stage in sorted(set(SVM_AND_REPORT) | set(VAE_AND_REPORT)):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in restored
    assert dvc_changed_stages(workspace) == []
    assert_page_shows_the_timing_records(workspace)  # restored page and restored records belong together

    workspace.edit("src/genbench/models/svm.py", '"""Support', '"""The support')
    assert dvc_changed_stages(workspace) == sorted(set(SVM_AND_REPORT) - {"report"}), "the SVM's code, also run by CAS"
    ran = workspace.dvc_repro()
    assert {"train@digits-svm-0", "evaluate@digits-svm-0"} <= set(ran)
    assert not any("xgboost" in stage or "logreg" in stage for stage in ran)

    # A model taken out of params leaves the report; nothing but the report reruns. From here on, one
    # classic and one generative model: evaluate.n_samples resamples and rescores without retraining,
    # and a seed is one more replicate (adding one runs its stages only, removing it only the report).
    workspace.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [svm]")
    workspace.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: [ddpm]")
    workspace.edit("params.yaml", "cas: [gan, ddpm]", "cas: [ddpm]")
    assert workspace.dvc_repro() == ["report"]
    workspace.edit("params.yaml", N_SAMPLES, "  n_samples: 30")
    assert sorted(workspace.dvc_repro()) == sorted(
        [f"{stage}@digits-ddpm-0" for stage in ("sample", "evaluate_generative", "cas")]
        + ["evaluate_references@digits", "report"]
    )
    assert json.loads(workspace.path("reports/metrics/digits/seed-0/ddpm.json").read_text())["n_images"] == 30
    workspace.edit("params.yaml", "  n_samples: 30", N_SAMPLES)
    assert workspace.dvc_repro() == [], "every output of the earlier setting comes back from DVC's run cache"
    workspace.commit("one seed")
    workspace.edit("params.yaml", "seeds: [0]", "seeds: [0, 1]")
    assert sorted(workspace.dvc_repro()) == sorted([*seeded(1, classic=["svm"], generative=["ddpm"]), "report"])
    first, second = (
        json.loads(workspace.path(f"reports/metrics/digits/seed-{s}/ddpm.json").read_text()) for s in (0, 1)
    )
    assert first["fid"] != second["fid"] and first["n_images"] == second["n_images"], (
        "another seed, other numbers on the same images"
    )
    assert (
        workspace.path("data/models/digits/seed-0/ddpm/weights.safetensors").read_bytes()
        != workspace.path("data/models/digits/seed-1/ddpm/weights.safetensors").read_bytes()
    )
    rows = list(csv.DictReader(workspace.path("reports/results.csv").open()))
    summary = json.loads(workspace.path("reports/summary.json").read_text())["digits"]["ddpm"]["fid"]
    assert summary["n_seeds"] == 2 and summary["mean"] == pytest.approx((first["fid"] + second["fid"]) / 2)
    assert summary["mean_interval"][0] < summary["mean"] < summary["mean_interval"][1]
    fid = {row["seed"]: row for row in rows if row["model"] == "ddpm" and row["metric"] == "fid"}
    assert sorted(fid) == ["0", "1", "mean"] and float(fid["mean"]["value"]) == pytest.approx(
        (first["fid"] + second["fid"]) / 2
    )
    assert (
        'data-sizes="generative">40 generated images per model and seed against 40 test images'
        in workspace.path("reports/index.html").read_text()
    )
    assert "2 seeds" in workspace.path("reports/index.html").read_text()
    workspace.edit("params.yaml", "seeds: [0, 1]", "seeds: [0]")
    assert workspace.dvc_repro() == ["report"]


# The only files that hold wall-clock times: each stage's timing record, and the page that shows them.
TIMED = re.compile(r"^reports/timings/|^reports/index\.html$")


@pytest.fixture
def slurm(tmp_path):
    """A one-node SLURM cluster for this test; yields its job-completion log."""
    with slurm_cluster.running(tmp_path / "slurm") as jobcomp_log:
        yield jobcomp_log


def output_files(workspace) -> dict[str, bytes]:
    """Every file of every output that dvc.lock records (not Snakemake's markers, which .dvcignore hides from DVC)."""
    files = {}
    for stage in yaml.safe_load(workspace.path("dvc.lock").read_text())["stages"].values():
        for out in stage.get("outs", []):
            path = workspace.path(out["path"])
            for file in (
                [path]
                if path.is_file()
                else sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")
            ):
                files[str(file.relative_to(workspace.root))] = file.read_bytes()
    return files


def command_of(stage: str) -> str:
    """The genbench command of a stage named as DVC names it: train_generative@digits-vae -> genbench train --dataset
    digits --model vae."""
    rule, _, wildcards = stage.partition("@")
    words = ["genbench", {"evaluate_references": "references"}.get(rule, rule.split("_")[0])]
    names = wildcards.split("-") if wildcards else []
    seed = names.pop() if names and names[-1].isdigit() else None
    if rule.endswith("_featurenet"):
        names.append("featurenet")
    for option, value in zip(("--dataset", "--model"), names):
        words += [option, value]
    return " ".join(words + (["--seed", seed] if seed is not None else []))


def executed(workspace) -> list[str]:
    """The commands that ran to the end since the last call (a job restored from a cache does not run one)."""
    return sorted(run["command"] for run in workspace.executed())


def on_cluster(workspace, cluster, *args: str, check: bool = True):
    """`snakemake --profile profiles/slurm`, killed rather than asked to stop if it overruns (a broken
    status check can make Snakemake ignore SIGTERM); a failure shows the queue and the controller's log."""
    done = workspace.run(
        "timeout",
        "-s",
        "KILL",
        "600",
        "snakemake",
        "--profile",
        "profiles/slurm",
        "--slurm-init-seconds-before-status-checks",
        "1",
        *args,
        check=False,
        timeout=660,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"snakemake exited {done.returncode}\n{done.stderr[-6000:]}\n{slurm_cluster.state(cluster)}"
        )
    return done


@pytest.mark.minutes(7)
def test_a_slurm_run_keeps_going_past_a_failed_model_and_matches_a_dvc_run(
    workspace, finished_workspace, tiny_run, slurm, tmp_path
):
    """The tiny pipeline on a real SLURM cluster: one model's job fails and the other branches finish;
    after the fix only that branch runs. Every output matches a `dvc repro` run byte for byte (the
    same hashes in dvc.lock), DVC adopts the outputs, Snakemake replans only what a change touches,
    and off the CPU the deep models' jobs ask SLURM for a GPU. Then a two-task training job is
    signalled and requeued, and ends with the bytes of an uninterrupted run (tests/slurm_training.py), and two
    jobs share one tuning study (tests/slurm_tuning.py)."""
    cluster = slurm.parent
    by_dvc = finished_workspace  # the same project and params, run by `dvc repro`
    assert by_dvc.path("params.yaml").read_text() == workspace.path("params.yaml").read_text()
    assert sorted(tiny_run.ran) == ALL_STAGES

    # Snakemake's cache works in its local executor only: asked for on the cluster, one line and no job.
    refused = on_cluster(workspace, cluster, "--cache", check=False)
    assert refused.returncode == 2 and "genbench: error: --cache works with the local executor only" in refused.stderr
    assert slurm_cluster.completed_jobs(slurm, workspace.root) == [] and not workspace.path("data/raw").exists()

    # A learning rate the schema allows but the VAE diverges with: its training job fails on the cluster.
    workspace.edit("params.yaml", VAE_LATENT, VAE_LATENT + "\n    lr: 1.0e+30")
    failed = on_cluster(workspace, cluster, check=False)
    assert failed.returncode != 0 and "Error in rule train_generative" in failed.stderr
    job_logs = "".join(p.read_text() for p in workspace.path(".snakemake/slurm_logs").rglob("*.log"))
    assert "genbench: error: vae on digits, seed 0: negative_elbo loss is nan" in job_logs
    vae_branch = set(VAE_BRANCH)
    runs = workspace.executed()
    assert sorted(run["command"] for run in runs) == sorted(command_of(s) for s in set(ALL_STAGES) - vae_branch), (
        "keep-going: every other branch finished"
    )
    jobs = slurm_cluster.completed_jobs(slurm, workspace.root)
    assert sorted(job["JobState"] for job in jobs) == ["COMPLETED"] * 27 + ["FAILED"]
    # Each job asked for the memory params.yaml: resources gives its kind (tiny.yaml: 500 MB light, 1000 MB deep).
    assert sorted(re.search(r"mem=(\d+)M", job["Tres"])[1] for job in jobs) == sorted(["500"] * 14 + ["1000"] * 14)

    workspace.edit("params.yaml", "\n    lr: 1.0e+30", "")
    on_cluster(workspace, cluster)
    runs += workspace.executed()
    assert sorted(run["command"] for run in runs[27:]) == sorted(command_of(s) for s in VAE_AND_REPORT), (
        "only the failed branch and the report"
    )
    assert_reads_declared(workspace, runs)  # every stage ran once, each in its own SLURM job
    jobs = slurm_cluster.completed_jobs(slurm, workspace.root)
    assert len(jobs) == 28 + 5 and {job["JobState"] for job in jobs[28:]} == {"COMPLETED"}, (
        "every job went through sbatch"
    )
    assert workspace.snakemake_planned() == []
    workspace.run("dvc", "commit", "--force")  # DVC hashes the cluster run's outputs into a dvc.lock of its own
    assert dvc_changed_stages(workspace) == [], "after dvc commit the Snakemake outputs are DVC's"
    assert workspace.dvc_repro() == []

    # Byte for byte, but for the timing records and the page that shows them.
    first_files, second_files = output_files(by_dvc), output_files(workspace)
    assert sorted(first_files) == sorted(second_files)
    assert len(first_files) > 60
    assert [name for name, data in first_files.items() if not TIMED.search(name) and data != second_files[name]] == []
    locks = [yaml.safe_load(ws.path("dvc.lock").read_text())["stages"] for ws in (by_dvc, workspace)]
    assert sorted(locks[0]) == sorted(locks[1]) == ALL_STAGES
    for stage in ALL_STAGES:
        outs = [[out for out in lock[stage].get("outs", []) if not TIMED.search(out["path"])] for lock in locks]
        assert outs[0] == outs[1], stage

    # Snakemake's own report, with the figures the report rule registers.
    workspace.run("snakemake", "--report", "reports/snakemake.html")
    snakemake_report = workspace.path("reports/snakemake.html").read_text()
    registered = [p.name for p in workspace.path("reports/figures/digits").glob("*.png")]
    assert len(registered) == 18 and all(name in snakemake_report for name in registered), "every figure, by name"
    workspace.commit("outputs made on the cluster")

    # The page names the commit it was rendered at; a later commit that changes no input reruns nothing.
    rendered = rendered_at(workspace)
    workspace.edit("README.md", "# genbench", "# genbench, the benchmark")
    workspace.commit("the README only")
    assert workspace.snakemake_planned() == []
    assert rendered_at(workspace) == rendered != workspace.run("git", "rev-parse", "HEAD").stdout.strip()
    assert_page_shows_the_timing_records(workspace)

    # A retrain that reproduces its weights (Snakemake compares the files by checksum): only the report, for the new
    # timing record.
    weights_before = workspace.path(GAN_WEIGHTS).read_bytes()
    workspace.run("snakemake", "--cores", "1", "--force", GAN_WEIGHTS)
    assert executed(workspace) == ["genbench train --dataset digits --model gan --seed 0"]
    assert workspace.path(GAN_WEIGHTS).read_bytes() == weights_before
    assert workspace.snakemake_planned() == ["report"]
    workspace.run("snakemake", "--profile", "profiles/local")
    assert executed(workspace) == ["genbench report"]
    assert_page_shows_the_timing_records(workspace)

    workspace.edit("params.yaml", SVM_C, "  svm:\n    C: 3")
    assert workspace.snakemake_planned() == SVM_AND_REPORT
    workspace.edit("params.yaml", "  svm:\n    C: 3", "  svm:\n    C: 10")
    assert workspace.snakemake_planned() == [], "10 and 10.0 are the same setting"
    workspace.edit("params.yaml", "# A small", "# A tiny")
    assert workspace.snakemake_planned() == [], "a comment is not a parameter"

    workspace.edit("params.yaml", GUIDANCE, "    guidance: 3.0")
    assert workspace.snakemake_planned() == GUIDANCE_AND_REPORT
    workspace.edit("params.yaml", "    guidance: 3.0", GUIDANCE)
    workspace.edit("params.yaml", VAE_LATENT, "    latent_dim: 4")
    assert workspace.snakemake_planned() == VAE_AND_REPORT
    workspace.edit("params.yaml", VAE_LATENT.replace("8", "4"), VAE_LATENT)
    workspace.edit("params.yaml", N_SAMPLES, "  n_samples: 30")
    assert workspace.snakemake_planned() == SAMPLING_AND_REPORT

    workspace.edit("src/genbench/models/svm.py", '"""Support', '"""The support')
    planned = workspace.snakemake_planned()
    assert {"train@digits-svm-0", "evaluate@digits-svm-0"} <= set(planned)
    assert not any("xgboost" in job or "logreg" in job for job in planned)

    # Two cluster jobs share one Optuna study (tests/slurm_tuning.py).
    slurm_tuning.two_jobs_share_one_study(workspace, cluster)

    # Off the CPU, a deep model's job asks SLURM for a GPU, which this GPU-less node cannot give.
    workspace.edit("params.yaml", "  device: cpu", "  device: auto")
    asked = on_cluster(workspace, cluster, "data/models/digits/seed-0/featurenet/weights.safetensors", check=False)
    assert asked.returncode != 0 and "--gpus=1" in asked.stderr and "Invalid generic resource" in asked.stderr

    # Preemption and data-parallel training, on the same cluster (tests/slurm_training.py).
    slurm_training.signal_then_requeue_a_two_task_training_job(workspace, tmp_path, cluster)


@pytest.mark.minutes(3)
def test_a_second_clone_restores_from_the_snakemake_cache_and_dvc_carries_it_on(workspace, tmp_path):
    """Two clones share SNAKEMAKE_OUTPUT_CACHE. The second restores every cached output without running
    its job, byte for byte, though the two datasets' jobs differ only by the dataset wildcard; a
    changed param or an edited source file makes exactly the jobs that read it run. Then DVC adopts
    the restored outputs and a DVC remote carries them to a fresh clone with nothing left to run."""
    from conftest import Workspace, copy_project

    def with_tinymnist(ws: Workspace) -> Workspace:
        register_datasets(ws, {"tinymnist": ("MNIST", mnist_files)}, {})
        ws.extra_env |= {"SNAKEMAKE_OUTPUT_CACHE": str(cache), "GENBENCH_DATA_MIRROR": server.url + "/mirror"}
        return ws

    def per_dataset(*stages: str) -> list[str]:
        return [command_of(s.format(d)) for s in stages for d in ("digits", "tinymnist")]

    mnist_files = mnist_like_files()
    cache = tmp_path / "snakemake-cache"  # for a team: a folder on storage every clone can reach
    cache.mkdir()
    with FileServer({f"/mirror/tinymnist/{n}": d for n, d in mnist_files.items()}) as server:
        first = with_tinymnist(workspace)
        first.edit("params.yaml", "datasets: [digits]", "datasets: [digits, tinymnist]")
        first.edit("params.yaml", "classic: [xgboost, svm, logreg]", "classic: [svm, logreg]")
        first.edit("params.yaml", "generative: [vae, gan, ddpm]", "generative: []")
        first.edit("params.yaml", "cas: [gan, ddpm]", "cas: []")
        first.run("snakemake", "--profile", "profiles/local", "--cache")
        assert executed(first) == sorted(
            per_dataset(
                "download@{}",
                "preprocess@{}",
                "tune@{}-svm",
                "tune@{}-logreg",
                "train@{}-svm-0",
                "evaluate@{}-svm-0",
                "train@{}-logreg-0",
                "evaluate@{}-logreg-0",
                "tune_featurenet@{}",
                "train_featurenet@{}-0",
                "evaluate_featurenet@{}-0",
                "evaluate_references@{}",
            )
            + ["genbench pretrained", "genbench report"]
        )
        # One entry per output of each cached job, its timing record included: preprocess 3, svm and logreg 3 + 2 + 4
        # each (tune, train, evaluate), featurenet 3 + 6 + 3 (tune, train, evaluate), references 2.
        assert len(list(cache.iterdir())) == 2 * 35
        models = {
            d: first.path(f"data/models/{d}/seed-0/svm/model.skops").read_bytes() for d in ("digits", "tinymnist")
        }
        assert models["digits"] != models["tinymnist"], "else a collision could not be seen"

        second = with_tinymnist(Workspace(copy_project(tmp_path / "second")))
        second.path("params.yaml").write_text(first.path("params.yaml").read_text())
        second.run("snakemake", "--profile", "profiles/local", "--cache")
        # Not cached, as the downloads: the pretrained stage runs in each clone (it fetches nothing for the featurenet).
        assert executed(second) == sorted(per_dataset("download@{}") + ["genbench pretrained", "genbench report"]), (
            "every cached job restored"
        )
        restored = [
            os.path.relpath(os.path.join(folder, name), first.root)
            for d in ("data/processed", "data/models", "reports/metrics", "reports/predictions", "reports/training")
            for folder, _, names in os.walk(first.path(d), followlinks=True)  # cached outputs are links into the cache
            for name in names
            if name != ".snakemake_timestamp"
        ]
        assert len(restored) > 30 and any("tinymnist" in name for name in restored)
        for name in restored:  # each output restored from its own entry
            assert second.path(name).read_bytes() == first.path(name).read_bytes(), name

        second.edit("params.yaml", "    max_iter: 300", "    max_iter: 200")
        second.run("snakemake", "--profile", "profiles/local", "--cache")
        assert executed(second) == sorted(
            per_dataset("tune@{}-logreg", "train@{}-logreg-0", "evaluate@{}-logreg-0") + ["genbench report"]
        )

        second.edit("src/genbench/models/svm.py", '"""Support', '"""The support')
        second.run("snakemake", "--profile", "profiles/local", "--cache")
        # The floor of the classification accuracy score, in the references, trains the SVM too, so it reads its code.
        assert executed(second) == sorted(
            per_dataset("tune@{}-svm", "train@{}-svm-0", "evaluate@{}-svm-0", "evaluate_references@{}")
            + ["genbench report"]
        )
        assert len(list(cache.iterdir())) == 2 * 35 + 2 * 9 + 2 * 11, "new results are new entries"

    # Into DVC, from both clones: the one that filled the cache holds links to whole entries, the one that
    # restored from it folders of linked files and folders. Adopted, committed and pushed, each reaches a
    # fresh clone that pulls the same outputs with nothing left to run.
    assert first.path("data/models/tinymnist/seed-0/featurenet/weights.safetensors").is_symlink()
    assert second.path("reports/training/digits/seed-0/featurenet/plots/metrics/loss").is_symlink()
    remote = tmp_path / "dvc-remote"
    for ws in (first, second):
        ws.run("genbench", "adopt")
        assert not [p for root in ("data", "reports") for p in ws.path(root).rglob("*") if p.is_symlink()]
        if not ws.path(".git").exists():
            ws.run("git", "init", "-q", "-b", "main")
        ws.run("dvc", "commit", "--force")
        assert dvc_changed_stages(ws) == []
        assert ws.dvc_repro() == []
        ws.run("dvc", "remote", "add", "--default", "shared", str(remote))
        ws.run("git", "add", "-A")
        ws.run(
            "git",
            "-c",
            "user.name=genbench tests",
            "-c",
            "user.email=tests@genbench.invalid",
            "commit",
            "-q",
            "-m",
            "outputs adopted from the cache",
        )
        ws.run("dvc", "push")
        pulled = Workspace(tmp_path / f"pulled-{ws.root.name}")
        ws.run("git", "clone", "-q", str(ws.root), str(pulled.root))
        pulled.run("dvc", "pull")
        assert pulled.dvc_repro() == [], "the hashes DVC recorded are those of the files, not of the links"
        assert pulled.path("reports/index.html").read_bytes() == ws.path("reports/index.html").read_bytes()


@pytest.mark.minutes(1)
def test_experiments_params_metrics_and_plots(finished_workspace):
    workspace = finished_workspace
    workspace.commit("baseline")
    workspace.run("dvc", "exp", "run", "-S", "classic.svm.C=1")

    params_diff = json.loads(workspace.run("dvc", "params", "diff", "--json").stdout)
    assert params_diff["params.yaml"]["classic.svm.C"] == {"old": 10.0, "new": 1, "diff": -9.0}

    shown = json.loads(workspace.run("dvc", "metrics", "show", "--json").stdout)
    metrics = shown[""]["data"]["reports/metrics/digits/seed-0/svm.json"]["data"]
    assert 0.9 < metrics["accuracy"] <= 1.0 and set(metrics) >= {"macro_f1", "per_class"}
    assert "timing" not in metrics, "wall-clock times are in the timing records, not the metrics"

    # Only what changed: the SVM's scores and the CAS (and its floor) that train an SVM; no timing noise anywhere.
    diff = json.loads(workspace.run("dvc", "metrics", "diff", "--json").stdout)
    assert "accuracy" in diff["reports/metrics/digits/seed-0/svm.json"]
    assert set(diff) <= {
        "reports/metrics/digits/seed-0/svm.json",
        "reports/metrics/digits/references.json",
        "reports/summary.json",
        *(f"reports/metrics/digits/seed-0/cas/{m}.json" for m in ("gan", "ddpm")),
    }

    rendered = json.loads(workspace.run("dvc", "plots", "show", "--json").stdout)
    confusion = rendered["data"]["reports/predictions/digits/seed-0/svm.csv"][0]
    assert confusion["type"] == "vega"
    assert len(confusion["content"]["data"]["values"]) == 360, "one row per test image"
    trajectory = rendered["data"]["reports/figures/digits/trajectory-ddpm.png"][0]
    assert trajectory["type"] == "image", "the report's figures are DVC image plots too"
