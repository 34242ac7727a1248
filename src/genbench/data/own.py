"""download@D for a dataset of your own: its folder of images, or its .npz, read into data/raw/<name>/.

params.yaml declares it under own_datasets and names it in datasets. Every image is decoded,
converted to the declared channels and brought to the declared size (or checked to share one),
then written in the format of the registry's bundled digits: one uint8 IDX file of images and one
of labels, which preprocess splits like any dataset without an official test split, and
classes.json with the class names and the image shape. A folder may bring captions.csv beside its
class folders (columns file, caption; file as a path inside the folder), an .npz an array
`captions`: one caption per image, written as captions.json in the images' order, which text-to-image
models train on instead of the captions measured on the images (data/captions.py). Anything that
cannot be used is refused with one line naming the file before anything is written; an unchanged
input rewrites nothing.
"""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import numpy as np

from genbench import artifacts, paths
from genbench.config import OwnDataset, Params
from genbench.data import idx, own_layout
from genbench.data.sources import Source, Split
from genbench.errors import ConfigError, DataError

IMAGES, LABELS, CLASSES = "images-idx3-ubyte.gz", "labels-idx1-ubyte.gz", "classes.json"
CAPTIONS = "captions.json"
CAPTIONS_CSV = "captions.csv"
MAX_CAPTION = 1000  # characters: a caption, not a document
PIXEL_MAX = 255
GREY_WEIGHTS = np.array([299, 587, 114]) / 1000  # ITU-R 601-2 luma, as Pillow's convert("L")


def ingest(params: Params, name: str, raw_dir: Path) -> None:
    entry = params.own_datasets[name]
    root = own_layout.location(name, entry.path)
    if root.suffix == ".npz":
        images, labels, classes, texts = _read_npz(root, name, entry)
    else:
        texts = _read_captions_csv(root)
        images, labels, classes = _read_folder(root, name, entry)
    counts = {cls: int((labels == i).sum()) for i, cls in enumerate(classes)}
    own_layout.check_counts(name, root, counts, params.data.test_fraction, params.data.val_fraction)
    height, width = images.shape[1:3]
    description = {
        "dataset": name,
        "source": str(root),
        "classes": classes,
        "image_shape": [height, width, entry.channels],
    }
    files = {
        IMAGES: idx.encode(images.squeeze(-1) if entry.channels == 1 else images),
        LABELS: idx.encode(labels),
        CLASSES: (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode(),
    }
    if texts is not None:
        files[CAPTIONS] = (json.dumps(texts, indent=0, ensure_ascii=False) + "\n").encode()
    artifacts.write_directory(raw_dir, files)


def source(name: str, origin: str, image_shape: tuple[int, int, int], classes: list[str]) -> Source:
    """The registry-like entry of a dataset of your own; `image_shape` is (height, width, channels)."""
    return Source(
        name=name,
        title=f"Your own images, from {origin}",
        image_shape=tuple(image_shape),
        class_names=tuple(classes),
        pixel_max=PIXEL_MAX,
        format="idx",
        license="as set by their owner",
        citation="",
        homepage="",
        splits={"all": Split(IMAGES, LABELS)},
    )


def description(name: str) -> dict | None:
    """What the download stage found in an own dataset (its source, classes and image shape); None before it ran."""
    path = paths.raw_dir(name) / CLASSES
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ingested_source(name: str, raw_dir: Path) -> Source:
    """`source` of an ingested dataset, from the classes.json its download stage wrote."""
    path = raw_dir / CLASSES
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
        return source(name, str(description["source"]), tuple(description["image_shape"]), list(description["classes"]))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the download stage first") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not the description the download stage writes ({e}); run it again") from None


def ingested_captions(raw_dir: Path) -> list[str] | None:
    """The captions an ingested dataset brought, one per image in the IDX files' order; None if it brought none."""
    path = raw_dir / CAPTIONS
    if not path.exists():
        return None
    try:
        texts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not the captions the download stage writes ({e}); run it again") from None
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise DataError(f"{path}: not a list of captions; run the download stage again")
    return texts


def _read_captions_csv(root: Path) -> list[str] | None:
    """The folder's captions.csv, one caption per image in class_folders' order; None without the file."""
    path = root / CAPTIONS_CSV
    if not path.is_file():
        return None
    images = [file for files in own_layout.class_folders(root).values() for file in files]
    by_name = {file.relative_to(root).as_posix(): None for file in images}
    try:
        with path.open(newline="", encoding="utf-8-sig") as opened:
            rows = list(csv.reader(opened))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{path}: cannot be read as UTF-8 CSV ({e})") from None
    if not rows or [cell.strip() for cell in rows[0]] != ["file", "caption"]:
        raise ConfigError(f"{path}: the first line must be the header file,caption")
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise ConfigError(f"{path}: line {line} has {len(row)} fields; expected file,caption (quote commas)")
        name, text = row[0].strip(), " ".join(row[1].split())
        if name not in by_name:
            raise ConfigError(f"{path}: line {line}: {name!r} is not an image in a class folder of {root}")
        if by_name[name] is not None:
            raise ConfigError(f"{path}: line {line}: {name!r} has a caption already")
        if not text or len(text) > MAX_CAPTION:
            raise ConfigError(f"{path}: line {line}: the caption of {name!r} is empty or over {MAX_CAPTION} characters")
        by_name[name] = text
    missing = [name for name, text in by_name.items() if text is None]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ConfigError(f"{path}: no caption for {missing[0]}{more}; every image needs one")
    return list(by_name.values())


