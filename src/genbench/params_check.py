"""The check of the whole params file that precedes every stage, and the verdicts it keeps.

The check (genbench/validate.py) only stops a stage; it never changes what a stage computes, so
`genbench.cli` loads this module by name and forgets what it imported: none of it is among a
stage's source files, and registering a model reruns no stage of another. Importing every model
imports torch, which the classic stages never need, so a passing verdict is kept: a file is not
checked again while it, genbench's code and the data it names stay the same. This module imports
nothing else until a check has to run.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

from genbench import paths

VERDICTS = Path(".genbench/params-checked")  # one empty file per passing (params, code, data) state
SOURCE = Path(__file__).resolve().parent


def check(path: Path | str) -> None:
    """Raise ConfigError with one line for the first problem of the file at `path`, if it has any."""
    path = Path(path)
    verdict = VERDICTS / _state_of(path)
    if verdict.exists():
        return
    importlib.import_module("genbench.validate").load_params(path)
    try:
        verdict.parent.mkdir(parents=True, exist_ok=True)
        verdict.touch()  # an empty file: creating it is all there is to write
    except OSError:
        pass  # a read-only checkout: the check runs again next time


def _state_of(path: Path) -> str:
    """A digest of everything the check reads: the file, genbench's code, the layout of data/own/ and
    what the download stages found there (an own dataset's image size), and the Python that parses them."""
    digest = hashlib.sha256(sys.version.encode())
    digest.update(path.read_bytes() if path.is_file() else b"")
    for file in sorted(SOURCE.rglob("*.py")):
        digest.update(f"\0{file.relative_to(SOURCE)}\0".encode() + file.read_bytes())
    for entry in sorted(paths.OWN_DATA.rglob("*")) if paths.OWN_DATA.is_dir() else []:
        digest.update(f"\0{entry}\0{entry.stat().st_size if entry.is_file() else -1}".encode())
    for description in sorted(paths.RAW.glob("*/classes.json")):
        digest.update(f"\0{description}\0".encode() + description.read_bytes())
    return digest.hexdigest()
