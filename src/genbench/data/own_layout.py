"""Where a dataset of your own lies, and whether its classes can be split: checked with params.yaml.

Only names and counts are looked at here, cheap enough for every stage to check before it works;
the images themselves are read, and checked, by the dataset's download stage (data/own.py).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from genbench.errors import ConfigError
from genbench.paths import OWN_DATA as OWN_ROOT

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def location(name: str, path: str, params_path: Path | str = "params.yaml") -> Path:
    """The dataset's folder or .npz, relative to the repository root; refused outside data/own/."""
    key = f"{params_path}: own_datasets.{name}.path"
    normal = Path(os.path.normpath(path))
    if normal.is_absolute() or normal.parts[:2] != OWN_ROOT.parts or len(normal.parts) < 3:
        raise ConfigError(
            f"{key}: {path} is not inside {OWN_ROOT}/, the folder both runners track; move or link it there"
        )
    if normal.suffix == ".npz":
        if not normal.is_file():
            raise ConfigError(f"{key}: {normal}: file not found")
    elif not normal.is_dir():
        raise ConfigError(
            f"{key}: {normal}: folder not found (a folder with one subfolder of images per class, or an .npz)"
        )
    return normal


def class_folders(root: Path) -> dict[str, list[Path]]:
    """{class: its image files, sorted}, classes in name order. Hidden entries and files beside the
    class folders are skipped; a file inside one that is not PNG or JPEG is refused."""
    classes = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        for file in files:
            if file.is_dir() or file.suffix.lower() not in IMAGE_SUFFIXES:
                raise ConfigError(
                    f"{file}: not a PNG or JPEG file; a class folder holds only images (extensions "
                    f"{', '.join(IMAGE_SUFFIXES)})"
                )
        classes[folder.name] = files
    return classes


def min_per_class(test_fraction: float, val_fraction: float) -> int:
    """Images a class needs so that the stratified splits give it a test, a validation and a training image."""
    shares = [test_fraction] + ([(1 - test_fraction) * val_fraction] if val_fraction > 0 else [])
    return max(3, math.ceil(1 / min(shares) - 1e-9))


def check_counts(name: str, where: Path, counts: dict[str, int], test_fraction: float, val_fraction: float) -> None:
    """Refuse fewer than two classes, an empty class, or one too small for the splits."""
    if len(counts) < 2:
        raise ConfigError(
            f"{where}: {len(counts)} class{'es' if len(counts) != 1 else ''} found ({', '.join(counts) or 'none'}); "
            f"a dataset needs two or more"
        )
    empty = [cls for cls, n in counts.items() if n == 0]
    if empty:
        raise ConfigError(f"{where}: class {empty[0]!r} has no images")
    needed = min_per_class(test_fraction, val_fraction)
    small = {cls: n for cls, n in counts.items() if n < needed}
    if small:
        cls, n = next(iter(small.items()))
        raise ConfigError(
            f"{where}: class {cls!r} has {n} image{'s' if n != 1 else ''}; data.test_fraction {test_fraction} and "
            f"data.val_fraction {val_fraction} need at least {needed} per class for the stratified splits"
        )


def check(params, params_path: Path | str = "params.yaml") -> None:
    """Each own dataset that `datasets` lists: its path, and for a folder its classes' counts."""
    for name in params.datasets:
        entry = params.own_datasets.get(name)
        if entry is None:
            continue
        root = location(name, entry.path, params_path)
        if root.suffix != ".npz":
            counts = {cls: len(files) for cls, files in class_folders(root).items()}
            check_counts(name, root, counts, params.data.test_fraction, params.data.val_fraction)
