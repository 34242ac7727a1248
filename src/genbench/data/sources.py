"""The registry of datasets: what each one is, where its raw files come from, how to cite it.

Importing this module is cheap: config.py takes the dataset names from here.
Checksums and sizes are those of the files as their hosts distribute them, plus the sha256 of
each file's decompressed payload where it is recorded (data/rawfiles.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawFile:
    name: str
    sha256: str  # of the file as its hosts serve it
    size: int  # bytes
    # sha256 of the decompressed payload (of the bytes, for a file that is not compressed): a
    # re-compressed or uncompressed copy is accepted by it. None where not recorded yet.
    content_sha256: str | None = None


@dataclass(frozen=True)
class Split:
    images: str  # IDX file names in data/raw/<dataset>/
    labels: str


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    image_shape: tuple[int, int, int]  # height, width, channels
    class_names: tuple[str, ...]
    pixel_max: int  # raw values run from 0 to this
    format: str  # "idx" or "cifar10-binary": how data/raw/<dataset>/ is laid out
    license: str
    citation: str
    homepage: str
    # IDX datasets: the files of each split; "all" when preprocess makes the test split.
    splits: dict[str, Split] = field(default_factory=dict)
    # Files to download, and the base URLs that serve them, tried in order.
    # No files means the data ships with a package (bundled).
    files: tuple[RawFile, ...] = ()
    urls: tuple[str, ...] = ()

    @property
    def bundled(self) -> bool:
        return not self.files

    @property
    def raw_files(self) -> list[str]:
        if self.files:
            return sorted(f.name for f in self.files)
        return sorted(name for split in self.splits.values() for name in (split.images, split.labels))


def _mnist_splits() -> dict[str, Split]:
    return {
        "train": Split("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": Split("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }


DIGITS = Source(
    name="digits",
    title="UCI optical recognition of handwritten digits (8x8, as bundled with scikit-learn)",
    image_shape=(8, 8, 1),
    class_names=tuple(str(d) for d in range(10)),
    pixel_max=16,
    format="idx",
    splits={"all": Split("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")},
    license="CC BY 4.0",
    citation="Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
    "UCI Machine Learning Repository. https://doi.org/10.24432/C50P49",
    homepage="https://archive.ics.uci.edu/dataset/80",
)

MNIST = Source(
    name="mnist",
    title="MNIST handwritten digits (28x28, official 60,000/10,000 split)",
    image_shape=(28, 28, 1),
    class_names=tuple(str(d) for d in range(10)),
    pixel_max=255,
    format="idx",
    splits=_mnist_splits(),
    files=(
        RawFile(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9_912_422,
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        RawFile(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28_881,
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        RawFile(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1_648_877,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        RawFile(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4_542,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
    urls=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    license="CC BY-SA 3.0",
    citation="LeCun, Y., Bottou, L., Bengio, Y. and Haffner, P. (1998). Gradient-based learning applied "
    "to document recognition. Proceedings of the IEEE 86(11), 2278-2324.",
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = Source(
    name="fashion_mnist",
    title="Fashion-MNIST clothing images (28x28, official 60,000/10,000 split)",
    image_shape=(28, 28, 1),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    pixel_max=255,
    format="idx",
    splits=_mnist_splits(),
    files=(
        RawFile(
            "train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26_421_880
        ),
        RawFile(
            "train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29_515
        ),
        RawFile(
            "t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4_422_102
        ),
        RawFile("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5_148),
    ),
    urls=(
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    license="MIT",
    citation="Xiao, H., Rasul, K. and Vollgraf, R. (2017). Fashion-MNIST: a Novel Image Dataset for "
    "Benchmarking Machine Learning Algorithms. arXiv:1708.07747.",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

CIFAR10 = Source(
    name="cifar10",
    title="CIFAR-10 colour images (32x32x3, official 50,000/10,000 split, binary version)",
    image_shape=(32, 32, 3),
    class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    pixel_max=255,
    format="cifar10-binary",
    files=(
        RawFile(
            "cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170_052_171
        ),
    ),
    urls=("https://www.cs.toronto.edu/~kriz/",),
    license="no explicit license; see the homepage",
    citation="Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. "
    "Technical report, University of Toronto.",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)

SOURCES: dict[str, Source] = {s.name: s for s in (DIGITS, MNIST, FASHION_MNIST, CIFAR10)}
DATASET_NAMES = tuple(SOURCES)
