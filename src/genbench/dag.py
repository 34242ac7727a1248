"""`genbench dag`: write dvc.yaml from the pipeline's spec (pipeline.py); `--check` says whether it is stale.

Axes become DVC's own `matrix` over the params lists, so editing `datasets:`, `models:` or
`seeds:` in params.yaml needs no new dvc.yaml; changing the spec or any stage's imports does.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from genbench import artifacts, code_deps, pipeline
from genbench.errors import GenbenchError

DVC_YAML = Path("dvc.yaml")
AXIS_LISTS = {"dataset": "datasets", "model": "models.{}", "seed": "seeds"}
HEADER = """\
# The pipeline's DAG for `dvc repro`, generated from src/genbench/pipeline.py by `genbench dag`:
# edit that file, not this one. `genbench dag --check` says whether this file is stale (the tests
# run it). The Snakefile builds its rules from the same spec, and tests/test_dag.py proves the two
# graphs equal. Each stage's source files are the import closure of the code it runs.
"""


def command(args) -> int:
    text = render()
    if not args.check:
        artifacts.write_text(DVC_YAML, text)
        return 0
    try:
        current = DVC_YAML.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenbenchError(f"{DVC_YAML}: file not found; run `genbench dag` to write it") from None
    if current != text:
        raise GenbenchError(f"{DVC_YAML} is stale, run `genbench dag`: {first_difference(current, text)}")
    return 0


def first_difference(current: str, expected: str) -> str:
    have, want = current.splitlines(), expected.splitlines()
    for number, (line, wanted) in enumerate(zip(have, want), start=1):
        if line != wanted:
            return f"line {number} is {line.strip()!r}, the spec gives {wanted.strip()!r}"
    if len(have) < len(want):
        return f"it ends at line {len(have)}; the spec gives {want[len(have)].strip()!r} next"
    return f"line {len(want) + 1} is {have[len(want)].strip()!r}, past the end of what the spec gives"


def render() -> str:
    blocks = [HEADER, "stages:"]
    for group in pipeline.GROUPS:
        body = yaml.safe_dump({group.name: stage(group)}, sort_keys=False, default_flow_style=False, width=1000)
        blocks.append(f"  # {group.doc}")
        blocks.append("\n".join("  " + line for line in body.splitlines()))
    return "\n".join(blocks) + "\n"


def stage(group: pipeline.Group) -> dict:
    entry: dict = {}
    if group.axes:
        entry["matrix"] = {axis: "${" + AXIS_LISTS[axis].format(group.model_list) + "}" for axis in group.axes}
    entry["cmd"] = _dvc(group.shell)
    entry["deps"] = [
        _dvc(p)
        for p in (*code_deps.group_files(group), *group.sources, *(i.path for i in group.inputs), *group.gathers)
    ]
    entry["params"] = [{"params.yaml": None}] if group.whole_params else [_dvc(key) for key in group.params]
    for kind in ("outs", "metrics", "plots"):
        listed = [_out(out) for out in group.all_outputs if out.kind == kind]
        if listed:
            entry[kind] = listed
    if not entry["params"]:
        del entry["params"]
    return entry


def _out(out: pipeline.Out):
    options = {"persist": True} if out.persist else {}
    options |= {key: _dvc(value) for key, value in out.plot.items()}
    return {_dvc(out.path): options} if options else _dvc(out.path)


def _dvc(text: str) -> str:
    """A spec path or key in DVC's templating: {dataset} -> ${item.dataset}."""
    for placeholder, value in (
        (pipeline.D, "${item.dataset}"),
        (pipeline.M, "${item.model}"),
        (pipeline.S, "${item.seed}"),
        (pipeline.FEATURE_SEED, "${evaluate.feature_seed}"),
    ):
        text = text.replace(placeholder, value)
    return text
