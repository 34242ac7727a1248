"""preprocess@D: seeded stratified splits, scaling to [0, 1], npz plus JSON metadata; captions a dataset of your
own brought are split with its images."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from genbench import artifacts
from genbench.config import Params
from genbench.data import cifar, idx, own, rawfiles
from genbench.data.sources import SOURCES, Source
from genbench.errors import ConfigError, DataError


def stage(params: Params, io) -> None:
    run(params, io.dataset, io.input("raw"), io.output("data"), io.output("meta"))


def run(params: Params, dataset: str, raw_dir: Path, data_path: Path, meta_path: Path) -> None:
    from sklearn.model_selection import train_test_split

    own_dataset = dataset in params.own_datasets
    source = own.ingested_source(dataset, raw_dir) if own_dataset else SOURCES[dataset]
    located = raw_paths(source, raw_dir)
    raw = read_raw(source, located)
    texts = own.ingested_captions(raw_dir) if own_dataset else None
    if "all" in raw:
        x, y = raw["all"]
        columns = (x, y) if texts is None else (x, y, _captions_of(texts, y, raw_dir))
        with _explained("data.test_fraction"):
            parts = train_test_split(
                *columns, test_size=params.data.test_fraction, stratify=y, random_state=params.data.seed
            )
        train, test = parts[0::2], parts[1::2]
    else:
        train, test = raw["train"], raw["test"]
    if params.data.val_fraction > 0:
        with _explained("data.val_fraction"):
            parts = train_test_split(
                *train, test_size=params.data.val_fraction, stratify=train[1], random_state=params.data.seed
            )
        train, val = parts[0::2], parts[1::2]
    else:
        val = tuple(column[:0] for column in train)

    splits = {"train": train, "val": val, "test": test}
    arrays = {}
    for name, (images, labels, *captions) in splits.items():
        arrays[f"x_{name}"] = _scale(images, source)
        arrays[f"y_{name}"] = labels.astype(np.int64)
        if captions:
            arrays[f"captions_{name}"] = captions[0]
    metadata = _metadata(source, located, splits, params)
    artifacts.save_npz(data_path, arrays)
    artifacts.write_json(meta_path, metadata)


def _captions_of(texts: list[str], labels: np.ndarray, raw_dir: Path) -> np.ndarray:
    if len(texts) != len(labels):
        raise DataError(
            f"{raw_dir / own.CAPTIONS}: {len(texts)} captions for {len(labels)} images; run the download again"
        )
    return np.array(texts, dtype=str)


@contextlib.contextmanager
def _explained(key: str):
    """scikit-learn's refusal of a split size, as a params error naming the key."""
    try:
        yield
    except ValueError as e:
        raise ConfigError(f"params.yaml: {key}: {e}") from None


def read_raw(source: Source, located: dict[str, Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (uint8 images (N, H, W[, C]), labels (N,))} as the dataset's hosts ship them, from `raw_paths`."""
    if source.format == "cifar10-binary":
        (archive,) = located.values()
        return cifar.read_archive(archive, n_classes=len(source.class_names))
    return {name: _read_idx_split(source, name, located) for name in source.splits}


def raw_paths(source: Source, raw_dir: Path) -> dict[str, Path]:
    """{registry file name: its verified copy in raw_dir}; the bundled digits' files as written."""
    if source.bundled:  # written by the download stage itself: the bundled digits, or your own images
        return {name: raw_dir / name for name in source.raw_files}
    located = {}
    for file in source.files:  # checked in full: gzip readers can miss damage past the data they need
        path = rawfiles.locate(raw_dir, file)
        if path is None:
            raise DataError(f"{raw_dir / file.name}: file not found; run the download stage first")
        problem = rawfiles.mismatch(path, file)
        if problem:
            raise DataError(f"{problem}; delete it and run the download stage again")
        located[file.name] = path
    return located


def _read_idx_split(source: Source, split: str, located: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    files = source.splits[split]
    images_path, labels_path = located[files.images], located[files.labels]
    images, labels = idx.read(images_path), idx.read(labels_path)
    height, width, channels = source.image_shape
    expected = (height, width) if channels == 1 else (height, width, channels)
    if images.shape[1:] != expected:
        raise DataError(f"{images_path}: images of shape {images.shape[1:]}, expected {expected}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape} labels for {images.shape[0]} images")
    if labels.size and labels.max() >= len(source.class_names):
        raise DataError(f"{labels_path}: label {labels.max()} outside 0..{len(source.class_names) - 1}")
    if images.size and images.max() > source.pixel_max:
        raise DataError(f"{images_path}: pixel value {images.max()} above {source.pixel_max}")
    return images, labels


def _scale(images: np.ndarray, source: Source) -> np.ndarray:
    """uint8 (N, H, W[, C]) -> float32 (N, C, H, W) in [0, 1]."""
    height, width, channels = source.image_shape
    nhwc = images.reshape(len(images), height, width, channels)
    return (nhwc.transpose(0, 3, 1, 2).astype(np.float32) / source.pixel_max).astype(np.float32)


def _metadata(source: Source, located: dict[str, Path], splits: dict, params: Params) -> dict:
    height, width, channels = source.image_shape
    return {
        "dataset": source.name,
        # What later stages and the report say of the dataset, so that none of them reads the registry.
        "source": {
            "title": source.title,
            "license": source.license,
            "citation": source.citation,
            "homepage": source.homepage,
        },
        "pixel_max": source.pixel_max,
        "image_shape": [channels, height, width],
        "classes": list(source.class_names),
        "counts": {
            name: {cls: int((labels == i).sum()) for i, cls in enumerate(source.class_names)}
            for name, (_, labels, *_) in splits.items()
        },
        "sizes": {name: int(len(labels)) for name, (_, labels, *_) in splits.items()},
        "raw_sha256": {path.name: artifacts.sha256_of(path) for path in located.values()},
        "seed": params.data.seed,
        "test_fraction": params.data.test_fraction if "all" in source.splits else None,
        "val_fraction": params.data.val_fraction,
    }
