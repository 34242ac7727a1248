"""What the pipeline adds to DVC's and Snakemake's own cost: no-op runs of the real DAG against a toy DAG of the same
shape.

For a params file, the real DAG (dvc.yaml and the Snakefile, with their params and source
dependencies) and a toy one (the same jobs, dependency and output paths and edges; each
command `true`, no params) are both brought up to date without running anything: every
output is a placeholder, recorded by `dvc commit` and `snakemake --touch`. Then the medians of
a no-op `dvc repro`, `dvc status` and `snakemake -n` on each: the toy is the tools' floor.

Usage: python bench/overhead.py [--repeats N]; writes bench/overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))
# The default DAG, and three datasets with every model (61 jobs).
SHAPES = {"default": None, "three_datasets": "datasets: [digits, mnist, cifar10]"}
NO_OP = {
    "dvc_repro": ["dvc", "repro"],
    "dvc_status": ["dvc", "status"],
    "snakemake_dry_run": ["snakemake", "-n", "--cores", "1"],
}


def environment(repo: Path) -> dict:
    return dict(
        os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1", PYTHONPATH=str(repo / "src")
    )


def run(cmd: list[str], repo: Path) -> str:
    done = subprocess.run(cmd, cwd=repo, env=environment(repo), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} in {repo} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def graph(repo: Path) -> dict:
    """The DAG as tests/dag_export.py exports it: {"jobs": {cmd: {"deps", "outs"}}, "edges"}."""
    script = "import json, dag_export; print(json.dumps(dag_export.dvc_graph()))"
    env = environment(repo) | {"PYTHONPATH": f"{repo / 'src'}{os.pathsep}{ROOT / 'tests'}"}
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def is_folder(path: str) -> bool:
    return not Path(path).suffix  # every file output of the pipeline has a suffix (.npz, .json, .csv, .html)


def placeholders(repo: Path, paths: set[str]) -> None:
    for path in sorted(paths):
        target = repo / path
        if is_folder(path):
            target.mkdir(parents=True, exist_ok=True)
            (target / "placeholder").write_text(path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path)


def bring_up_to_date(repo: Path, outs: set[str]) -> None:
    placeholders(repo, outs)
    run(["dvc", "commit", "--force", "--quiet"], repo)
    run(["snakemake", "--touch", "--cores", "1", "--quiet"], repo)


def toy_repo(real: Path, dag: dict, dest: Path) -> Path:
    """A repository with the same files as `real` but a DAG whose commands do nothing."""
    generated = {".dvc", ".git", ".snakemake", "data", "reports"}
    shutil.copytree(real, dest, ignore=lambda folder, names: generated & set(names) if Path(folder) == real else set())
    stages, rules, all_outs = {}, [], set()
    for i, (_, job) in enumerate(sorted(dag["jobs"].items())):
        stages[f"job{i}"] = (
            {"cmd": "true", "deps": job["deps"], "outs": job["outs"]}
            if job["deps"]
            else {"cmd": "true", "outs": job["outs"]}
        )
        outputs = ", ".join(f'directory("{o}")' if is_folder(o) else f'"{o}"' for o in job["outs"])
        inputs = ", ".join(f'"{d}"' for d in job["deps"])
        rules.append(f"rule job{i}:\n    input: {inputs}\n    output: {outputs}\n    shell: 'true'\n")
        all_outs.update(job["outs"])
    (dest / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    final = ", ".join(f'"{o}"' for o in sorted(all_outs))
    (dest / "Snakefile").write_text(f"rule all:\n    input: {final}\n\n" + "\n".join(rules))
    shutil.rmtree(dest / "rules", ignore_errors=True)
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        run(command, dest)
    return dest


def median_seconds(cmd: list[str], repo: Path, repeats: int) -> dict:
    run(cmd, repo)  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(cmd, repo)
        samples.append(time.perf_counter() - start)
    return {"median_s": statistics.median(samples), "samples_s": samples}


def measure_shape(name: str, params_edit: str | None, parent: Path, repeats: int) -> dict:
    real = parent / f"{name}-real"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(real)], check=True)
    if params_edit:
        text = (real / "params.yaml").read_text()
        (real / "params.yaml").write_text(text.replace("datasets: [digits]", params_edit, 1))
    dag = graph(real)
    outs = {o for job in dag["jobs"].values() for o in job["outs"]}
    toy = toy_repo(real, dag, parent / f"{name}-toy")
    bring_up_to_date(real, outs)
    bring_up_to_date(toy, outs)
    result = {"jobs": len(dag["jobs"]), "edges": len(dag["edges"])}
    for key, cmd in NO_OP.items():
        planned = run(cmd, real)
        assert "Running stage" not in planned, f"{cmd}: the real DAG is not up to date"
        real_s, toy_s = median_seconds(cmd, real, repeats), median_seconds(cmd, toy, repeats)
        result[key] = {"pipeline": real_s, "toy": toy_s, "ratio": real_s["median_s"] / toy_s["median_s"]}
        print(f"{name} {key}: {real_s['median_s']:.2f} s vs floor {toy_s['median_s']:.2f} s", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: measure_shape(name, edit, Path(tmp), args.repeats) for name, edit in SHAPES.items()}
    (ROOT / "bench" / "overhead.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
