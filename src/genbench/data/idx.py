"""The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/), as shipped: gzip-compressed or not.

Written by hand: the format is a 4-byte magic number, one big-endian uint32 per
dimension, then the raw values, and no maintained library reads it with the
size checks a pipeline needs.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from genbench.errors import DataError

_UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def encode(array: np.ndarray) -> bytes:
    """gzip-compressed IDX bytes of a uint8 array; identical arrays give identical bytes."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold uint8 values, not {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        gz.write(header + np.ascontiguousarray(array).tobytes())
    return buffer.getvalue()


def read(path: Path) -> np.ndarray:
    """Read an IDX file of uint8 values, gzip-compressed or not, checking the header against the data size."""
    try:
        data = Path(path).read_bytes()
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from None
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero1, zero2, dtype_code, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 != 0 or zero2 != 0 or dtype_code != _UBYTE or ndim == 0:
        raise DataError(f"{path}: bad IDX magic number 0x{data[:4].hex()}; expected 0x000008NN (unsigned bytes)")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(data) - header_size
    if actual != expected:
        raise DataError(f"{path}: IDX dimensions {shape} need {expected} bytes of data, the file has {actual}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)
