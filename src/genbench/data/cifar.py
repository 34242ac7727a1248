"""The binary version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html), read from its tar.gz.

Written by hand: each record is one label byte then 3072 pixel bytes (1024 red,
1024 green, 1024 blue, rows first). Reading the archive in memory, member by
member, means nothing is extracted to disk and no member name can escape a folder.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from genbench.errors import DataError

RECORD_BYTES = 1 + 32 * 32 * 3
FOLDER = "cifar-10-batches-bin"
SPLIT_FILES = {
    "train": tuple(f"{FOLDER}/data_batch_{i}.bin" for i in range(1, 6)),
    "test": (f"{FOLDER}/test_batch.bin",),
}


def read_archive(path: Path, n_classes: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (images uint8 (N, 32, 32, 3), labels uint8 (N,))} from cifar-10-binary.tar.gz."""
    wanted = {name for names in SPLIT_FILES.values() for name in names}
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                _check_member(path, member)
                if member.name in wanted and member.isfile():
                    contents[member.name] = archive.extractfile(member).read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable tar.gz archive ({e})") from None
    missing = sorted(wanted - contents.keys())
    if missing:
        raise DataError(f"{path}: archive lacks {', '.join(missing)}")
    return {
        split: _concat([_decode_batch(path, name, contents[name], n_classes) for name in names])
        for split, names in SPLIT_FILES.items()
    }


def _check_member(path: Path, member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DataError(f"{path}: refusing archive member {member.name!r}, which points outside its folder")
    if member.issym() or member.islnk():
        raise DataError(f"{path}: refusing archive member {member.name!r}, which is a link")


def _decode_batch(path: Path, name: str, data: bytes, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if not data or len(data) % RECORD_BYTES:
        raise DataError(f"{path}: {name} holds {len(data)} bytes, not a whole number of {RECORD_BYTES}-byte records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max() >= n_classes:
        raise DataError(f"{path}: {name} has label {labels.max()}, outside 0..{n_classes - 1}")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


def _concat(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
