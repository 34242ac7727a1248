"""Artifact files: atomic, deterministic, and refusing anything that could run code."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from genbench import artifacts
from genbench.data import idx
from genbench.errors import DataError


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("previous result")
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(RuntimeError):
        with artifacts.atomic_directory(target) as staging:
            (staging / "new").write_text("new")
            raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["old"]
    with artifacts.atomic_directory(target) as staging:
        (staging / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_npz_is_byte_identical_and_pickle_free(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.array([1, 2, 3])}
    artifacts.save_npz(tmp_path / "a.npz", arrays)
    artifacts.save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = artifacts.load_npz(tmp_path / "a.npz", ("x", "y"))
    np.testing.assert_array_equal(loaded["x"], arrays["x"])
    with pytest.raises(ValueError):
        artifacts.save_npz(tmp_path / "c.npz", {"objects": np.array([{"a": 1}], dtype=object)})


def test_npz_errors_name_the_file(tmp_path):
    path = tmp_path / "data.npz"
    artifacts.save_npz(path, {"x": np.zeros(3)})
    with pytest.raises(DataError, match=r"data.npz: missing arrays y; found x"):
        artifacts.load_npz(path, ("x", "y"))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match=r"data.npz: not a readable npz file"):
        artifacts.load_npz(path, ("x",))
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", buffer.getvalue())
    with pytest.raises(DataError, match="not a readable npz file"):
        artifacts.load_npz(path, ("x",))


def test_idx_round_trip_is_deterministic_compressed_or_not(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8), dtype=np.uint8)
    assert idx.encode(images) == idx.encode(images.copy())
    (tmp_path / "a.gz").write_bytes(idx.encode(images))
    (tmp_path / "a").write_bytes(gzip.decompress(idx.encode(images)))
    np.testing.assert_array_equal(idx.read(tmp_path / "a.gz"), images)
    np.testing.assert_array_equal(idx.read(tmp_path / "a"), images)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (struct.pack(">BBBBI", 0, 0, 0x0D, 1, 3) + bytes(12), "bad IDX magic number 0x00000d01"),
        (
            struct.pack(">BBBBII", 0, 0, 8, 2, 4, 4) + bytes(10),
            r"IDX dimensions \(4, 4\) need 16 bytes of data, the file has 10",
        ),
        (b"\x00\x00", "too short for an IDX header"),
    ],
)
def test_idx_rejects_malformed_files(tmp_path, payload, message):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(DataError, match=message):
        idx.read(path)


def test_idx_rejects_broken_gzip_and_non_idx_bytes(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(idx.encode(np.zeros((2, 3), dtype=np.uint8))[:-6])
    with pytest.raises(DataError, match="not a readable gzip file"):
        idx.read(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="bad IDX magic number"):
        idx.read(path)
