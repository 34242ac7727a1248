"""Nothing the pipeline loads can run code: a scan of every Python file the project runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = sorted([*ROOT.glob("src/**/*.py"), *ROOT.glob("bench/*.py")])
SNAKEMAKE_FILES = sorted([ROOT / "Snakefile", *ROOT.glob("rules/*.smk")])

# Modules whose loaders unpickle, or run arbitrary code by design.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def dotted(node: ast.AST) -> str:
    """`np.lib.format.load` for the call target np.lib.format.load; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def safe_loader_classes(tree: ast.Module) -> set[str]:
    """Classes in this file that subclass one of yaml's safe loaders."""
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and any(dotted(b).split(".")[-1] in SAFE_YAML_LOADERS for b in node.bases)
    }


def yaml_loader_is_safe(loader: ast.expr | None, local_safe: set[str]) -> bool:
    if loader is None:
        return False
    if (
        isinstance(loader, ast.Call) and dotted(loader.func) == "getattr"
    ):  # getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        names = [a.value if isinstance(a, ast.Constant) else dotted(a).split(".")[-1] for a in loader.args[1:]]
        return bool(names) and all(name in SAFE_YAML_LOADERS for name in names)
    name = dotted(loader).split(".")[-1]
    return name in SAFE_YAML_LOADERS or name in local_safe


def problems_in(source: str, filename: str) -> list[str]:
    tree = ast.parse(source, filename)
    local_safe = safe_loader_classes(tree)
    found = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES:
                    report(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in UNSAFE_MODULES:
            report(node, f"imports from {node.module}")
        elif isinstance(node, ast.Call):
            target = dotted(node.func)
            last = target.split(".")[-1]
            if target in {"eval", "exec", "compile", "__import__", "os.system", "os.popen"}:
                report(node, f"calls {target}")
            elif (
                last == "load"
                and target.split(".")[0] in {"np", "numpy"}
                and not is_constant(keyword(node, "allow_pickle"), False)
            ):
                report(node, f"{target} without allow_pickle=False")
            elif (
                target.startswith("torch.") and last == "load" and not is_constant(keyword(node, "weights_only"), True)
            ):
                report(node, f"{target} without weights_only=True")
            elif target in {"yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all"}:
                report(node, f"calls {target}")
            elif target == "yaml.load" and not yaml_loader_is_safe(keyword(node, "Loader"), local_safe):
                report(node, "yaml.load without a safe loader")
            elif (
                target.startswith("subprocess.")
                and keyword(node, "shell") is not None
                and not is_constant(keyword(node, "shell"), False)
            ):
                report(node, f"{target} with shell=")
            elif target.startswith("skops.") and last in {"load", "loads"} and keyword(node, "trusted") is not None:
                report(node, f"{target} with trusted=: skops must refuse every type it does not trust by default")
    return found


def test_the_scan_sees_a_file_of_every_banned_pattern():
    sample = "\n".join(
        [
            "import pickle",
            "from joblib import load",
            "import numpy as np",
            "import torch, yaml, subprocess, os",
            "np.load('a.npz', allow_pickle=True)",
            "np.load('a.npz')",
            "torch.load('c.pt')",
            "torch.load('c.pt', weights_only=False)",
            "yaml.load(text)",
            "yaml.load(text, Loader=yaml.Loader)",
            "yaml.full_load(text)",
            "eval('1')",
            "exec('x = 1')",
            "subprocess.run(f'genbench {name}', shell=True)",
            "os.system('ls')",
            "skops.io.loads(data, trusted=types)",
        ]
    )
    flagged = {int(problem.split(":")[1]) for problem in problems_in(sample, "sample.py")}
    assert flagged == {1, 2, *range(5, 17)}  # every line but the two plain imports


def test_the_scan_lets_the_safe_spellings_through():
    sample = "\n".join(
        [
            "import numpy as np",
            "import torch, yaml, subprocess",
            "class Strict(yaml.SafeLoader): pass",
            "np.load('a.npz', allow_pickle=False)",
            "torch.load('c.pt', map_location='cpu', weights_only=True)",
            "yaml.load(text, Loader=Strict)",
            "yaml.load(text, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))",
            "yaml.safe_load(text)",
            "subprocess.run(['git', 'status'])",
            "net.eval()",
        ]
    )
    assert problems_in(sample, "sample.py") == []


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_loader_that_can_run_code(path):
    assert problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def test_snakemake_rules_run_only_genbench_commands_on_validated_names():
    """Rules use `shell:` strings, filled from `params:` that hold validated dataset and model names."""
    for path in SNAKEMAKE_FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*run:", text, re.MULTILINE), f"{path.name}: a run: block runs Python no hash covers"
        for command in re.findall(r'shell:\s*\n\s*"([^"]*)"', text):
            assert command.startswith("genbench "), f"{path.name}: {command}"
            assert set(re.findall(r"\{([^}]*)\}", command)) <= {"params.dataset", "params.model"}, (
                f"{path.name}: {command}"
            )
