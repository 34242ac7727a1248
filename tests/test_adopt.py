"""`genbench adopt`: outputs that link into Snakemake's cache become real files; other links stay."""

from __future__ import annotations

import os

import pytest

from genbench import adopt
from genbench.errors import DataError

ENTRY = "9f" * 32  # Snakemake names cache entries by a sha256


def test_linked_files_and_folders_are_copied_in_place_and_the_cache_is_untouched(tmp_path):
    cache = tmp_path / "cache"
    (cache / f"{ENTRY}_model").mkdir(parents=True)
    (cache / f"{ENTRY}_model" / "weights.bin").write_bytes(b"weights")
    (cache / f"{ENTRY}.json").write_text("{}")
    (tmp_path / "shared-raw").mkdir()
    outputs = tmp_path / "data"
    (outputs / "models").mkdir(parents=True)
    (outputs / "models" / "vae").symlink_to(cache / f"{ENTRY}_model")
    (outputs / "metrics.json").symlink_to(cache / f"{ENTRY}.json")
    (outputs / "raw").symlink_to(tmp_path / "shared-raw")  # linked by hand: not the cache's
    os.utime(outputs / "metrics.json", ns=(1_000_000_000, 1_000_000_000), follow_symlinks=False)

    copied = adopt.run((outputs,))

    assert copied == [outputs / "metrics.json", outputs / "models" / "vae"]
    assert (
        not (outputs / "models" / "vae").is_symlink()
        and (outputs / "models" / "vae" / "weights.bin").read_bytes() == b"weights"
    )
    assert not (outputs / "metrics.json").is_symlink() and (outputs / "metrics.json").read_text() == "{}"
    assert (outputs / "metrics.json").stat().st_mtime_ns == 1_000_000_000, (
        "the link's time, so file times stay in DAG order"
    )
    assert (
        sorted(p.name for p in cache.iterdir()) == [f"{ENTRY}.json", f"{ENTRY}_model"]
        and (cache / f"{ENTRY}_model" / "weights.bin").exists()
    )
    assert (outputs / "raw").is_symlink(), "a link that is not into the cache stays"
    assert adopt.run((outputs,)) == [], "nothing left to copy"
    assert adopt.run((tmp_path / "absent",)) == []


def test_a_link_into_a_cleared_cache_names_the_output(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "svm").symlink_to(tmp_path / "cache" / ENTRY)
    with pytest.raises(DataError, match=r"data/svm: .*/cache is gone \(was the cache cleared\?\)"):
        adopt.run((tmp_path / "data",))


def test_a_folder_copy_has_ordinary_modes_and_a_gone_file_inside_is_named(tmp_path):
    entry = tmp_path / "cache" / f"{ENTRY}_curves"
    (entry / "loss").mkdir(parents=True)
    (entry / "loss" / "kl.tsv").write_text("step\tkl\n")
    for path in (entry, entry / "loss", entry / "loss" / "kl.tsv"):
        path.chmod(0o777 if path.is_dir() else 0o666)  # as Snakemake leaves its entries
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "curves").symlink_to(entry)
    adopt.run((tmp_path / "data",))
    umask = os.umask(0)
    os.umask(umask)
    copied = tmp_path / "data" / "curves"
    assert (copied / "loss" / "kl.tsv").read_text() == "step\tkl\n"
    assert [p.stat().st_mode & 0o777 for p in (copied, copied / "loss", copied / "loss" / "kl.tsv")] == [
        0o777 & ~umask,
        0o777 & ~umask,
        0o666 & ~umask,
    ]

    (entry / "loss" / "gone.tsv").symlink_to(tmp_path / "nowhere")
    (tmp_path / "data" / "again").symlink_to(entry)
    with pytest.raises(DataError, match=r"data/again: .*/loss/gone.tsv is gone"):
        adopt.run((tmp_path / "data",))
    assert (tmp_path / "data" / "again").is_symlink(), "left as it was"
