"""The source files a stage runs: the import closure of its modules inside src/genbench, read statically.

`group_files` gives each group of the spec (pipeline.py) its files: those of the command line
(genbench.cli), of the module the group runs and of the modules it loads by name. For a model axis,
one file per model is written with {model} in its path, and whatever else any registered model of
that kind needs is listed for all of them.

Every `import genbench...` and `from genbench... import ...` counts, at the top of a module or
inside a function, so the closure may hold more than one run loads (an extra rerun), never less;
only imports under `if TYPE_CHECKING:`, which no run executes, are left out.
A module found counts with its packages' __init__.py files, and a package with the files it ships
beside its code (the report's templates). Modules loaded by a computed name are not seen here:
the spec (pipeline.py) names them. The pipeline tests check both against what each stage really
loads (tests/conftest.py: assert_reads_declared).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "genbench"
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # src/
CLI = "genbench.cli"


def group_files(group) -> list[str]:
    """A pipeline.Group's source files, with {model} in the one file each model has of its own."""
    from genbench import pipeline
    from genbench.models import registry
    from genbench.models.base import Kind

    def files(model: str | None) -> list[str]:
        loads = [name.replace(pipeline.M, model) if model else name for name in group.loads]
        return closure([CLI, group.entry, *loads])

    if not group.models:
        return files(group.model)
    own = [
        f"src/{name.replace('.', '/')}.py" for name in group.loads if pipeline.M in name
    ]  # e.g. src/genbench/models/{model}.py
    needs = {model: set(files(model)) for model in registry.names(Kind(group.models))}
    shared = set().union(*needs.values())
    for model in needs:
        # A model's own file is left to the template, unless another model's code imports it too.
        shared -= {
            f.replace(pipeline.M, model)
            for f in own
            if not any(f.replace(pipeline.M, model) in other for m, other in needs.items() if m != model)
        }
    return sorted(shared) + own


def closure(modules: list[str]) -> list[str]:
    """The files (relative to the repository root: src/genbench/...) of `modules` and everything they import.
    A name may end in ".*": every module of that package."""
    seen: set[str] = set()
    pending = [m for name in modules for m in _expand(name)]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending += [m for m in _imports(module) if m not in seen]
        pending += [p for p in _parents(module) if p not in seen]
    files = {_file(m) for m in seen}
    files |= {f for m in seen if _is_package(m) for f in _package_data(m)}
    return sorted(str(Path("src") / f.relative_to(SOURCE_ROOT)) for f in files)


def _expand(name: str) -> list[str]:
    if not name.endswith(".*"):
        return [name]
    package = name[:-2]
    folder = _file(package).parent
    return [package] + sorted(f"{package}.{f.stem}" for f in folder.glob("*.py") if f.stem != "__init__")


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _file(module: str) -> Path:
    path = SOURCE_ROOT.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    raise ValueError(f"{module}: no such module under {SOURCE_ROOT / PACKAGE}")


def _exists(module: str) -> bool:
    try:
        _file(module)
    except ValueError:
        return False
    return True


def _is_package(module: str) -> bool:
    return _file(module).name == "__init__.py"


@cache
def _imports(module: str) -> tuple[str, ...]:
    """The genbench modules `module` imports anywhere in its text."""
    path = _file(module)
    package = module if _is_package(module) else module.rpartition(".")[0]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            found.append(base)
            # `from genbench import paths` imports a module; `from genbench.x import name` may name one.
            found += [f"{base}.{alias.name}" for alias in node.names if _exists(f"{base}.{alias.name}")]
    return tuple(sorted({name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}))


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree but those under `if TYPE_CHECKING:`, which only type checkers run."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _absolute(name: str | None, level: int, package: str) -> str:
    if level == 0:
        return name or ""
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _package_data(package: str) -> list[Path]:
    """Files other than Python modules in a package's folder and its plain (non-package) subfolders."""
    folder = _file(package).parent
    found = []
    for path in sorted(folder.rglob("*")):
        inside = path.relative_to(folder).parts[:-1]
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in inside:
            continue
        if any((folder.joinpath(*inside[: i + 1]) / "__init__.py").is_file() for i in range(len(inside))):
            continue  # belongs to a subpackage
        found.append(path)
    return found
