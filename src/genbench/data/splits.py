"""The preprocessed splits as the training and evaluation stages read them, checked on the way in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts
from genbench.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


def load(data_path: Path, splits: tuple[str, ...] = SPLIT_NAMES, n_classes: int | None = None) -> dict[str, np.ndarray]:
    """The preprocessed arrays of the named splits. Every split is checked for shape, range and labels,
    not only the named ones: a damaged file is refused by every stage that reads it."""
    keys = tuple(f"{kind}_{split}" for split in SPLIT_NAMES for kind in ("x", "y"))
    arrays = artifacts.load_npz(data_path, keys)
    for split in SPLIT_NAMES:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 4 or x.shape[0] != y.shape[0] or y.ndim != 1:
            raise DataError(
                f"{data_path}: split {split} has images {x.shape} and labels {y.shape}; expected (N, C, H, W) and (N,)"
            )
        if split != "val" and x.shape[0] == 0:
            raise DataError(f"{data_path}: split {split} is empty")
        if not np.issubdtype(x.dtype, np.floating) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(
                f"{data_path}: split {split} has images of {x.dtype} and labels of {y.dtype}; expected floats and "
                f"integers"
            )
        if not np.isfinite(x).all() or (x.size and (x.min() < 0 or x.max() > 1)):
            raise DataError(f"{data_path}: split {split} has pixel values outside [0, 1] or not finite")
        if y.size and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
            raise DataError(f"{data_path}: split {split} has labels outside 0..{(n_classes or 1) - 1}")
    return {key: arrays[key] for split in splits for key in (f"x_{split}", f"y_{split}")}


def captions(data_path: Path, split: str) -> list[str] | None:
    """The split's captions where the dataset brought its own (data/own.py), one per image; None otherwise."""
    key = f"captions_{split}"
    if key not in artifacts.npz_keys(data_path):
        return None
    arrays = artifacts.load_npz(data_path, (key, f"y_{split}"))
    texts, labels = arrays[key], arrays[f"y_{split}"]
    if texts.shape != labels.shape or texts.dtype.kind != "U":
        raise DataError(
            f"{data_path}: {key} of shape {texts.shape} and dtype {texts.dtype}; expected {len(labels)} strings"
        )
    return texts.tolist()
