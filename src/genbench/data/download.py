"""download@D: put a dataset's raw files, verified by sha256, into data/raw/<dataset>/
(a dataset of your own is read from data/own/ instead: data/own.py).

Each file is streamed to `<name>.partial` beside its final name, resumed with an
HTTP Range request after a dropped connection, retried with backoff on connection
errors and 5xx answers, checked against its sha256, and only then renamed to its
final name. A failure that retrying cannot mend (a 404, a host name that does not
resolve) moves on to the next URL at once, and a host that did not resolve is not
asked again. Files already present are kept when their bytes or their decompressed
payload are the official ones (data/rawfiles.py), so files put there by hand are
used without any network access; a mirror's files are accepted the same way, the
public hosts' only with the official bytes.
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
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from genbench import artifacts
from genbench.config import DownloadParams, Params
from genbench.data import idx, own, rawfiles
from genbench.data.sources import SOURCES, RawFile, Source
from genbench.errors import DataError

MIRROR_VARIABLE = "GENBENCH_DATA_MIRROR"
CHUNK_BYTES = 1 << 16


class _NotFound(Exception):
    """The URL answered 404 (or 410): no point retrying it."""


class _ChecksumMismatch(Exception):
    pass


class _Unresolvable(Exception):
    """The host name does not resolve: retrying will not mend it, nor will another file from that host."""


def stage(params: Params, io) -> None:
    if io.dataset in params.own_datasets:
        own.ingest(params, io.dataset, io.output("raw"))
    else:
        run(io.dataset, io.output("raw"), params.download)


def run(dataset: str, raw_dir: Path, settings: DownloadParams) -> None:
    source = SOURCES[dataset]
    if source.bundled:
        _export_bundled_digits(source, raw_dir)
        return
    raw_dir.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    unresolvable_hosts: set[str] = set()
    for file in source.files:
        copy = rawfiles.locate(raw_dir, file)
        problem = rawfiles.mismatch(copy, file) if copy else None
        if copy and not problem:
            continue  # a verified copy is there: kept, nothing fetched
        if problem:
            print(f"genbench: {problem}; downloading it again", file=sys.stderr)
        try:
            fetch(file, candidate_urls(source, file), raw_dir / file.name, settings, unresolvable_hosts)
        except DataError as e:
            failures[file.name] = "; ".join(filter(None, (problem, str(e))))
    if failures:
        raise DataError(_offline_message(source, raw_dir, failures))


def candidate_urls(source: Source, file: RawFile) -> list[tuple[str, bool]]:
    """(URL, whether its file may be a re-compressed copy): the mirror from GENBENCH_DATA_MIRROR first
    (as <mirror>/<dataset>/<file>), then the registry's public hosts, which serve the official bytes."""
    urls = []
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if mirror:
        urls.append((f"{mirror.rstrip('/')}/{source.name}/{file.name}", True))
    urls += [(base + file.name, False) for base in source.urls]
    return urls


def fetch(
    file: RawFile,
    urls: list[tuple[str, bool]],
    dest: Path,
    settings: DownloadParams,
    unresolvable_hosts: set[str] | None = None,
) -> None:
    """Download `file` from the first URL that gives the right bytes; raise DataError naming every failure.
    `unresolvable_hosts` carries the host names that did not resolve from one file to the next."""
    unresolvable_hosts = set() if unresolvable_hosts is None else unresolvable_hosts
    errors = []
    for url, by_content in urls:
        host = urllib.parse.urlsplit(url).hostname
        if host in unresolvable_hosts:
            errors.append(f"{url}: host {host} does not resolve")
            continue
        try:
            if "://" not in url or url.startswith("file://"):
                _copy_local(url.removeprefix("file://"), dest, file, by_content)
            else:
                _download_with_retries(url, dest, file, settings, by_content)
            return
        except _ChecksumMismatch as e:
            print(f"genbench: {e}; trying the next URL", file=sys.stderr)
            errors.append(str(e))
        except _Unresolvable as e:
            unresolvable_hosts.add(host)
            errors.append(f"{url}: {e}")
        except _NotFound as e:
            errors.append(f"{url}: {e}")
        except DataError as e:
            errors.append(str(e))
    raise DataError("; ".join(errors) if errors else "no URL to download from")


def _download_with_retries(url: str, dest: Path, file: RawFile, settings: DownloadParams, by_content: bool) -> None:
    partial = dest.with_name(dest.name + ".partial")
    last_error = ""
    for attempt in range(settings.retries + 1):
        if attempt:
            time.sleep(settings.backoff_s * 2 ** (attempt - 1))
        try:
            _download_once(url, partial, file, settings.timeout_s, None if by_content else file.size)
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                raise _NotFound(f"HTTP {e.code}") from None
            if e.code == 416:  # our partial file is longer than the file: start again
                partial.unlink(missing_ok=True)
            elif e.code < 500:
                raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
            last_error = f"HTTP {e.code} {e.reason}"
            continue
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, socket.gaierror):
                raise _Unresolvable(f"host name does not resolve ({reason.strerror or reason})") from None
            last_error = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
            continue
        _verify_and_publish(partial, dest, file, url, by_content)
        return
    raise DataError(f"{url}: gave up after {settings.retries + 1} attempts ({last_error})")


def _download_once(url: str, partial: Path, file: RawFile, timeout_s: float, size: int | None) -> None:
    """Stream `url` into `partial`, resuming from its current length; returns when the server ends the body.
    `size`: the bytes expected; None for a mirror's copy, whose length its Content-Length says."""
    from tqdm import tqdm

    have = partial.stat().st_size if partial.exists() else 0
    if size is not None and have >= size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if have and (
            response.status != 206 or not response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        ):
            have = 0  # the server ignored our Range header: take the whole body again
        if size is None and response.headers.get("Content-Length"):
            size = have + int(response.headers["Content-Length"])
        with (
            open(partial, "ab" if have else "wb") as out,
            tqdm(
                total=size, initial=have, unit="B", unit_scale=True, desc=file.name, leave=False, file=sys.stderr
            ) as progress,
        ):
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                progress.update(len(chunk))
    received = partial.stat().st_size
    if size is not None and received < size:
        raise ConnectionError(f"connection closed after {received} of {size} bytes")


def _copy_local(path: str, dest: Path, file: RawFile, by_content: bool) -> None:
    partial = dest.with_name(dest.name + ".partial")
    try:
        shutil.copyfile(path, partial)
    except FileNotFoundError:
        raise _NotFound("no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    _verify_and_publish(partial, dest, file, path, by_content)


def _verify_and_publish(partial: Path, dest: Path, file: RawFile, url: str, by_content: bool) -> None:
    problem = rawfiles.mismatch(partial, file, by_content)
    if problem:
        partial.unlink(missing_ok=True)
        raise _ChecksumMismatch(f"{file.name} from {url}: {problem.split(': ', 1)[1]}")
    os.replace(partial, dest)


def _offline_message(source: Source, raw_dir: Path, failures: dict[str, str]) -> str:
    names = ", ".join(failures)
    reasons = " | ".join(f"{name}: {why}" for name, why in failures.items())
    return (
        f"{raw_dir}: could not download {names}. Either put these files into {raw_dir}/ by hand "
        f"(checked by sha256: the official .gz, a re-compressed .gz or the uncompressed file is accepted where its "
        f"registry entry records the payload's sha256), or set {MIRROR_VARIABLE} to a base URL or folder that holds "
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
    artifacts.write_directory(raw_dir, {split.images: idx.encode(images), split.labels: idx.encode(labels)})