def _read_folder(root: Path, name: str, entry: OwnDataset) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    folders = own_layout.class_folders(root)
    images, labels, sizes = [], [], {}
    for label, files in enumerate(folders.values()):
        for file in files:
            try:
                with Image.open(file) as opened:
                    opened.load()
                    image = opened.convert("L" if entry.channels == 1 else "RGB")
            except (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombError) as e:
                raise ConfigError(f"{file}: cannot be read as an image ({e})") from None
            sizes.setdefault((image.height, image.width), file)
            images.append(_fit(image, entry, name, file))
            labels.append(label)
    if entry.size is None and len(sizes) > 1:
        (first, a), (second, b) = list(sizes.items())[:2]
        raise ConfigError(
            f"{b}: {second[0]}x{second[1]}, but {a} is {first[0]}x{first[1]}; images of mixed sizes need "
            f"own_datasets.{name}.size (and fit: resize or pad)"
        )
    stacked = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
    return stacked.reshape(*stacked.shape[:3], entry.channels), np.asarray(labels, dtype=np.uint8), list(folders)


def _fit(image, entry: OwnDataset, name: str, file: Path):
    """`image` at the declared size: resized (Pillow's antialiased bicubic), or centred on black."""
    from PIL import Image

    if entry.size is None or [image.height, image.width] == entry.size:
        return image
    height, width = entry.size
    if entry.fit == "resize":
        return image.resize((width, height), Image.Resampling.BICUBIC)
    if image.height > height or image.width > width:
        raise ConfigError(
            f"{file}: {image.height}x{image.width} is larger than own_datasets.{name}.size {height}x{width}; "
            "fit: pad never crops, so resize it or declare a larger size"
        )
    canvas = Image.new(image.mode, (width, height))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def _read_npz(path: Path, name: str, entry: OwnDataset) -> tuple[np.ndarray, np.ndarray, list[str], list[str] | None]:
    from PIL import Image

    try:
        keys = artifacts.npz_keys(path)
        if "x" not in keys or "y" not in keys:
            raise ConfigError(
                f"{path}: holds {', '.join(keys) or 'nothing'}; an own dataset's .npz needs x (images) and y (labels)"
            )
        optional = tuple(key for key in ("classes", "captions") if key in keys)
        arrays = artifacts.load_npz(path, ("x", "y", *optional))
    except DataError as e:
        raise ConfigError(str(e)) from None
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) == 0:
        raise ConfigError(f"{path}: x of shape {x.shape}; expected (N, height, width) or (N, height, width, 1 or 3)")
    if x.dtype == np.uint8:
        pixels = x
    elif np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1:
        pixels = np.round(x * 255).astype(np.uint8)
    else:
        raise ConfigError(f"{path}: x of dtype {x.dtype}; expected uint8 (0 to 255) or floats in [0, 1]")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ConfigError(
            f"{path}: y of shape {y.shape} and dtype {y.dtype}; expected one integer label from 0 per image ({len(x)})"
        )
    n_classes = int(y.max()) + 1
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else [str(i) for i in range(n_classes)]
    if len(classes) < n_classes or len(classes) > 256:
        raise ConfigError(f"{path}: {len(classes)} class names for labels up to {n_classes - 1}; at most 256 classes")
    if entry.channels == 1 and pixels.shape[-1] == 3:
        pixels = np.round(pixels @ GREY_WEIGHTS)[..., None].astype(np.uint8)
    elif entry.channels == 3 and pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if entry.size is not None and list(pixels.shape[1:3]) != entry.size:
        mode = "L" if entry.channels == 1 else "RGB"
        fitted = [
            _fit(Image.fromarray(p.squeeze(-1) if entry.channels == 1 else p, mode), entry, name, path) for p in pixels
        ]
        pixels = np.stack([np.asarray(f, dtype=np.uint8) for f in fitted]).reshape(
            len(fitted), *entry.size, entry.channels
        )
    return pixels, y.astype(np.uint8), classes, _npz_captions(path, arrays, len(x))


def _npz_captions(path: Path, arrays: dict, n: int) -> list[str] | None:
    if "captions" not in arrays:
        return None
    texts = arrays["captions"]
    if texts.shape != (n,) or texts.dtype.kind != "U":
        raise ConfigError(f"{path}: captions of shape {texts.shape} and dtype {texts.dtype}; expected {n} strings")
    cleaned = [" ".join(str(text).split()) for text in texts]
    bad = next((i for i, text in enumerate(cleaned) if not text or len(text) > MAX_CAPTION), None)
    if bad is not None:
        raise ConfigError(f"{path}: the caption of image {bad} is empty or over {MAX_CAPTION} characters")
    return cleaned
