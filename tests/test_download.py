"""download@D against real HTTP servers on 127.0.0.1: resume, checksums, mirrors, timeouts, offline use."""

from __future__ import annotations

import gzip
import socket
import time
from dataclasses import replace

import numpy as np
import pytest
from fake_data import FileServer, SilentServer, cifar_archive, mnist_like_files, sha256

from genbench.config import DownloadParams
from genbench.data import cifar, download, preprocess
from genbench.data.sources import CIFAR10, MNIST, RawFile
from genbench.errors import DataError

FAST = DownloadParams(timeout_s=2.0, retries=2, backoff_s=0.01)
FILES = mnist_like_files()


def fake_mnist(monkeypatch, *base_urls: str):
    source = replace(
        MNIST,
        name="fakemnist",
        urls=tuple(u.rstrip("/") + "/" for u in base_urls),
        files=tuple(
            RawFile(name, sha256(data), len(data), sha256(gzip.decompress(data))) for name, data in FILES.items()
        ),
    )
    monkeypatch.setitem(download.SOURCES, source.name, source)
    monkeypatch.delenv(download.MIRROR_VARIABLE, raising=False)
    return source


def served(prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}/{name}": data for name, data in FILES.items()}


def test_fetches_verifies_and_parses(monkeypatch, tmp_path):
    with FileServer(served("/a")) as server:
        source = fake_mnist(monkeypatch, server.url + "/a")
        download.run(source.name, tmp_path, FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    splits = preprocess.read_raw(source, preprocess.raw_paths(source, tmp_path))
    assert splits["train"][0].shape == (120, 28, 28) and splits["test"][1].shape == (40,)


def test_dropped_connection_resumes_with_a_range_request(monkeypatch, tmp_path):
    name = "train-images-idx3-ubyte.gz"
    with FileServer(served("/a"), drop_first_request_at={f"/a/{name}": len(FILES[name]) // 2}) as server:
        source = fake_mnist(monkeypatch, server.url + "/a")
        download.run(source.name, tmp_path, FAST)
    ranges = [r for path, r in server.requests if path == f"/a/{name}"]
    assert ranges == [None, f"bytes={len(FILES[name]) // 2}-"]
    assert (tmp_path / name).read_bytes() == FILES[name]
    assert not list(tmp_path.glob("*.partial"))


def test_wrong_bytes_are_refused_then_the_next_mirror_is_used(monkeypatch, tmp_path, capsys):
    bad = {path: b"X" + data[1:] for path, data in served("/bad").items()}
    with FileServer(bad | served("/good")) as server:
        source = fake_mnist(monkeypatch, server.url + "/bad", server.url + "/good")
        download.run(source.name, tmp_path, FAST)
    message = capsys.readouterr().err
    name = "t10k-labels-idx1-ubyte.gz"
    assert (
        f"{name} from {server.url}/bad/{name}: expected the official file's sha256 {sha256(FILES[name])}; found "
        f"sha256 {sha256(bad['/bad/' + name])}" in message
    )
    assert all((tmp_path / n).read_bytes() == data for n, data in FILES.items())


def test_wrong_bytes_everywhere_leave_nothing_under_the_final_name(monkeypatch, tmp_path):
    bad = {path: data[:-1] + b"Z" for path, data in served("/bad").items()}
    with FileServer(bad) as server:
        source = fake_mnist(monkeypatch, server.url + "/bad")
        with pytest.raises(
            DataError, match=r"expected the official file's sha256 [0-9a-f]{64}; found sha256 [0-9a-f]{64}"
        ):
            download.run(source.name, tmp_path, FAST)
    assert list(tmp_path.iterdir()) == []


def test_404_on_the_first_mirror_then_the_second(monkeypatch, tmp_path):
    with FileServer(served("/good")) as server:
        source = fake_mnist(monkeypatch, server.url + "/missing", server.url + "/good")
        download.run(source.name, tmp_path, FAST)
    missing_hits = [path for path, _ in server.requests if path.startswith("/missing/")]
    assert len(missing_hits) == len(FILES), "a 404 is not retried"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


def test_5xx_is_retried(monkeypatch, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    with FileServer(served("/a"), status_override={f"/a/{name}": 503}) as server:
        source = fake_mnist(monkeypatch, server.url + "/a")
        with pytest.raises(DataError, match=rf"{name}.*gave up after 3 attempts \(HTTP 503"):
            download.run(source.name, tmp_path, FAST)
    assert [p for p, _ in server.requests].count(f"/a/{name}") == 3


def test_a_server_that_never_answers_times_out(monkeypatch, tmp_path):
    with SilentServer() as server:
        source = fake_mnist(monkeypatch, server.url)
        settings = DownloadParams(timeout_s=0.3, retries=1, backoff_s=0)
        start = time.monotonic()
        with pytest.raises(DataError) as error:
            download.run(source.name, tmp_path, settings)
        elapsed = time.monotonic() - start
    assert "gave up after 2 attempts (" in str(error.value) and "timed out" in str(error.value)
    assert elapsed < 4 * 2 * 0.3 + 2, "each of the 4 files gets 2 attempts of 0.3 s"


def test_offline_error_names_the_files_and_both_ways_out(monkeypatch, tmp_path):
    source = fake_mnist(monkeypatch, "http://127.0.0.1:9")  # the discard port: connection refused
    with pytest.raises(DataError) as error:
        download.run(source.name, tmp_path, DownloadParams(timeout_s=1, retries=0, backoff_s=0))
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in FILES)
    assert f"put these files into {tmp_path}/ by hand" in message and "GENBENCH_DATA_MIRROR" in message


def test_files_placed_by_hand_are_used_without_network(monkeypatch, tmp_path):
    source = fake_mnist(monkeypatch, "http://127.0.0.1:9")
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    download.run(source.name, tmp_path, FAST)  # would fail on any network access
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


def test_a_tampered_file_placed_by_hand_is_downloaded_again(monkeypatch, tmp_path):
    name = "train-labels-idx1-ubyte.gz"
    with FileServer(served("/a")) as server:
        source = fake_mnist(monkeypatch, server.url + "/a")
        for n, data in FILES.items():
            (tmp_path / n).write_bytes(data if n != name else data[:-3])
        download.run(source.name, tmp_path, FAST)
    assert [p for p, _ in server.requests] == [f"/a/{name}"]
    assert (tmp_path / name).read_bytes() == FILES[name]


def test_mirror_variable_url_and_folder(monkeypatch, tmp_path):
    source = fake_mnist(monkeypatch, "http://127.0.0.1:9")
    with FileServer(served("/mirror/fakemnist")) as server:
        monkeypatch.setenv(download.MIRROR_VARIABLE, server.url + "/mirror")
        download.run(source.name, tmp_path / "from-url", FAST)
    folder = tmp_path / "mirror" / "fakemnist"
    folder.mkdir(parents=True)
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    monkeypatch.setenv(download.MIRROR_VARIABLE, str(tmp_path / "mirror"))
    download.run(source.name, tmp_path / "from-folder", FAST)
    for target in ("from-url", "from-folder"):
        assert all((tmp_path / target / n).read_bytes() == d for n, d in FILES.items())


def test_cifar_archive_is_parsed(tmp_path):
    path = tmp_path / "cifar-10-binary.tar.gz"
    data = cifar_archive()
    path.write_bytes(data)
    with pytest.raises(
        DataError,
        match=r"cifar-10-binary.tar.gz: expected the official file's sha256 c4a38c50.*; found sha256 [0-9a-f]{64}",
    ):
        preprocess.raw_paths(CIFAR10, tmp_path)  # not the real archive
    source = replace(CIFAR10, files=(RawFile(path.name, sha256(data), len(data)),))
    splits = preprocess.read_raw(source, preprocess.raw_paths(source, tmp_path))
    images, labels = splits["train"]
    assert images.shape == (100, 32, 32, 3) and images.dtype == np.uint8 and labels.shape == (100,)
    assert splits["test"][0].shape == (20, 32, 32, 3)
    # The class band is bright in every channel at the rows of its label.
    assert (images[0, labels[0] * 3] == 250).all()


def recompressed(data: bytes) -> bytes:
    again = gzip.compress(gzip.decompress(data), compresslevel=1, mtime=12345)
    assert again != data
    return again


@pytest.mark.parametrize("form", ["recompressed", "uncompressed"])
def test_copies_placed_by_hand_are_accepted_by_their_content(monkeypatch, tmp_path, form):
    source = fake_mnist(monkeypatch, "http://127.0.0.1:9")
    for name, data in FILES.items():
        if form == "recompressed":
            (tmp_path / name).write_bytes(recompressed(data))
        else:
            (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    download.run(source.name, tmp_path, FAST)  # would fail on any network access
    official = tmp_path / "official"
    for name, data in FILES.items():
        official.mkdir(exist_ok=True)
        (official / name).write_bytes(data)
    splits = preprocess.read_raw(source, preprocess.raw_paths(source, tmp_path))
    expected = preprocess.read_raw(source, preprocess.raw_paths(source, official))
    for split in ("train", "test"):
        assert all(np.array_equal(a, b) for a, b in zip(splits[split], expected[split]))


def test_a_copy_matching_neither_hash_is_named_with_both_expected_hashes(monkeypatch, tmp_path):
    source = fake_mnist(monkeypatch, "http://127.0.0.1:9")
    name = "t10k-labels-idx1-ubyte.gz"
    for n, data in FILES.items():
        (tmp_path / n).write_bytes(data)
    wrong = gzip.compress(gzip.decompress(FILES[name])[:-1] + b"\x07", mtime=0)
    (tmp_path / name).write_bytes(wrong)
    file = next(f for f in source.files if f.name == name)
    with pytest.raises(DataError) as error:
        download.run(source.name, tmp_path, DownloadParams(timeout_s=1, retries=0, backoff_s=0))
    message = str(error.value)
    assert (
        f"{tmp_path / name}: expected the official file's sha256 {file.sha256} or a decompressed payload of sha256 "
        f"{file.content_sha256}" in message
    )
    assert f"found sha256 {sha256(wrong)}, decompressed payload {sha256(gzip.decompress(wrong))}" in message
    with pytest.raises(DataError, match=f"{name}: expected the official"):
        preprocess.raw_paths(source, tmp_path)


def test_a_mirror_may_serve_a_recompressed_copy_a_public_host_may_not(monkeypatch, tmp_path):
    again = {path: recompressed(data) for path, data in served("/fakemnist").items()}
    with FileServer(again) as server:
        source = fake_mnist(monkeypatch, server.url + "/fakemnist/")
        with pytest.raises(DataError, match="expected the official file's sha256"):
            download.run(source.name, tmp_path / "public", FAST)
        monkeypatch.setenv(download.MIRROR_VARIABLE, server.url)
        download.run(source.name, tmp_path / "mirror", FAST)
    assert all((tmp_path / "mirror" / n).read_bytes() == again[f"/fakemnist/{n}"] for n in FILES)


def test_a_host_that_does_not_resolve_is_asked_once_and_never_retried(monkeypatch, tmp_path):
    lookups, sleeps = [], []

    def no_such_host(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    source = fake_mnist(monkeypatch, "http://one.example.invalid/", "http://two.example.invalid/")
    with pytest.raises(DataError) as error:
        download.run(source.name, tmp_path, DownloadParams(timeout_s=60, retries=4, backoff_s=2))
    assert sorted(lookups) == ["one.example.invalid", "two.example.invalid"] and sleeps == []
    assert "host name does not resolve" in str(error.value) and all(name in str(error.value) for name in FILES)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../x": b"evil"}, r"refusing archive member '../x', which points outside its folder"),
        ({"/etc/passwd": b"evil"}, r"refusing archive member '/etc/passwd'"),
        (
            {"cifar-10-batches-bin/data_batch_1.bin": b"\x00" * 3072},
            r"data_batch_1.bin holds 3072 bytes, not a whole number of 3073-byte records",
        ),
    ],
)
def test_malformed_cifar_archives_are_rejected(tmp_path, members, message):
    path = tmp_path / "cifar.tar.gz"
    path.write_bytes(cifar_archive(extra=members))
    with pytest.raises(DataError, match=message):
        cifar.read_archive(path)


def test_truncated_cifar_archive_is_rejected(tmp_path):
    path = tmp_path / "cifar.tar.gz"
    path.write_bytes(cifar_archive()[:2000])
    with pytest.raises(DataError, match="not a readable tar.gz archive|archive lacks"):
        cifar.read_archive(path)


def test_cifar_label_out_of_range(tmp_path):
    bad = bytes([12]) + bytes(3072)
    path = tmp_path / "cifar.tar.gz"
    path.write_bytes(cifar_archive(extra={"cifar-10-batches-bin/test_batch.bin": bad}))
    with pytest.raises(DataError, match="test_batch.bin has label 12, outside 0..9"):
        cifar.read_archive(path)
