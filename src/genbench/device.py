"""Where the deep stages compute: the device, its torch settings, and how much one inference call takes.

Read by every deep stage (training, sampling, evaluation), never by the classic ones.
"""

from __future__ import annotations

import torch

from genbench import gpus
from genbench.errors import GenbenchError


def resolve(name: str, local_rank: int | None = None) -> torch.device:
    """The device this process computes on; on a machine with GPUs it first claims one (gpus.py).
    `local_rank`: this rank's index on its node, when a job runs as several ranks."""
    if name != "cpu":
        gpus.claim()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GenbenchError("train.device is cuda, but torch sees no CUDA device; use auto or cpu")
    if name == "cuda" and local_rank is not None:
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(name)


def name_of(device: torch.device) -> str:
    """The GPU's name, for the report's provenance; "cpu" on the CPU."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def configure_torch(device: torch.device, threads: int) -> None:
    """A fixed thread count (CPU kernels used here are deterministic for a given count); TF32 on CUDA."""
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def prepare(name: str, threads: int) -> torch.device:
    """`resolve` then `configure_torch`: what an inference stage does first."""
    device = resolve(name)
    configure_torch(device, threads)
    return device


def images_per_call(device: torch.device, height: int, width: int) -> int:
    """How many images one inference call (sampling, a likelihood bound) takes. On a GPU 500 fill it and
    bound its memory. On the CPU a call runs fastest while its activations stay in cache, near 32,768
    pixels: the DDPM took 4.6 ms per image and step at 28x28 in calls of 32 images and 6.8 ms in calls
    of 256, but at 8x8 0.35 ms in calls of 500 and 0.50 ms in calls of 32."""
    if device.type != "cpu":
        return 500
    return max(1, min(500, 32_768 // (height * width)))


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on the CPU, where oneDNN's convolutions run faster in it (bench/floors.py measures
    each model's training step in both layouts; the DDPM's forward call on 500 8x8 images took 0.80x
    the time). Unmeasured on GPUs, so left as it was there."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format
