"""Copy the outputs a Snakemake run restored from its between-workflow cache into the workspace.

Snakemake stores and restores a cached output as a symbolic link into the shared cache
(SNAKEMAKE_OUTPUT_CACHE). DVC hashes a linked file through its link but does not walk into a
linked folder, so a stage that depends on a parent folder (the report reads data/models/) would be
recorded without the files behind the links. `genbench adopt` replaces each link under data/ and
reports/ by a copy of what it points to; `dvc commit --force` then records the real content.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from genbench.artifacts import atomic_directory, atomic_path
from genbench.errors import DataError

OUTPUT_ROOTS = (Path("data"), Path("reports"))


def links_under(roots: tuple[Path, ...] = OUTPUT_ROOTS) -> list[Path]:
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):  # it lists a linked folder but does not enter it
            found += [Path(folder, name) for name in dirs + files if Path(folder, name).is_symlink()]
    return sorted(found)


def copy_in_place(link: Path) -> None:
    """Replace `link` atomically by a copy of its target, keeping the link's time so file times stay in DAG order."""
    try:
        target = link.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise DataError(f"{link}: links to {os.readlink(link)}, which is gone (was the cache cleared?); rerun the job that makes it") from None
    made_at = link.lstat().st_mtime_ns
    if target.is_dir():
        with atomic_directory(link) as tmp:
            shutil.copytree(target, tmp, dirs_exist_ok=True)
    else:
        with atomic_path(link) as tmp:
            shutil.copyfile(target, tmp)
    os.utime(link, ns=(made_at, made_at))


def run(roots: tuple[Path, ...] = OUTPUT_ROOTS) -> list[Path]:
    links = links_under(roots)
    for link in links:
        copy_in_place(link)
    return links
