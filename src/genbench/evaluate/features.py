"""Images to featurenet features: the one feature space FID, KID and precision/recall share."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BATCH = 1024


@torch.no_grad()
def extract(net: nn.Module, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Penultimate-layer features (float64, on the CPU) of `images`, with the network in eval mode."""
    net.eval()  # batch norm must use its running statistics, not the batch's
    batches = [
        net.features(torch.from_numpy(np.ascontiguousarray(images[i:i + BATCH])).float().to(device)).double().cpu()
        for i in range(0, len(images), BATCH)
    ]
    return torch.cat(batches)


@torch.no_grad()
def classify(net: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """The network's predicted class of each image, in eval mode."""
    net.eval()
    batches = [
        net(torch.from_numpy(np.ascontiguousarray(images[i:i + BATCH])).float().to(device)).argmax(1).cpu()
        for i in range(0, len(images), BATCH)
    ]
    return torch.cat(batches).numpy() if batches else np.zeros(0, dtype=np.int64)


class Precomputed(nn.Module):
    """The identity, as torchmetrics' `feature=` extractor: features are computed once by `extract`
    and the same tensors are fed to every metric."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features
