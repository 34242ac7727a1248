"""A disk that fills during a stage: one line naming the output, no truncated file under a final name,
and the previous output kept. The output folders are small tmpfs mounts (the tests run as root)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from genbench import cli

pytestmark = pytest.mark.faults
TINY = yaml.safe_load((Path(__file__).parent / "params/tiny.yaml").read_text())


@pytest.fixture
def small_disk(tmp_path):
    """mount(folder, kib): a tmpfs of that size at tmp_path/folder; unmounted at the end, also on failure."""
    mounted = []

    def mount(folder: str, kib: int) -> Path:
        point = tmp_path / folder
        point.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(folder: Path) -> None:
    """Leave no free space on the file system holding `folder`."""
    try:
        with open(folder / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith("."))


def test_preprocess_on_a_full_disk_keeps_the_previous_data(tmp_path, small_disk, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(TINY))
    processed = small_disk("data/processed", 2048)
    assert cli.main(["download", "--dataset", "digits"]) == 0
    assert cli.main(["preprocess", "--dataset", "digits"]) == 0
    previous = (processed / "digits/data.npz").read_bytes()

    fill(processed)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(TINY | {"data": {"test_fraction": 0.3, "val_fraction": 0.1}}))
    capsys.readouterr()
    assert cli.main(["preprocess", "--dataset", "digits"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "genbench: error: data/processed/digits/data.npz: cannot be written (No space left on device); "
        "nothing was replaced, free space and rerun this stage\n"
    )
    assert (processed / "digits/data.npz").read_bytes() == previous
    assert leftovers(processed) == []


def test_a_model_folder_on_a_full_disk_is_not_left_half_written(tmp_path, small_disk, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(TINY))
    assert cli.main(["download", "--dataset", "digits"]) == 0
    assert cli.main(["preprocess", "--dataset", "digits"]) == 0
    assert cli.main(["tune", "--dataset", "digits", "--model", "featurenet"]) == 0
    models = small_disk("data/models", 16)  # room for the small files, not for the weights
    capsys.readouterr()
    assert cli.main(["train", "--dataset", "digits", "--model", "featurenet", "--seed", "0"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(
        "genbench: error: data/models/digits/seed-0/featurenet: cannot be written (No space left on device)"
    ), err
    assert not (models / "digits/seed-0/featurenet").exists()
    assert leftovers(models) == []
    shutil.rmtree(tmp_path / "data/checkpoints", ignore_errors=True)
