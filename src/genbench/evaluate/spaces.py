"""Feature spaces beside the featurenet: networks trained elsewhere, whose FID papers print.

`inception` is torch-fidelity's Inception-V3, the port of TensorFlow's FID network that reproduces the
original FID (TTUR) and Inception Score code: images go in as 8-bit RGB (grey repeated over the three
channels, as PIL's convert("RGB") does to a saved PNG) and the network resizes them to 299 x 299 itself,
with TensorFlow 1's bilinear resize. FID, KID, precision and recall use its 2048 pool features; the
Inception Score its unbiased logits, as torch-fidelity's do.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genbench.config import Params
from genbench.errors import DataError
from genbench.evaluate import pretrained, torch_fidelity_package

BATCH = 50


@dataclass(frozen=True)
class Embedding:
    features: torch.Tensor  # float64, on the CPU
    logits: np.ndarray  # float64: the class scores the Inception Score reads


class Inception:
    name = "inception"

    def __init__(self, weights: Path, on: torch.device):
        try:  # only tensors: the sha256 was checked, and this refuses anything a pickle could run
            torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as e:
            raise DataError(f"{weights}: not a state dict of tensors ({type(e).__name__})") from None
        extractor = _torch_fidelity_inception()
        self.net = extractor("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=weights)
        self.net.to(on)
        self.on = on

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> Embedding:
        """`images`: (N, C, H, W) in [0, 1], C 1 or 3."""
        features, logits = [], []
        for start in range(0, len(images), BATCH):
            pool, scores = self.net(torch.from_numpy(to_rgb8(images[start : start + BATCH])).to(self.on))
            features.append(pool.cpu().double())
            logits.append(scores.cpu().double())
        return Embedding(torch.cat(features), torch.cat(logits).numpy())


def to_rgb8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats to the 8-bit RGB a saved PNG holds: rounded to the nearest level, grey repeated."""
    quantised = np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)
    return np.repeat(quantised, 3, axis=1) if quantised.shape[1] == 1 else quantised


NETWORKS = {Inception.name: Inception}  # each space of pipeline.FEATURE_SPACES beside the featurenet


def load(params: Params, folder: Path, on: torch.device) -> list[Inception]:
    """The configured spaces beside the featurenet, their weights verified in `folder`."""
    return [
        NETWORKS[space](pretrained.verified(folder, space), on)
        for space in pretrained.needing_weights(params.evaluate.feature_spaces)
    ]


def _torch_fidelity_inception() -> type:
    """torch-fidelity's FeatureExtractorInceptionV3 (torch_fidelity_package.py says how it is imported)."""
    torch_fidelity_package.importable()
    if importlib.util.find_spec("torch_fidelity") is None:
        raise DataError("the inception feature space needs torch-fidelity: run `make setup`")
    return importlib.import_module("torch_fidelity.feature_extractor_inceptionv3").FeatureExtractorInceptionV3
