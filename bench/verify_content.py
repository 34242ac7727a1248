"""How long verification by content takes: a raw file whose bytes are not the official ones is hashed,
decompressed and hashed again (data/rawfiles.py). Median of 5 runs each.

- MNIST: the four files of a folder of re-compressed copies (--mnist DIR);
- CIFAR-10 sized: a 170 MB gzip file of incompressible bytes, written to a temporary folder.

Usage: python bench/verify_content.py --mnist DIR
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path

from genbench.data import rawfiles
from genbench.data.sources import MNIST, RawFile


def median_seconds(check, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        check()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, required=True)
    args = parser.parse_args()
    assert all(rawfiles.mismatch(args.mnist / f.name, f) is None for f in MNIST.files), "not MNIST's content"
    mnist = median_seconds(lambda: [rawfiles.mismatch(args.mnist / f.name, f) for f in MNIST.files])
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "cifar-sized.tar.gz"
        big.write_bytes(gzip.compress(os.urandom(170_000_000), compresslevel=1))
        stand_in = RawFile(
            big.name, "0" * 64, big.stat().st_size, "1" * 64
        )  # matches neither: both hashes are computed
        cifar = median_seconds(lambda: rawfiles.mismatch(big, stand_in))
        size = big.stat().st_size
    print(
        f"MNIST, four re-compressed files "
        f"({sum((args.mnist / f.name).stat().st_size for f in MNIST.files) / 1e6:.1f} MB): {mnist:.3f} s"
    )
    print(f"CIFAR-10 sized, one file ({size / 1e6:.0f} MB): {cifar:.3f} s")


if __name__ == "__main__":
    main()
