"""Atomic, deterministic and code-free artifact files.

Every output is written under a temporary name in its final folder and renamed
into place, so a crash never leaves a half-written file under a finished name.
Zip-based formats get fixed timestamps so the same content gives the same bytes,
which keeps DVC's content hashes stable across runs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from genbench.errors import DataError, OutputError

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with threads.
_UMASK = _read_umask()


# Write failures that are the machine's state, not a bug: reported as one line naming the output.
_FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


@contextlib.contextmanager
def _naming_the_output(path: Path) -> Iterator[None]:
    try:
        yield
    except OutputError as e:  # a file inside an output folder: name the folder, the output the user knows
        raise OutputError(path, e.reason) from None
    except OSError as e:
        if e.errno not in _FULL_OR_READ_ONLY:
            raise
        raise OutputError(path, e.strerror) from None


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; rename it to `path` on success.

    The temporary name keeps the final suffix, for writers that pick a format by it.
    """
    with _naming_the_output(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes it private; outputs are ordinary files
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, path)
        finally:
            tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it replaces `path` on success."""
    with _naming_the_output(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        os.chmod(tmp_dir, 0o777 & ~_UMASK)
        try:
            yield tmp_dir
            # Two renames, so the final name always holds either the old or the new folder.
            old = None
            if path.exists() or path.is_symlink():
                old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
                os.replace(path, old / "previous")
            os.replace(tmp_dir, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def write_directory(path: Path, files: Mapping[str, bytes]) -> None:
    """Make `path` a folder of exactly these files, atomically; a folder that already is keeps its files
    and their times, so no runner sees a change."""
    if (
        path.is_dir()
        and sorted(p.name for p in path.iterdir()) == sorted(files)
        and all((path / name).read_bytes() == data for name, data in files.items())
    ):
        return
    with atomic_directory(path) as staging:
        for name, data in files.items():
            (staging / name).write_bytes(data)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the stage that makes it first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def deterministic_zip(members: Mapping[str, bytes]) -> bytes:
    """A zip of `members` whose bytes depend only on their names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])
    return buffer.getvalue()


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez, but byte-identical for identical arrays and written atomically."""
    members = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        members[f"{name}.npy"] = buffer.getvalue()
    write_bytes(path, deterministic_zip(members))


def check_images(path: Path, key: str, images: np.ndarray, image_shape: tuple[int, ...]) -> None:
    """Images (..., C, H, W) of the dataset's shape, with finite pixels in [0, 1], or a DataError naming the file."""
    if images.ndim < 4 or tuple(images.shape[-3:]) != tuple(image_shape) or images.size == 0:
        raise DataError(
            f"{path}: {key} has shape {images.shape}; expected images of shape (..., "
            f"{', '.join(map(str, image_shape))})"
        )
    if (
        not np.issubdtype(images.dtype, np.floating)
        or not np.isfinite(images).all()
        or images.min() < 0
        or images.max() > 1
    ):
        raise DataError(f"{path}: {key} has pixels that are not finite numbers in [0, 1]")


def check_labels(path: Path, key: str, labels: np.ndarray, n: int, n_classes: int) -> None:
    """n integer labels in -1..n_classes-1 (-1: drawn without a class), or a DataError naming the file."""
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: {key} has shape {labels.shape} and type {labels.dtype}; expected {n} integer labels")
    if labels.size and (labels.min() < -1 or labels.max() >= n_classes):
        raise DataError(f"{path}: {key} has labels outside -1..{n_classes - 1}")


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load the named arrays; never unpickles, and names the file on any problem."""
    with _npz(path) as npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise DataError(f"{path}: missing arrays {', '.join(missing)}; found {', '.join(npz.files) or 'none'}")
        return {k: npz[k] for k in keys}


def npz_keys(path: Path) -> list[str]:
    """The names of the arrays in an npz file."""
    with _npz(path) as npz:
        return list(npz.files)


@contextlib.contextmanager
def _npz(path: Path) -> Iterator:
    try:
        with np.load(path, allow_pickle=False) as npz:
            yield npz
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the stage that makes it first") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable npz file ({e})") from None
