"""MkDocs hooks: pages whose tables come from the code and from runs, never typed by hand.

- `<!-- params-reference -->`: every key of params.yaml, from the schema's fields and descriptions
  (every registered model's sections included, genbench/validate.py);
- `<!-- blast-radius -->`: how many stages of the default DAG an edit to each source file reruns,
  from the spec and the import graph (what `genbench dag` writes into dvc.yaml);
- `<!-- metric-table -->`: every metric the report shows, its heading, direction and interval
  (genbench/metric_table.py);
- `<!-- run-tables: NAME -->`: a finished run's figures, stage times and peak memory, from the files
  `python bench/run_tables.py RUN --save docs/runs/NAME` kept of it.
"""

from __future__ import annotations

import json
import re
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- (params-reference|blast-radius|metric-table|run-tables: [\w-]+) -->")


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: _render(m.group(1)), markdown)


def _render(marker: str) -> str:
    if marker == "params-reference":
        return params_reference()
    if marker == "blast-radius":
        return blast_radius()
    if marker == "metric-table":
        return metric_table()
    sys.path.insert(0, str(ROOT / "bench"))
    import run_tables

    return run_tables.markdown(ROOT / "docs" / "runs" / marker.split(": ")[1])


def params_reference() -> str:
    from pydantic import BaseModel

    from genbench.validate import whole_schema

    rows: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            nested = _model_of(field.annotation)
            if nested is not None:
                rows.append(
                    f"| **`{key}`** | section | | {_escape(field.description or _first_line(nested.__doc__))} |"
                )
                walk(nested, f"{key}.")
                continue
            value = (
                _model_of(typing.get_args(field.annotation)[-1])
                if typing.get_origin(field.annotation) is dict
                else None
            )
            if value is not None:  # own_datasets: a mapping of names to sections
                rows.append(f"| **`{key}`** | names to sections | `{{}}` | {_escape(field.description)} |")
                walk(value, f"{key}.<name>.")
                continue
            if not field.description:  # the reference is only as complete as the schema
                raise ValueError(f"params reference: {key} has no description in its schema (Field(description=...))")
            default = (
                "required"
                if field.is_required()
                else f"`{json.dumps(_plain(field.get_default(call_default_factory=True)))}`"
            )
            rows.append(f"| `{key}` | `{_type_name(field.annotation)}` | {default} | {_escape(field.description)} |")

    walk(whole_schema(), "")
    return "| key | type | default | what it sets |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"


def metric_table() -> str:
    from genbench import metric_table as table

    better = {"max": "higher", "min": "lower", None: "not ranked"}
    rows = [
        f"| {kind} | `{m.key}` | {m.heading} | {better[m.better]} | {m.interval.value} |"
        for kind, metrics in (
            ("classifiers", table.CLASSIFIER),
            ("generative models", table.GENERATIVE),
            ("samples' classes", table.SAMPLE_CLASSES),
        )
        for m in metrics
    ]
    return (
        "| table | key | heading | better | 95% interval |\n| --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def blast_radius() -> str:
    """From the spec: each stage of the default params' DAG with its source files, {model} filled."""
    from genbench import code_deps, pipeline
    from genbench.config import load_params

    params = load_params(ROOT / "params.yaml")
    stages = pipeline.stages(params)
    files_of_group = {group.name: code_deps.group_files(group) for group in pipeline.GROUPS}
    reached: dict[str, int] = {}
    for stage in stages:
        for file in {stage.fill(f) for f in files_of_group[stage.group.name]}:
            reached[file] = reached.get(file, 0) + 1
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "src" / "genbench").rglob("*.py"))
    every = [f for f in sources if reached.get(f, 0) == len(stages)]
    lines = [
        f"Of {len(sources)} source files, {len(every)} rerun all {len(stages)} stages of the default DAG when edited: "
        + ", ".join(f"`{Path(f).relative_to('src/genbench')}`" for f in every)
        + ".",
        "",
        "| file | stages an edit reruns |",
        "| --- | ---: |",
    ]
    lines += [
        f"| `{Path(f).relative_to('src/genbench')}` | {reached.get(f, 0)} |"
        for f in sources
        if reached.get(f, 0) < len(stages)
    ]
    return "\n".join(lines) + "\n"


def _model_of(annotation):
    from pydantic import BaseModel

    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if typing.get_origin(annotation) is None else None
    text = text or str(annotation).replace("typing.", "")
    return re.sub(r"Annotated\[(\w+), [^\]]*\]", r"\1", text).replace("NoneType", "None")


def _plain(value):
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
