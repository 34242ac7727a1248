"""Copy the outputs a Snakemake run stored in or restored from its between-workflow cache into place.

With --cache, Snakemake leaves links into the shared cache (SNAKEMAKE_OUTPUT_CACHE): an output it
stored becomes a link to its entry, a file it restored a link to one, and a folder it restored a
real folder whose entries are links. DVC hashes a linked file through its link but does not walk
into a linked folder, so a stage that depends on a parent folder (the report reads data/models/)
would be recorded without the files behind the links. `genbench adopt` replaces each link into the
cache under data/ and reports/ by a copy of what it points to; `dvc commit --force` then records
the real content. Other links, such as raw data linked from shared storage by hand, stay.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from genbench.artifacts import atomic_directory, atomic_path
from genbench.errors import DataError

OUTPUT_ROOTS = (Path("data"), Path("reports"))
# Snakemake names each cache entry by the job's sha256 provenance hash (plus the output's name).
CACHE_ENTRY = re.compile(r"^[0-9a-f]{64}")


def links_under(roots: tuple[Path, ...] = OUTPUT_ROOTS) -> list[Path]:
    """Links under `roots` into Snakemake's cache: to an entry, or to a file inside one."""
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):  # it lists a linked folder but does not enter it
            for path in (Path(folder, name) for name in dirs + files):
                if path.is_symlink() and any(CACHE_ENTRY.match(part) for part in Path(os.readlink(path)).parts):
                    found.append(path)
    return sorted(found)


def copy_in_place(link: Path) -> None:
    """Replace `link` atomically by a copy of its target, keeping the link's time so file times stay in DAG order."""
    try:
        target = link.resolve(strict=True)
        made_at = link.lstat().st_mtime_ns
        if target.is_dir():
            with atomic_directory(link) as tmp:
                _copy_folder(target, tmp)
        else:
            with atomic_path(link) as tmp:
                shutil.copyfile(target, tmp)
        os.utime(link, ns=(made_at, made_at))
    except FileNotFoundError as e:
        raise DataError(
            f"{link}: {e.filename or os.readlink(link)} is gone (was the cache cleared?); rerun the job that makes it"
        ) from None
    except (RuntimeError, OSError) as e:  # a loop of links: RuntimeError before Python 3.13
        raise DataError(f"{link}: cannot be copied from the cache ({getattr(e, 'strerror', None) or e})") from None


def _copy_folder(source: Path, dest: Path) -> None:
    """The folder's files with ordinary modes: the cache makes its entries writable by everyone."""
    for folder, _, files in os.walk(source, followlinks=True):
        here = dest / Path(folder).relative_to(source)
        here.mkdir(exist_ok=True)
        for name in files:
            shutil.copyfile(Path(folder, name), here / name)


def command(args) -> None:
    copied = run()
    print(f"genbench: copied {len(copied)} cached output(s) into place; now run `dvc commit --force`")


def run(roots: tuple[Path, ...] = OUTPUT_ROOTS) -> list[Path]:
    links = links_under(roots)
    for link in links:
        copy_in_place(link)
    return links
