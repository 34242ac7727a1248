"""preprocess@D: seeded stratified splits, scaling to [0, 1], npz plus JSON metadata."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from genbench import artifacts
from genbench.config import Params
from genbench.data import cifar, idx
from genbench.data.sources import SOURCES, Source
from genbench.errors import DataError

SPLIT_NAMES = ("train", "val", "test")
ARRAY_KEYS = tuple(f"{kind}_{split}" for split in SPLIT_NAMES for kind in ("x", "y"))


def run(params: Params, dataset: str, raw_dir: Path, data_path: Path, meta_path: Path) -> None:
    from sklearn.model_selection import train_test_split

    source = SOURCES[dataset]
    raw = read_raw(source, raw_dir)
    if "all" in raw:
        x, y = raw["all"]
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=params.data.test_fraction, stratify=y, random_state=params.seed
        )
    else:
        (x_train, y_train), (x_test, y_test) = raw["train"], raw["test"]
    if params.data.val_fraction > 0:
        x_train, x_val, y_train, y_val = train_test_split(
            x_train, y_train, test_size=params.data.val_fraction, stratify=y_train, random_state=params.seed
        )
    else:
        x_val, y_val = x_train[:0], y_train[:0]

    splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    arrays = {}
    for name, (images, labels) in splits.items():
        arrays[f"x_{name}"] = _scale(images, source)
        arrays[f"y_{name}"] = labels.astype(np.int64)
    artifacts.save_npz(data_path, arrays)
    artifacts.write_json(meta_path, _metadata(source, raw_dir, splits, params))


def load(data_path: Path, splits: tuple[str, ...] = SPLIT_NAMES) -> dict[str, np.ndarray]:
    """The preprocessed arrays of the named splits, checked for shape, range and labels."""
    keys = tuple(f"{kind}_{split}" for split in splits for kind in ("x", "y"))
    arrays = artifacts.load_npz(data_path, keys)
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 4 or x.shape[0] != y.shape[0] or y.ndim != 1:
            raise DataError(f"{data_path}: split {split} has images {x.shape} and labels {y.shape}; expected (N, C, H, W) and (N,)")
        if split != "val" and x.shape[0] == 0:
            raise DataError(f"{data_path}: split {split} is empty")
        if not np.isfinite(x).all() or (x.size and (x.min() < 0 or x.max() > 1)):
            raise DataError(f"{data_path}: split {split} has pixel values outside [0, 1] or not finite")
        if y.size and y.min() < 0:
            raise DataError(f"{data_path}: split {split} has negative labels")
    return arrays


def read_raw(source: Source, raw_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (uint8 images (N, H, W[, C]), labels (N,))} as the dataset's hosts ship them."""
    if source.format == "cifar10-binary":
        (archive,) = source.raw_files
        return cifar.read_archive(raw_dir / archive, n_classes=len(source.class_names))
    return {name: _read_idx_split(source, raw_dir, name) for name in source.splits}


def _read_idx_split(source: Source, raw_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    files = source.splits[split]
    images, labels = idx.read(raw_dir / files.images), idx.read(raw_dir / files.labels)
    height, width, channels = source.image_shape
    expected = (height, width) if channels == 1 else (height, width, channels)
    if images.shape[1:] != expected:
        raise DataError(f"{raw_dir / files.images}: images of shape {images.shape[1:]}, expected {expected}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{raw_dir / files.labels}: {labels.shape} labels for {images.shape[0]} images")
    if labels.size and labels.max() >= len(source.class_names):
        raise DataError(f"{raw_dir / files.labels}: label {labels.max()} outside 0..{len(source.class_names) - 1}")
    if images.size and images.max() > source.pixel_max:
        raise DataError(f"{raw_dir / files.images}: pixel value {images.max()} above {source.pixel_max}")
    return images, labels


def _scale(images: np.ndarray, source: Source) -> np.ndarray:
    """uint8 (N, H, W[, C]) -> float32 (N, C, H, W) in [0, 1]."""
    height, width, channels = source.image_shape
    nhwc = images.reshape(len(images), height, width, channels)
    return (nhwc.transpose(0, 3, 1, 2).astype(np.float32) / source.pixel_max).astype(np.float32)


def _metadata(source: Source, raw_dir: Path, splits: dict, params: Params) -> dict:
    height, width, channels = source.image_shape
    return {
        "dataset": source.name,
        "image_shape": [channels, height, width],
        "classes": list(source.class_names),
        "counts": {
            name: {cls: int((labels == i).sum()) for i, cls in enumerate(source.class_names)}
            for name, (_, labels) in splits.items()
        },
        "sizes": {name: int(len(labels)) for name, (_, labels) in splits.items()},
        "raw_sha256": {name: _sha256(raw_dir / name) for name in source.raw_files},
        "seed": params.seed,
        "test_fraction": params.data.test_fraction if "all" in source.splits else None,
        "val_fraction": params.data.val_fraction,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
