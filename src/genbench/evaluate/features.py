"""Images to featurenet features: the one feature space FID, KID and precision/recall share."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BATCH = 1024


def extract(net: nn.Module, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Penultimate-layer features (float64, on the CPU) of `images`, with the network in eval mode."""
    return torch.cat(_in_batches(lambda x: net.features(x).double(), net, images, device))


def classify(net: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """The network's predicted class of each image, in eval mode."""
    batches = _in_batches(lambda x: net(x).argmax(1), net, images, device)
    return torch.cat(batches).numpy() if batches else np.zeros(0, dtype=np.int64)


def logits(net: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """The network's class scores of each image (float64), in eval mode."""
    return torch.cat(_in_batches(lambda x: net(x).double(), net, images, device)).numpy()


@torch.no_grad()
def _in_batches(compute, net: nn.Module, images: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    net.eval()  # batch norm must use its running statistics, not the batch's
    return [
        compute(torch.from_numpy(np.ascontiguousarray(images[i : i + BATCH])).float().to(device)).cpu()
        for i in range(0, len(images), BATCH)
    ]


class Precomputed(nn.Module):
    """The identity, as torchmetrics' `feature=` extractor: features are computed once by `extract`
    and the same tensors are fed to every metric."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features
