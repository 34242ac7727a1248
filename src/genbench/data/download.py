"""download@D: put a dataset's raw files, verified by sha256, into data/raw/<dataset>/.

Each file is streamed to `<name>.partial` beside its final name, resumed with an
HTTP Range request after a dropped connection, retried with backoff on connection
errors and 5xx answers, checked against its size and sha256, and only then
renamed to its final name. A 404 or a run of failures moves on to the next URL.
Files already present with the right hash are kept, so files put there by hand
are used without any network access.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from genbench import artifacts, paths
from genbench.config import DownloadParams, Params
from genbench.data import idx
from genbench.data.sources import SOURCES, RawFile, Source
from genbench.errors import DataError

MIRROR_VARIABLE = "GENBENCH_DATA_MIRROR"
CHUNK_BYTES = 1 << 16


class _NotFound(Exception):
    """The URL answered 404 (or 410): no point retrying it."""


class _ChecksumMismatch(Exception):
    pass


def stage(params: Params, job) -> None:
    run(job.dataset, paths.raw_dir(job.dataset), params.download)


def run(dataset: str, raw_dir: Path, settings: DownloadParams) -> None:
    source = SOURCES[dataset]
    if source.bundled:
        _export_bundled_digits(source, raw_dir)
        return
    raw_dir.mkdir(parents=True, exist_ok=True)
    missing = [f for f in source.files if not _has_verified_copy(raw_dir / f.name, f)]
    failures: dict[str, str] = {}
    for file in missing:
        try:
            fetch(file, candidate_urls(source, file), raw_dir / file.name, settings)
        except DataError as e:
            failures[file.name] = str(e)
    if failures:
        raise DataError(_offline_message(source, raw_dir, failures))


def candidate_urls(source: Source, file: RawFile) -> list[str]:
    """The mirror from GENBENCH_DATA_MIRROR first (as <mirror>/<dataset>/<file>), then the registry's URLs."""
    urls = []
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if mirror:
        urls.append(f"{mirror.rstrip('/')}/{source.name}/{file.name}")
    urls += [base + file.name for base in source.urls]
    return urls


def fetch(file: RawFile, urls: list[str], dest: Path, settings: DownloadParams) -> None:
    """Download `file` from the first URL that gives the right bytes; raise DataError naming every failure."""
    errors = []
    for url in urls:
        try:
            if "://" not in url or url.startswith("file://"):
                _copy_local(url.removeprefix("file://"), dest, file)
            else:
                _download_with_retries(url, dest, file, settings)
            return
        except _ChecksumMismatch as e:
            print(f"genbench: {e}; trying the next URL", file=sys.stderr)
            errors.append(str(e))
        except _NotFound as e:
            errors.append(f"{url}: {e}")
        except DataError as e:
            errors.append(str(e))
    raise DataError("; ".join(errors) if errors else "no URL to download from")


def _download_with_retries(url: str, dest: Path, file: RawFile, settings: DownloadParams) -> None:
    partial = dest.with_name(dest.name + ".partial")
    last_error = ""
    for attempt in range(settings.retries + 1):
        if attempt:
            time.sleep(settings.backoff_s * 2 ** (attempt - 1))
        try:
            _download_once(url, partial, file, settings.timeout_s)
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                raise _NotFound(f"HTTP {e.code}") from None
            if e.code == 416:  # our partial file is longer than the file: start again
                partial.unlink(missing_ok=True)
            elif e.code < 500:
                raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
            last_error = f"HTTP {e.code} {e.reason}"
            continue
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError, ssl.SSLError) as e:
            reason = getattr(e, "reason", e)
            last_error = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
            continue
        _verify_and_publish(partial, dest, file, url)
        return
    raise DataError(f"{url}: gave up after {settings.retries + 1} attempts ({last_error})")


def _download_once(url: str, partial: Path, file: RawFile, timeout_s: float) -> None:
    """Stream `url` into `partial`, resuming from its current length; returns when the server ends the body."""
    from tqdm import tqdm

    have = partial.stat().st_size if partial.exists() else 0
    if have >= file.size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if have and (response.status != 206 or not response.headers.get("Content-Range", "").startswith(f"bytes {have}-")):
            have = 0  # the server ignored our Range header: take the whole body again
        with open(partial, "ab" if have else "wb") as out, tqdm(
            total=file.size, initial=have, unit="B", unit_scale=True, desc=file.name, leave=False, file=sys.stderr
        ) as progress:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                progress.update(len(chunk))
    received = partial.stat().st_size
    if received < file.size:
        raise ConnectionError(f"connection closed after {received} of {file.size} bytes")


def _copy_local(path: str, dest: Path, file: RawFile) -> None:
    partial = dest.with_name(dest.name + ".partial")
    try:
        shutil.copyfile(path, partial)
    except FileNotFoundError:
        raise _NotFound("no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    _verify_and_publish(partial, dest, file, path)


def _verify_and_publish(partial: Path, dest: Path, file: RawFile, url: str) -> None:
    actual = artifacts.sha256_of(partial)
    if actual != file.sha256:
        partial.unlink(missing_ok=True)
        raise _ChecksumMismatch(f"{file.name} from {url}: sha256 {actual}, expected {file.sha256}")
    os.replace(partial, dest)


def _has_verified_copy(path: Path, file: RawFile) -> bool:
    if not path.is_file():
        return False
    if path.stat().st_size == file.size and artifacts.sha256_of(path) == file.sha256:
        return True
    print(f"genbench: {path} does not match its sha256; downloading it again", file=sys.stderr)
    return False


def _offline_message(source: Source, raw_dir: Path, failures: dict[str, str]) -> str:
    names = ", ".join(failures)
    reasons = " | ".join(f"{name}: {why}" for name, why in failures.items())
    return (
        f"{raw_dir}: could not download {names}. Either put these files into {raw_dir}/ by hand "
        f"(they are checked by sha256), or set {MIRROR_VARIABLE} to a base URL or folder that holds "
        f"{source.name}/<file>. Details: {reasons}"
    )


def _export_bundled_digits(source: Source, raw_dir: Path) -> None:
    """Write scikit-learn's bundled digits in the IDX format the downloaded datasets use."""
    from sklearn.datasets import load_digits

    if source.name != "digits":  # the only dataset that ships inside a package
        raise AssertionError(f"no bundled copy of {source.name}")
    bunch = load_digits()
    if bunch.images.max() > source.pixel_max:  # guards the cast below
        raise AssertionError(f"{source.name} pixel values exceed {source.pixel_max}")
    images, labels = bunch.images.astype(np.uint8), bunch.target.astype(np.uint8)
    split = source.splits["all"]
    with artifacts.atomic_directory(raw_dir) as staging:
        idx.write(staging / split.images, images)
        idx.write(staging / split.labels, labels)
