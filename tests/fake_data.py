"""Small files in the real raw formats (gzip IDX, CIFAR-10 binary tar.gz), and a loopback HTTP server for them."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from genbench.data import idx


def learnable_images(n_per_class: int, shape: tuple[int, ...], seed: int, n_classes: int = 10):
    """uint8 images whose class shows as a bright band, so every model can learn something."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes, dtype=np.uint8), n_per_class)
    images = rng.integers(0, 60, size=(len(labels), *shape), dtype=np.uint8)
    band = shape[0] // n_classes or 1
    for i, label in enumerate(labels):
        images[i, label * band : (label + 1) * band] = 250
    order = rng.permutation(len(labels))
    return images[order], labels[order]


def mnist_like_files(seed: int = 0) -> dict[str, bytes]:
    train_x, train_y = learnable_images(12, (28, 28), seed)
    test_x, test_y = learnable_images(4, (28, 28), seed + 1)
    return {
        "train-images-idx3-ubyte.gz": idx.encode(train_x),
        "train-labels-idx1-ubyte.gz": idx.encode(train_y),
        "t10k-images-idx3-ubyte.gz": idx.encode(test_x),
        "t10k-labels-idx1-ubyte.gz": idx.encode(test_y),
    }


def cifar_batch(n_per_class: int, seed: int) -> bytes:
    images, labels = learnable_images(n_per_class, (32, 32, 3), seed)
    planar = images.transpose(0, 3, 1, 2).reshape(len(labels), -1)  # red, green, blue planes
    return np.concatenate([labels[:, None], planar], axis=1).astype(np.uint8).tobytes()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cifar_archive(seed: int = 0, extra: dict[str, bytes] | None = None) -> bytes:
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": cifar_batch(2, seed + i) for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = cifar_batch(2, seed + 9)
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
    members.update(extra or {})
    return tar_gz(members)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FileServer:
    """Serves `files` (path -> bytes) on 127.0.0.1 with Range support; faults are opt-in per path."""

    files: dict[str, bytes]
    drop_first_request_at: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before hanging up
    status_override: dict[str, int] = field(default_factory=dict)  # path -> HTTP status to answer
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def __enter__(self) -> FileServer:
        server_state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server_state.requests.append((self.path, self.headers.get("Range")))
                if self.path in server_state.status_override:
                    self.send_error(server_state.status_override[self.path])
                    return
                data = server_state.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                cut = server_state.drop_first_request_at.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(data[start:cut])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # hang up halfway through the body
                    return
                self.wfile.write(data[start:])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers."""

    def __enter__(self) -> SilentServer:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self._socket.close()


def register_datasets(workspace, files: dict[str, tuple], class_names: dict[str, tuple[str, ...]]) -> None:
    """Add datasets to the copy's registry, as a developer adding a dataset would."""
    lines = ["", "from dataclasses import replace as _replace", ""]
    for name, (base, contents) in files.items():
        raw = ", ".join(f"RawFile({f!r}, {sha256(d)!r}, {len(d)})" for f, d in contents.items())
        classes = f", class_names={class_names[name]!r}" if name in class_names else ""
        lines.append(f"SOURCES[{name!r}] = _replace({base}, name={name!r}, files=({raw},), urls=(){classes})")
    lines.append("DATASET_NAMES = tuple(SOURCES)")
    path = workspace.path("src/genbench/data/sources.py")
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
