"""A dataset of your own: a folder of PNG and JPEG images, or an .npz, read by its download stage."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genbench.data import idx, own, preprocess, splits
from genbench.errors import ConfigError
from genbench.validate import load_params

N_PER_CLASS = 13  # the fewest the default test and validation fractions of the schema can split


def draw(path, size, colour, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size[::-1], colour).save(path)


def shapes_folder(root, sizes=((12, 12),), suffix=".png"):
    """Two classes of flat images: red ones and blue ones, of the given sizes in turn."""
    for cls, colour in (("blue", (0, 0, 255)), ("red", (255, 0, 0))):
        for i in range(N_PER_CLASS):
            draw(root / cls / f"{i:02d}{suffix}", sizes[i % len(sizes)], colour)


def params_for(tmp_path, entry: str, extra: str = ""):
    path = tmp_path / "params.yaml"
    path.write_text(f"datasets: [shapes]\nown_datasets: {{shapes: {{{entry}}}}}\n{extra}")
    return load_params(path)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_back(raw_dir):
    images = idx.read(raw_dir / own.IMAGES)
    labels = idx.read(raw_dir / own.LABELS)
    return images, labels, json.loads((raw_dir / own.CLASSES).read_text())


def test_a_folder_of_mixed_sizes_is_resized_to_the_declared_size_in_colour(in_tmp):
    shapes_folder(in_tmp / "data/own/shapes", sizes=((12, 12), (20, 16)))
    params = params_for(in_tmp, "path: data/own/shapes, channels: 3, size: [16, 16]")
    raw = in_tmp / "data/raw/shapes"
    own.ingest(params, "shapes", raw)
    images, labels, description = read_back(raw)
    assert images.shape == (2 * N_PER_CLASS, 16, 16, 3) and images.dtype == np.uint8
    assert description["classes"] == ["blue", "red"] and description["image_shape"] == [16, 16, 3]
    assert (labels == 0).sum() == N_PER_CLASS
    assert (images[labels == 0] == [0, 0, 255]).all() and (images[labels == 1] == [255, 0, 0]).all()
    # Read again unchanged: nothing is rewritten, so neither runner sees a change.
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    own.ingest(params, "shapes", raw)
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before
    # preprocess splits it like any dataset without an official test split.
    data, meta = in_tmp / "data/processed/shapes/data.npz", in_tmp / "data/processed/shapes/meta.json"
    preprocess.run(params, "shapes", raw, data, meta)
    meta = json.loads(meta.read_text())
    assert meta["image_shape"] == [3, 16, 16] and meta["classes"] == ["blue", "red"]
    assert sum(meta["sizes"].values()) == 2 * N_PER_CLASS and all(n > 0 for n in meta["sizes"].values())


def test_pad_centres_each_image_on_black_and_never_crops(in_tmp):
    shapes_folder(in_tmp / "data/own/shapes", sizes=((6, 6),), suffix=".jpg")
    params = params_for(in_tmp, "path: data/own/shapes, channels: 1, size: [8, 8], fit: pad")
    own.ingest(params, "shapes", in_tmp / "raw")
    images, _, _ = read_back(in_tmp / "raw")
    assert images.shape == (2 * N_PER_CLASS, 8, 8)
    assert (images[:, 0, :] == 0).all() and (images[:, :, 7] == 0).all(), "a one-pixel black border"
    assert (images[:, 1:7, 1:7] > 0).all()
    draw(in_tmp / "data/own/shapes/red/big.png", (9, 9), (255, 0, 0))
    with pytest.raises(
        ConfigError, match=r"big.png: 9x9 is larger than own_datasets.shapes.size 8x8; fit: pad never crops"
    ):
        own.ingest(params, "shapes", in_tmp / "raw")


@pytest.mark.parametrize(
    ("spoil", "entry", "says"),
    [
        (
            lambda root: (root / "red/05.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"),
            "channels: 3",
            r"data/own/shapes/red/05.png: cannot be read as an image",
        ),
        (
            lambda root: draw(root / "red/05.png", (16, 12), (255, 0, 0)),
            "channels: 3",
            r"data/own/shapes/red/05.png: 16x12, but data/own/shapes/blue/00.png is 12x12; images of mixed sizes "
            r"need own_datasets.shapes.size",
        ),
    ],
)
def test_images_that_cannot_be_used_are_named_before_anything_is_written(in_tmp, spoil, entry, says):
    root = in_tmp / "data/own/shapes"
    shapes_folder(root)
    spoil(root)
    params = params_for(in_tmp, f"path: data/own/shapes, {entry}")
    with pytest.raises(ConfigError, match=says):
        own.ingest(params, "shapes", in_tmp / "raw")
    assert not (in_tmp / "raw").exists()


def test_images_of_their_own_size_that_a_model_cannot_take_stop_every_stage_after_the_download(in_tmp):
    """With size: null the download stage finds the images' size; from then on the params check refuses it."""
    root = in_tmp / "data/own/shapes"
    shapes_folder(root, sizes=((10, 10),))
    params = params_for(
        in_tmp, "path: data/own/shapes, channels: 1, size: null", "models: {generative: [vae, gan, ddpm]}\n"
    )
    own.ingest(params, "shapes", in_tmp / "data/raw/shapes")
    says = (
        r"^data/own/shapes: images of 10x10: vae needs sides divisible by 4, gan needs sides divisible by 4, ddpm "
        r"needs sides "
        r"divisible by 4; declare a size such as 12x12 \(fit: pad or resize\) under own_datasets.shapes$"
    )
    with pytest.raises(ConfigError, match=says):
        load_params(in_tmp / "params.yaml")


