"""`genbench adopt`: outputs Snakemake restored from its cache (links into it) become real files."""

from __future__ import annotations

import os

import pytest

from genbench import adopt
from genbench.errors import DataError


def test_linked_files_and_folders_are_copied_in_place_and_the_cache_is_untouched(tmp_path):
    cache = tmp_path / "cache"
    (cache / "entry_model").mkdir(parents=True)
    (cache / "entry_model" / "weights.bin").write_bytes(b"weights")
    (cache / "entry.json").write_text("{}")
    outputs = tmp_path / "data"
    (outputs / "models").mkdir(parents=True)
    (outputs / "models" / "vae").symlink_to(cache / "entry_model")
    (outputs / "metrics.json").symlink_to(cache / "entry.json")
    os.utime(outputs / "metrics.json", ns=(1_000_000_000, 1_000_000_000), follow_symlinks=False)

    copied = adopt.run((outputs,))

    assert copied == [outputs / "metrics.json", outputs / "models" / "vae"]
    assert not (outputs / "models" / "vae").is_symlink() and (outputs / "models" / "vae" / "weights.bin").read_bytes() == b"weights"
    assert not (outputs / "metrics.json").is_symlink() and (outputs / "metrics.json").read_text() == "{}"
    assert (outputs / "metrics.json").stat().st_mtime_ns == 1_000_000_000, "the link's time, so file times stay in DAG order"
    assert sorted(p.name for p in cache.iterdir()) == ["entry.json", "entry_model"] and (cache / "entry_model" / "weights.bin").exists()
    assert adopt.run((outputs,)) == [], "nothing left to copy"


def test_a_link_into_a_cleared_cache_names_the_output(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "svm").symlink_to(tmp_path / "cache" / "gone")
    with pytest.raises(DataError, match=r"data/svm: links to .*/cache/gone, which is gone"):
        adopt.run((tmp_path / "data",))
