"""Named random streams: each use of a seed draws from a stream of its own, spawned from the seed by the use's name.

numpy's SeedSequence mixes the seed with the name's bytes, so the streams of one seed are independent
of one another and of every stream of another seed (replicate seeds are consecutive integers, so
seed + 1 would be the next replicate's seed). The names are the uses: "samples", "likelihood",
"bootstrap/fid", ... A new use is a new name, and no other draw moves.
"""

from __future__ import annotations

import hashlib

import numpy as np


def seed_of(seed: int, name: str) -> int:
    """A 32-bit seed for the stream `name` of `seed`."""
    name_words = np.frombuffer(hashlib.sha256(name.encode()).digest(), dtype=np.uint32)
    return int(np.random.SeedSequence([seed, *name_words.tolist()]).generate_state(1)[0])


def numpy_generator(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(seed_of(seed, name))


def torch_generator(seed: int, name: str):
    """A torch.Generator on the CPU for the stream (torch is imported only by the stages that use it)."""
    import torch

    return torch.Generator().manual_seed(seed_of(seed, name))
