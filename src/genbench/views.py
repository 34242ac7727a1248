"""Figures a model asks the report to draw: grids of images with their labels, and maps of pixels.

A generative model's `views()` returns Grids when its samples are drawn; the sample stage stores
them in views.npz. A classic model's `figures()` returns PixelMaps of the fitted model; its evaluate
stage stores them. The report draws each one, so the report runs no model's code. Strings are
stored as numpy unicode arrays, which load without pickle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genbench import artifacts
from genbench.errors import DataError

NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Grid:
    """Images in rows and columns. The figure is saved as reports/figures/<dataset>/<name>-<model>.png."""

    name: str
    images: np.ndarray  # (rows, columns, C, H, W), pixels in [0, 1]
    row_labels: list[str]
    title: str
    caption: str
    alt: str
    column_labels: list[str] = field(default_factory=list)
    x_label: str = ""


@dataclass(frozen=True)
class PixelMap:
    """One value per pixel, drawn in the image's shape. Saved as reports/figures/<dataset>/<name>-<model>.png."""

    name: str
    values: np.ndarray  # (H, W)
    title: str
    label: str  # what the colour scale measures
    caption: str
    alt: str


@dataclass(frozen=True)
class Context:
    """What a model's views() may use besides its own weights."""

    dataset: str
    classes: list[str]
    device: Any  # torch.device
    generator: Any  # torch.Generator, seeded by the sample stage
    test_split: Callable[[], tuple[np.ndarray, np.ndarray]]  # (images, labels), read on first call


def one_per_class(images: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """The first image of each class in turn, then the second of each, until n images."""
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, label in enumerate(labels.tolist()):
        rank_in_class[i] = seen.get(label, 0)
        seen[label] = rank_in_class[i] + 1
    return images[np.lexsort((labels, rank_in_class))[:n]]


def save(path: Path, grids: list[Grid]) -> None:
    arrays = {}
    for i, grid in enumerate(grids):
        if not NAME.fullmatch(grid.name):
            raise ValueError(f"grid name {grid.name!r}: lower-case letters, digits and dashes only")
        prefix = f"{i:03d}."
        arrays[prefix + "images"] = np.asarray(grid.images, dtype=np.float32)
        arrays[prefix + "row_labels"] = np.array(grid.row_labels, dtype=str)
        arrays[prefix + "column_labels"] = np.array(grid.column_labels, dtype=str)
        arrays[prefix + "text"] = np.array([grid.name, grid.title, grid.caption, grid.alt, grid.x_label], dtype=str)
    artifacts.save_npz(path, arrays)


def load(path: Path, image_shape: tuple[int, ...]) -> list[Grid]:
    """The grids of views.npz, each checked before it is drawn."""
    names = sorted({key.split(".")[0] for key in artifacts.npz_keys(path)})
    grids = []
    for prefix in names:
        keys = tuple(f"{prefix}.{k}" for k in ("images", "row_labels", "column_labels", "text"))
        images, row_labels, column_labels, text = artifacts.load_npz(path, keys).values()
        artifacts.check_images(path, keys[0], images, image_shape)
        if (
            images.ndim != 5
            or len(row_labels) != images.shape[0]
            or len(column_labels) not in (0, images.shape[1])
            or text.shape != (5,)
        ):
            raise DataError(
                f"{path}: grid {prefix} has images of shape {images.shape} with {len(row_labels)} row and "
                f"{len(column_labels)} column labels; rerun the sample stage"
            )
        name, title, caption, alt, x_label = text.tolist()
        if not NAME.fullmatch(name):
            raise DataError(f"{path}: grid {prefix} is named {name!r}; expected lower-case letters, digits and dashes")
        grids.append(Grid(name, images, row_labels.tolist(), title, caption, alt, column_labels.tolist(), x_label))
    return grids


def save_maps(path: Path, maps: list[PixelMap]) -> None:
    arrays = {}
    for i, pixel_map in enumerate(maps):
        if not NAME.fullmatch(pixel_map.name):
            raise ValueError(f"map name {pixel_map.name!r}: lower-case letters, digits and dashes only")
        arrays[f"{i:03d}.values"] = np.asarray(pixel_map.values, dtype=np.float64)
        arrays[f"{i:03d}.text"] = np.array(
            [pixel_map.name, pixel_map.title, pixel_map.label, pixel_map.caption, pixel_map.alt], dtype=str
        )
    artifacts.save_npz(path, arrays)


def load_maps(path: Path, image_shape: tuple[int, ...]) -> list[PixelMap]:
    """The maps of a figures file, each checked before it is drawn: (H, W) finite values of the dataset's image size."""
    maps = []
    for prefix in sorted({key.split(".")[0] for key in artifacts.npz_keys(path)}):
        values, text = artifacts.load_npz(path, (f"{prefix}.values", f"{prefix}.text")).values()
        if values.shape != tuple(image_shape[-2:]) or not np.isfinite(values).all() or text.shape != (5,):
            raise DataError(
                f"{path}: map {prefix} has values of shape {values.shape}; expected {tuple(image_shape[-2:])} finite "
                f"numbers"
            )
        name, title, label, caption, alt = text.tolist()
        if not NAME.fullmatch(name):
            raise DataError(f"{path}: map {prefix} is named {name!r}; expected lower-case letters, digits and dashes")
        maps.append(PixelMap(name, values, title, label, caption, alt))
    return maps
