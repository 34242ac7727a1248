"""Every benchmark, one after the other, then bench/results.json (all figures) and bench/results.md.

  bench/startup.py      stage start-up against `python -c pass` and `import torch`
  bench/overhead.py     no-op dvc repro / dvc status / snakemake -n against a toy DAG of the same shape
  bench/throughput.py   training images/s (DDPM against diffusers) and sampling speed, on the CPU
                        (and with --device cuda on a GPU: throughput-cuda.json)
  bench/end_to_end.py   the default pipeline from a clean clone by DVC and by Snakemake, split by stage
  bench/floors.py       each deep stage against its floor: FLOPs at this machine's matmul rate
  bench/loop_overhead.py  the shared training loop against a plain PyTorch loop of the same network
  bench/cache.py        a run that fills Snakemake's between-workflow cache against a clone that restores from it
  bench/distributed.py  two ranks (train.processes: 2) against one process: throughput and loss curves

They measure the committed code in fresh clones where they clone; run on an otherwise idle machine.
Usage: python bench/run.py [--only NAME ...] [--markdown-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ("startup", "overhead", "throughput", "end_to_end", "floors", "loop_overhead", "cache", "distributed")


def load(name: str) -> dict | None:
    path = BENCH / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def markdown() -> str:
    lines = [
        f"Measured by `python bench/run.py` on {os.cpu_count()} CPU cores "
        f"({platform.processor() or platform.machine()}), "
        f"{platform.platform()}, Python {platform.python_version()}. Medians over repeated runs.",
        "",
    ]
    if overhead := load("overhead"):
        lines += [
            "## Pipeline overhead: no-op runs against the tools' own floor",
            "",
            "The floor: a toy DAG of the same jobs, files and edges whose commands do nothing and which has no params.",
            "",
            "| DAG | jobs | command | pipeline (s) | floor (s) | ratio |",
            "| --- | ---: | --- | ---: | ---: | ---: |",
        ]
        for shape, result in overhead.items():
            for key, label in (
                ("dvc_repro", "`dvc repro`"),
                ("dvc_status", "`dvc status`"),
                ("snakemake_dry_run", "`snakemake -n`"),
            ):
                r = result[key]
                lines.append(
                    f"| {shape} | {result['jobs']} | {label} | {r['pipeline']['median_s']:.2f} | "
                    f"{r['toy']['median_s']:.2f} | {r['ratio']:.2f}x |"
                )
        lines.append("")
    if startup := load("startup"):
        lines += [
            "## Start-up",
            "",
            "Launch to the stage's own code: arguments parsed, params validated, the stage module imported.",
            "",
            "| what | median (s) | imports torch |",
            "| --- | ---: | --- |",
        ]
        for name, r in startup.items():
            torch = {True: "yes", False: "no"}.get(r.get("imports_torch"), "")
            lines.append(f"| `{name}` | {r['median_s']:.3f} | {torch} |")
        lines.append("")
    for device in ("cpu", "cuda"):
        if throughput := load(f"throughput-{device}"):
            lines += [
                f"## Throughput on {throughput['device']}",
                "",
                "Default params, digits-sized images (1x8x8), each model's default batch.",
                "",
                "| model | training (images/s) | sampling (images/s) |",
                "| --- | ---: | ---: |",
            ]
            for model in ("featurenet", "vae", "gan", "ddpm"):
                sample = throughput.get(f"{model}_sample_seconds_per_1000")
                lines.append(
                    f"| {model} | {throughput[f'{model}_train_images_per_second']:.0f} | {1000 / sample:.1f} |"
                    if sample
                    else f"| {model} | {throughput[f'{model}_train_images_per_second']:.0f} | |"
                )
            lines += [
                f"| ddpm reference (diffusers UNet2DModel, plain loop) | "
                f"{throughput['ddpm_reference_train_images_per_second']:.0f} | |",
                f"| ddpm, ancestral sampler (every timestep) | | "
                f"{1000 / throughput['ddpm_ancestral_sample_seconds_per_1000']:.2f} |",
                "",
                f"DDPM training throughput against the reference: "
                f"**{throughput['ddpm_train_ratio_to_reference']:.2f}x**.",
                "",
            ]
    if not load("throughput-cuda"):
        lines += [
            "No GPU figures: no GPU was available to this run (`python bench/throughput.py --device cuda` on one).",
            "",
        ]
    if end_to_end := load("end_to_end"):
        lines += [
            "## End to end: the default pipeline from a clean clone",
            "",
            "| runner | wall (s) | sum of stage run times (s) |",
            "| --- | ---: | ---: |",
        ]
        for runner in ("dvc", "snakemake"):
            if runner in end_to_end:
                lines.append(
                    f"| `{'dvc repro' if runner == 'dvc' else 'snakemake --cores 2'}` | "
                    f"{end_to_end[runner]['wall_s']:.0f} | {end_to_end[runner]['sum_of_stages_s']:.0f} |"
                )
        first = next(r for r in ("dvc", "snakemake") if r in end_to_end)
        lines += [
            "",
            "By stage (seconds, each stage's own record of its run):",
            "",
            "| stage | " + " | ".join(r for r in ("dvc", "snakemake") if r in end_to_end) + " |",
            "| --- |" + " ---: |" * sum(r in end_to_end for r in ("dvc", "snakemake")),
        ]
        for stage in end_to_end[first]["stages_s"]:
            cells = [
                f"{end_to_end[r]['stages_s'].get(stage, float('nan')):.1f}"
                for r in ("dvc", "snakemake")
                if r in end_to_end
            ]
            lines.append(f"| `{stage}` | " + " | ".join(cells) + " |")
        lines.append("")
    if floors := load("floors"):
        lines += [
            "## Each deep stage against its floor",
            "",
            f"The floor: the network's FLOPs (torch.utils.flop_counter) at the fp32 matmul rate this machine reaches, "
            f"{floors['matmul_flops_per_second'] / 1e9:.0f} GFLOP/s at {floors['threads']} threads.",
            "",
            "| model | training FLOPs per image | step (ms) | step floor (ms) | ratio | step in the default layout "
            "(ms) | top operators (share of self time) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for model, r in floors["models"].items():
            top = ", ".join(f"{o['op']} {o['share']:.0%}" for o in r["top_operators"][:3])
            lines.append(
                f"| {model} | {r['train_flops_per_image'] / 1e6:.1f} M | {1000 * r['step_seconds']:.1f} | "
                f"{1000 * r['step_floor_seconds']:.1f} | "
                f"{r['step_ratio']:.1f}x | {1000 * r['step_seconds_contiguous_format']:.1f} | {top} |"
            )
        lines += ["", "| stage | measured (s, median over seeds) | floor (s) | ratio |", "| --- | ---: | ---: | ---: |"]
        for stage, r in floors["stages"].items():
            measured = f"{r['measured_s']:.1f}" if r["measured_s"] else ""
            ratio = f"{r['ratio']:.1f}x" if r["ratio"] else ""
            lines.append(f"| {stage} | {measured} | {r['floor_s']:.1f} | {ratio} |")
        lines.append("")
    if overhead_of_loop := load("loop_overhead"):
        lines += [
            "## The shared training loop against a plain PyTorch loop",
            "",
            "The same network, optimizer, loss and random draws, ending with the same weights; medians over "
            "alternating runs.",
            "",
            "| model | steps | shared loop (s) | plain loop (s) | ratio |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for model in ("featurenet", "vae"):
            r = overhead_of_loop[model]
            lines.append(
                f"| {model} | {r['steps']} | {statistics.median(r['shared_loop_s']):.2f} | "
                f"{statistics.median(r['plain_loop_s']):.2f} | {r['ratio']:.3f}x |"
            )
        lines.append("")
    if cache := load("cache"):
        lines += [
            "## Snakemake's between-workflow cache",
            "",
            "`snakemake --profile profiles/local --cache`: a first clone runs every job and fills an empty cache; a "
            "second "
            "restores the cached jobs (download and report still run). Medians over rounds, each with an empty cache.",
            "",
            "| params | rounds | first clone (s) | second clone (s) | ratio |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for params, r in cache.items():
            lines.append(
                f"| `{params}` | {r['repeats']} | {r['cold_median_s']:.1f} | {r['restored_median_s']:.1f} | "
                f"{r['speedup']:.1f}x |"
            )
        lines.append("")
    if distributed := load("distributed"):
        one, two = "one process, two threads", "two ranks, one thread each"
        lines += [
            "## Two ranks against one process",
            "",
            f"`train.processes: 2` (gloo, one thread each) against one process of two threads, "
            f"{distributed['steps']} steps at the "
            f"default batch sizes, medians of {distributed['repeats']} alternating runs. The loss differences are "
            f"the largest over "
            "the run, relative to each loss's largest value, from one process on one thread.",
            "",
            "| model | one process (img/s) | two ranks (img/s) | ratio | loss difference: two ranks | loss "
            "difference: two threads |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for model, r in distributed["models"].items():
            medians, drift = r["median_images_per_second"], r["largest_loss_difference_from_one_thread"]
            lines.append(
                f"| {model} | {medians[one]:.0f} | {medians[two]:.0f} | {r['two_ranks_over_one_process']:.2f}x | "
                f"{drift[two]:.1e} | {drift[one]:.1e} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, default=list(SCRIPTS))
    parser.add_argument("--markdown-only", action="store_true", help="only render results.md from the JSON files")
    args = parser.parse_args()
    if not args.markdown_only:
        for name in args.only:
            subprocess.run([sys.executable, str(BENCH / f"{name}.py")], check=True)
    merged = {
        name: load(name)
        for name in (
            "startup",
            "overhead",
            "throughput-cpu",
            "throughput-cuda",
            "end_to_end",
            "floors",
            "loop_overhead",
            "cache",
            "distributed",
        )
        if load(name)
    }
    (BENCH / "results.json").write_text(json.dumps(merged, indent=2) + "\n")
    (BENCH / "results.md").write_text(markdown())
    print((BENCH / "results.md").read_text())


if __name__ == "__main__":
    main()
