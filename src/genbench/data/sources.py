"""The registry of datasets: what each one is, where its raw files live and how to cite it.

Importing this module is cheap: config.py takes the dataset names from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    images: str  # IDX file name in data/raw/<dataset>/
    labels: str


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    image_shape: tuple[int, int, int]  # height, width, channels
    class_names: tuple[str, ...]
    pixel_max: int  # raw values run from 0 to this
    # "all" when the dataset has no official test split and preprocess makes one.
    splits: dict[str, Split]
    license: str
    citation: str
    homepage: str

    @property
    def raw_files(self) -> list[str]:
        return sorted(name for split in self.splits.values() for name in (split.images, split.labels))


DIGITS = Source(
    name="digits",
    title="UCI optical recognition of handwritten digits (8x8, as bundled with scikit-learn)",
    image_shape=(8, 8, 1),
    class_names=tuple(str(d) for d in range(10)),
    pixel_max=16,
    splits={"all": Split("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")},
    license="CC BY 4.0",
    citation="Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
    "UCI Machine Learning Repository. https://doi.org/10.24432/C50P49",
    homepage="https://archive.ics.uci.edu/dataset/80",
)

SOURCES: dict[str, Source] = {source.name: source for source in (DIGITS,)}
DATASET_NAMES = tuple(SOURCES)
