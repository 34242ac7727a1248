"""scikit-learn estimators stored with skops, which refuses to build types it does not trust."""

from __future__ import annotations

import importlib.abc
import io
import json
import sys
import zipfile
from pathlib import Path

from genbench import artifacts
from genbench.errors import DataError

FILE_NAME = "model.skops"


def save(estimator, model_dir: Path) -> None:
    skops_io = _import_skops_io()
    artifacts.write_bytes(model_dir / FILE_NAME, _renumber_object_ids(skops_io.dumps(estimator)))


def load(model_dir: Path):
    skops_io = _import_skops_io()
    path = model_dir / FILE_NAME
    try:
        data = path.read_bytes()
        untrusted = skops_io.get_untrusted_types(data=data)
        if untrusted:
            raise DataError(f"{path}: refusing to load untrusted types {', '.join(untrusted)}")
        return skops_io.loads(data)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the train stage first") from None
    except DataError:
        raise
    except Exception as e:  # skops raises many types for a damaged archive
        raise DataError(f"{path}: not a readable skops model ({type(e).__name__}: {e})") from None


_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


class _RefuseTorchShim(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == _TORCH_SHIM or name.startswith(_TORCH_SHIM + "."):
            raise ImportError(f"{name} is not needed to list scikit-learn's estimators")
        return None


def _import_skops_io():
    """skops.io, without importing torch on the way.

    At import, skops lists scikit-learn's estimators (sklearn.utils.all_estimators), whose
    pkgutil.walk_packages imports every subpackage before filtering out sklearn.externals; one of
    them imports torch, about a second of every classic stage that saves or loads a model. The walk
    passes over a package that fails to import, and no estimator lives there, so that one is refused
    while skops loads.
    """
    refuse = _RefuseTorchShim()  # consulted only for modules not yet imported
    sys.meta_path.insert(0, refuse)
    try:
        import skops.io
    finally:
        sys.meta_path.remove(refuse)
    return skops.io


def _renumber_object_ids(archive: bytes) -> bytes:
    """Replace skops' memory-address object ids with 0, 1, 2... in order of appearance.

    skops keys shared objects and array files by id(), which differs in every process;
    renumbering makes equal models give equal bytes, so DVC's hashes stay stable.
    """
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(members.pop("schema.json"))
    new_ids: dict[int, int] = {}
    new_file_names: dict[str, str] = {}

    def visit(node):
        if isinstance(node, dict):
            if "__id__" in node:
                node["__id__"] = new_ids.setdefault(node["__id__"], len(new_ids))
            if isinstance(node.get("file"), str) and node["file"].endswith(".npy"):
                old = node["file"]
                node["file"] = new_file_names[old] = f"{new_ids.setdefault(int(old[:-4]), len(new_ids))}.npy"
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    renamed = {new_file_names.get(name, name): data for name, data in members.items()}
    renamed["schema.json"] = json.dumps(schema, indent=2).encode()
    return artifacts.deterministic_zip(renamed)
