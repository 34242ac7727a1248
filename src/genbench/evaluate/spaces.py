"""Feature spaces beside the featurenet: networks trained elsewhere, whose FID papers print.

`inception` is torch-fidelity's Inception-V3, the port of TensorFlow's FID network that reproduces the
original FID (TTUR) and Inception Score code: images go in as 8-bit RGB (grey repeated over the three
channels, as PIL's convert("RGB") does to a saved PNG) and the network resizes them to 299 x 299 itself,
with TensorFlow 1's bilinear resize. FID, KID, precision and recall use its 2048 pool features; the
Inception Score its unbiased logits, as torch-fidelity's do.

`dinov2` is DINOv2's ViT-S/14 (Stein et al. 2023 recommend DINOv2 over Inception for FID), as dgm-eval
runs it: the saved PNG's 8-bit RGB resized to 224 x 224 by PIL's bicubic filter (what torchvision's Resize
does to a PIL image), scaled to [0, 1], normalised with ImageNet's mean and deviation; its features are the
class token after the last layer norm (dinov2.py says how transformers runs the official weights). It has no
classes, so no Inception Score.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genbench.config import Params
from genbench.errors import DataError
from genbench.evaluate import dinov2, pretrained, torch_fidelity_package

BATCH = 50


@dataclass(frozen=True)
class Embedding:
    features: torch.Tensor  # float64, on the CPU
    logits: np.ndarray | None  # float64: the class scores the Inception Score reads; None in a space without classes


class Inception:
    name = "inception"

    def __init__(self, weights: Path, on: torch.device):
        _state_dict(weights)
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


class DinoV2:
    name = "dinov2"
    SIDE = 224
    MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]  # ImageNet's, as dgm-eval's
    STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]

    def __init__(self, weights: Path, on: torch.device):
        try:
            self.net = dinov2.network(_state_dict(weights), self.SIDE).to(on)
        except (KeyError, RuntimeError, ValueError) as e:
            raise DataError(f"{weights}: not the state dict of a DINOv2 ViT backbone ({e})".splitlines()[0]) from None
        self.on = on

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> Embedding:
        """`images`: (N, C, H, W) in [0, 1], C 1 or 3."""
        features = []
        for start in range(0, len(images), BATCH):
            batch = torch.from_numpy(self.prepared(images[start : start + BATCH])).to(self.on)
            features.append(self.net(pixel_values=batch).pooler_output.cpu().double())
        return Embedding(torch.cat(features), None)

    @classmethod
    def prepared(cls, images: np.ndarray) -> np.ndarray:
        """The network's input: each image's 8-bit RGB resized by PIL's bicubic filter, then normalised."""
        resized = [
            np.asarray(Image.fromarray(rgb.transpose(1, 2, 0)).resize((cls.SIDE, cls.SIDE), Image.Resampling.BICUBIC))
            for rgb in to_rgb8(images)
        ]
        scaled = np.stack(resized).transpose(0, 3, 1, 2).astype(np.float32) / 255
        return (scaled - cls.MEAN) / cls.STD


def to_rgb8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats to the 8-bit RGB a saved PNG holds: rounded to the nearest level, grey repeated."""
    quantised = np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)
    return np.repeat(quantised, 3, axis=1) if quantised.shape[1] == 1 else quantised


# Each space of pipeline.FEATURE_SPACES beside the featurenet:
NETWORKS = {space.name: space for space in (Inception, DinoV2)}


def load(params: Params, folder: Path, on: torch.device) -> list[Inception | DinoV2]:
    """The configured spaces beside the featurenet, their weights verified in `folder`."""
    return [
        NETWORKS[space](pretrained.verified(folder, space), on)
        for space in pretrained.needing_weights(params.evaluate.feature_spaces)
    ]


def _state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """The tensors in `weights`: its sha256 was checked, and this refuses anything a pickle could run."""
    try:
        return torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"{weights}: not a state dict of tensors ({type(e).__name__})") from None


def _torch_fidelity_inception() -> type:
    """torch-fidelity's FeatureExtractorInceptionV3 (torch_fidelity_package.py says how it is imported)."""
    torch_fidelity_package.importable()
    if importlib.util.find_spec("torch_fidelity") is None:
        raise DataError("the inception feature space needs torch-fidelity: run `make setup`")
    return importlib.import_module("torch_fidelity.feature_extractor_inceptionv3").FeatureExtractorInceptionV3
