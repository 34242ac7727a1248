"""Layers without cycles: genbench's modules import one way, read by code_deps' own import reader.

Because a stage's source files are the import closure of its code, the import graph is the rerun
graph: a lower layer that imported a higher one would make an edit up there rerun stages that
cannot depend on it.
"""

from __future__ import annotations

from pathlib import Path

from genbench import code_deps

SOURCE = Path(code_deps.__file__).resolve().parent
# Bottom to top. A module imports modules of its own layer or of those below it.
LAYERS = {
    "foundation": (
        "errors",
        "schema",
        "paths",
        "config",
        "artifacts",
        "records",
        "metric_table",
        "git",
        "timings",
        "views",
        "gpus",
        "device",
        "pipeline",
        "randomness",
    ),
    "data": ("data",),
    "models": ("models",),
    "train": ("train",),
    "evaluate": ("evaluate", "sample", "generate"),
    "tune": ("tune",),
    "report": ("report",),
    "workflow": ("validate", "params_check", "code_deps", "dag", "snakemake_rules", "reach", "adopt"),
    "cli": ("cli", "__main__"),
}
ORDER = list(LAYERS)


def modules() -> list[str]:
    return sorted(
        "genbench." + ".".join(p.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        for p in SOURCE.rglob("*.py")
        if p.name != "__init__.py" or p.parent != SOURCE
    )


def layer_of(module: str) -> str | None:
    """The layer of a module; None for the packages' empty __init__ files (genbench.data, ...)."""
    first = module.split(".")[1]
    return next((layer for layer, names in LAYERS.items() if first in names), None)


def imports_of(module: str) -> set[str]:
    """The genbench modules `module` imports, packages' own __init__ files left out."""
    return {m for m in code_deps._imports(module) if m != module and m.count(".") >= 1 and not code_deps._is_package(m)}


def import_graph() -> dict[str, set[str]]:
    return {m: imports_of(m) for m in modules() if not code_deps._is_package(m)}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} ({layer_of(module)}) imports {imported} ({layer_of(imported)})"
        for module, imported_set in sorted(graph.items())
        for imported in sorted(imported_set)
        if ORDER.index(layer_of(imported)) > ORDER.index(layer_of(module))
    ]


def cycles(graph: dict[str, set[str]]) -> list[str]:
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                found.append(" -> ".join([*path[path.index(imported) :], imported]))
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph of genbench's packages and top-level modules (genbench.data, genbench.config, ...)."""
    package = lambda module: ".".join(module.split(".")[:2])  # noqa: E731
    found: dict[str, set[str]] = {}
    for module, imported in graph.items():
        found.setdefault(package(module), set()).update(package(m) for m in imported if package(m) != package(module))
    return found


def test_every_module_has_a_layer():
    assert [m for m in import_graph() if layer_of(m) is None] == []


def test_layers_import_downwards_only():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []
    assert cycles(package_graph(import_graph())) == []


def test_the_checks_see_an_upward_import_and_a_cycle():
    graph = import_graph()
    assert "genbench.models.base" in graph["genbench.models.deep"], "imports inside functions and from-imports are read"
    assert "genbench.params_check" not in graph["genbench.cli"], "the CLI loads the params check by name only"
    graph["genbench.models.deep"] = graph["genbench.models.deep"] | {"genbench.train.loop"}
    assert upward_imports(graph) == ["genbench.models.deep (models) imports genbench.train.loop (train)"]
    graph["genbench.train.loop"] = graph["genbench.train.loop"] | {"genbench.models.deep"}
    assert "genbench.models.deep -> genbench.train.loop -> genbench.models.deep" in cycles(graph)
