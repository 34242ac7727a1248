"""download@D: put a dataset's raw files into data/raw/<dataset>/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import artifacts
from genbench.data import idx
from genbench.data.sources import SOURCES, Source


def run(dataset: str, raw_dir: Path) -> None:
    source = SOURCES[dataset]
    with artifacts.atomic_directory(raw_dir) as staging:
        if source.name == "digits":
            _export_bundled_digits(source, staging)
        else:  # the registry only names datasets this module can fetch
            raise AssertionError(f"no fetcher for {source.name}")


def _export_bundled_digits(source: Source, dest: Path) -> None:
    """Write scikit-learn's bundled copy in the IDX format the downloaded datasets use."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    if images.max() > source.pixel_max:  # guards the cast above
        raise AssertionError(f"digits pixel values exceed {source.pixel_max}")
    split = source.splits["all"]
    idx.write(dest / split.images, images)
    idx.write(dest / split.labels, labels)