def test_an_npz_of_grey_floats_becomes_colour_at_the_declared_size(in_tmp):
    rng = np.random.default_rng(0)
    x = rng.random((2 * N_PER_CLASS, 10, 10)).astype(np.float32)
    y = np.repeat([0, 1], N_PER_CLASS)
    path = in_tmp / "data/own/shapes.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, x=x, y=y, classes=np.array(["<b>cat</b>", "dog"]))
    params = params_for(in_tmp, "path: data/own/shapes.npz, channels: 3, size: [12, 12], fit: pad")
    own.ingest(params, "shapes", in_tmp / "raw")
    images, labels, description = read_back(in_tmp / "raw")
    assert images.shape == (2 * N_PER_CLASS, 12, 12, 3) and description["classes"] == ["<b>cat</b>", "dog"]
    np.testing.assert_array_equal(images[:, 1:11, 1:11, 0], np.round(x * 255).astype(np.uint8))
    np.testing.assert_array_equal(labels, y)

    np.savez(path, images=x, y=y)
    with pytest.raises(
        ConfigError, match=r"shapes.npz: holds images, y; an own dataset's .npz needs x \(images\) and y \(labels\)"
    ):
        own.ingest(params, "shapes", in_tmp / "raw")
    np.savez(path, x=x * 2, y=y)
    with pytest.raises(
        ConfigError, match=r"shapes.npz: x of dtype float32; expected uint8 \(0 to 255\) or floats in \[0, 1\]"
    ):
        own.ingest(params, "shapes", in_tmp / "raw")
    np.savez(path, x=x, y=np.repeat([0, 1], [N_PER_CLASS + 10, N_PER_CLASS - 10]))
    with pytest.raises(ConfigError, match=r"shapes.npz: class '1' has 3 images"):
        own.ingest(params, "shapes", in_tmp / "raw")


