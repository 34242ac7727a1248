"""pretrained: the weights of the feature spaces evaluate.feature_spaces names, verified by sha256, into
data/pretrained/.

Each file comes from its registry entry's hosts (evaluate/pretrained.py), or first from GENBENCH_DATA_MIRROR
(as <mirror>/pretrained/<file>), with data/download.py's resumed, retried and verified transfer; a file put
there by hand is kept when its sha256 is the registry's. Offline, it stops at once with one line naming each
file, its sha256 and the two ways to put it there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from genbench import artifacts
from genbench.config import DownloadParams, Params
from genbench.data import download
from genbench.data.sources import RawFile
from genbench.errors import DataError
from genbench.evaluate import pretrained

MANIFEST = "manifest.json"


def stage(params: Params, io) -> None:
    run(params.evaluate.feature_spaces, io.output("pretrained"), params.download)


def run(spaces: list[str], folder: Path, settings: DownloadParams) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    registered_files = [pretrained.entry(space) for space in pretrained.needing_weights(spaces)]
    failures = {}
    for registered in registered_files:
        dest = folder / registered.name
        if dest.is_file():
            problem = pretrained.mismatch(dest, registered)
            if not problem:
                continue  # a verified copy is there: kept, nothing fetched
            print(f"genbench: {problem}; fetching it again", file=sys.stderr)
        try:
            download.fetch(
                RawFile(registered.name, registered.sha256, registered.size), _urls(registered), dest, settings
            )
        except DataError as e:
            failures[registered] = str(e)
    if not failures:
        # What the folder holds, also for the featurenet alone: Snakemake's cache keys the evaluations by their
        # inputs' content, and an empty folder's differs from clone to clone.
        artifacts.write_json(
            folder / MANIFEST,
            {"files": [{"name": e.name, "sha256": e.sha256, "size": e.size} for e in registered_files]},
        )
        return
    wanted = "; ".join(f"{file.name} (sha256 {file.sha256}, {file.size} bytes)" for file in failures)
    reasons = " | ".join(f"{file.name}: {why}" for file, why in failures.items())
    raise DataError(
        f"{folder}: could not fetch {wanted}. Put each into {folder}/ by hand, or set "
        f"{download.MIRROR_VARIABLE} to a base URL or folder that holds pretrained/<file>. Details: {reasons}"
    )


def _urls(entry: pretrained.Pretrained) -> list[tuple[str, bool]]:
    """(URL, whether a re-compressed copy is accepted): the mirror first, then the registry's hosts."""
    mirror = os.environ.get(download.MIRROR_VARIABLE, "").strip()
    urls = [(f"{mirror.rstrip('/')}/pretrained/{entry.name}", False)] if mirror else []
    return urls + [(url, False) for url in entry.urls]
