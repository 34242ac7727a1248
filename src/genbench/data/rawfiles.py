"""Which copy of a registry file is in data/raw/<dataset>/, and whether its content is the official one.

A copy is accepted when its own bytes are the official file's (what the public hosts serve), or
when its decompressed payload is the official payload: a mirror's re-compressed `.gz`, or the
uncompressed file under the official name without `.gz`, as many packages ship MNIST.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from genbench import artifacts
from genbench.data.idx import GZIP_MAGIC
from genbench.data.sources import RawFile

CHUNK_BYTES = 1 << 20


def locate(raw_dir: Path, file: RawFile) -> Path | None:
    """The copy of `file` in `raw_dir`: under its official name, else uncompressed without `.gz`; None if neither."""
    for name in (file.name, file.name.removesuffix(".gz")):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


def mismatch(path: Path, file: RawFile, by_content: bool = True) -> str | None:
    """None when `path` holds `file` (its bytes, or with `by_content` its decompressed payload);
    else one sentence naming the file, what was expected and what was found."""
    actual = artifacts.sha256_of(path)
    if actual == file.sha256:
        return None
    payload = payload_sha256(path) if by_content and file.content_sha256 else None
    if payload is not None and payload == file.content_sha256:
        return None
    expected = f"the official file's sha256 {file.sha256}"
    if by_content and file.content_sha256:
        expected += f" or a decompressed payload of sha256 {file.content_sha256}"
    found = f"sha256 {actual}" + (f", decompressed payload {payload}" if payload not in (None, actual) else "")
    return f"{path}: expected {expected}; found {found}"


def payload_sha256(path: Path) -> str:
    """sha256 of the file's gzip-decompressed content, or of its bytes when it is not gzip."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return "unreadable gzip"
    return digest.hexdigest()