def test_the_download_stage_says_it_in_one_line_with_exit_code_2(in_tmp):
    root = in_tmp / "data/own/shapes"
    shapes_folder(root)
    (root / "red/05.png").write_bytes(b"not an image")
    (in_tmp / "params.yaml").write_text(
        "datasets: [shapes]\nown_datasets: {shapes: {path: data/own/shapes, channels: 3}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "genbench", "download", "--dataset", "shapes"],
        cwd=in_tmp,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stderr.startswith("genbench: error: data/own/shapes/red/05.png: cannot be read as an image")
    assert not (in_tmp / "data/raw/shapes").exists()


def captions_csv(root, rows):
    with (root / own.CAPTIONS_CSV).open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def test_a_folders_captions_travel_with_their_images_through_the_splits(in_tmp):
    root = in_tmp / "data/own/shapes"
    shapes_folder(root)
    captions_csv(
        root,
        [("file", "caption")]
        + [
            (f"{cls}/{i:02d}.png", f"a {cls} square,  number {i}")
            for cls in ("red", "blue")
            for i in range(N_PER_CLASS)
        ],
    )
    params = params_for(in_tmp, "path: data/own/shapes, channels: 3")
    raw = in_tmp / "data/raw/shapes"
    own.ingest(params, "shapes", raw)
    data = in_tmp / "data/processed/shapes/data.npz"
    preprocess.run(params, "shapes", raw, data, in_tmp / "data/processed/shapes/meta.json")
    arrays = splits.load(data)
    texts = {split: splits.captions(data, split) for split in splits.SPLIT_NAMES}
    for split, captions in texts.items():
        red = arrays[f"x_{split}"][:, 0, 0, 0] == 1
        assert len(captions) == len(red) > 0
        assert [c.startswith("a red square") for c in captions] == red.tolist(), "each caption stays with its image"
    everyone = sorted(c for captions in texts.values() for c in captions)
    assert everyone == sorted(f"a {cls} square, number {i}" for cls in ("red", "blue") for i in range(N_PER_CLASS))

    (root / own.CAPTIONS_CSV).unlink()  # without the file the captions are measured: none are carried
    own.ingest(params, "shapes", raw)
    preprocess.run(params, "shapes", raw, data, in_tmp / "data/processed/shapes/meta.json")
    assert not (raw / own.CAPTIONS).exists() and splits.captions(data, "train") is None


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([("image", "text")], r"captions.csv: the first line must be the header file,caption"),
        ([("file", "caption"), ("red/99.png", "a red one")], r"line 2: 'red/99.png' is not an image in a class folder"),
        (
            [("file", "caption"), ("red/00.png", "a red one"), ("red/00.png", "again")],
            r"line 3: 'red/00.png' has a caption already",
        ),
        ([("file", "caption"), ("red/00.png", "  ")], r"line 2: the caption of 'red/00.png' is empty"),
        ([("file", "caption"), ("red/00.png", "a", "b")], r"line 2 has 3 fields; expected file,caption"),
        ([("file", "caption"), ("red/00.png", "a red one")], r"no caption for blue/00.png and 24 more; every image"),
    ],
)
def test_captions_that_cannot_be_used_are_named_before_anything_is_written(in_tmp, rows, says):
    root = in_tmp / "data/own/shapes"
    shapes_folder(root)
    captions_csv(root, rows)
    params = params_for(in_tmp, "path: data/own/shapes, channels: 3")
    with pytest.raises(ConfigError, match=says):
        own.ingest(params, "shapes", in_tmp / "raw")
    assert not (in_tmp / "raw").exists()


def test_an_npz_brings_its_captions_as_an_array_of_strings(in_tmp):
    x = np.zeros((2 * N_PER_CLASS, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1], N_PER_CLASS)
    path = in_tmp / "data/own/shapes.npz"
    path.parent.mkdir(parents=True)
    texts = np.array([f"picture {i}" for i in range(len(y))])
    np.savez(path, x=x, y=y, captions=texts)
    params = params_for(in_tmp, "path: data/own/shapes.npz, channels: 1")
    own.ingest(params, "shapes", in_tmp / "raw")
    assert own.ingested_captions(in_tmp / "raw") == texts.tolist()
    np.savez(path, x=x, y=y, captions=texts[:-1])
    with pytest.raises(ConfigError, match=r"shapes.npz: captions of shape \(25,\) and dtype <U10; expected 26 strings"):
        own.ingest(params, "shapes", in_tmp / "raw")
