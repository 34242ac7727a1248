"""featurenet: a small LeNet-style CNN classifier.

It is the deep classifier baseline beside the classic models, and its penultimate
layer is the feature space in which the generative models are compared (the
"Frechet LeNet distance" practice: no Inception weights needed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genbench.models.base import Capability, Execution, Kind, Recipe
from genbench.schema import DeepModelParams, PositiveFloat

KIND = Kind.CLASSIFIER
CAPABILITIES: frozenset[Capability] = frozenset()


class Params(DeepModelParams):
    """featurenet"""

    steps: int = Field(1000, ge=1, le=10_000_000, description="optimiser steps")
    lr: PositiveFloat = Field(0.003, description="learning rate (AdamW)")
    weight_decay: float = Field(5e-4, ge=0, description="AdamW's decoupled weight decay")
    width: int = Field(32, ge=4, le=512, description="channels of the first convolution block (the second has twice)")
    feature_dim: int = Field(128, ge=2, le=4096, description="size of the feature layer FID, KID and the rest compare")


class FeatureNet(nn.Module):
    def __init__(self, channels: int, n_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),  # 8x8, 28x28 and 32x32 inputs all end as 2x2
        )
        self.features_layer = nn.Sequential(nn.Flatten(), nn.Linear(8 * width, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: the space FID, KID and precision/recall are computed in."""
        return self.features_layer(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def config(params: Params, shape: tuple[int, int, int], n_classes: int) -> dict:
    return {"channels": shape[0], "n_classes": n_classes, "width": params.width, "feature_dim": params.feature_dim}


def build(cfg: dict) -> dict[str, nn.Module]:
    return {"net": FeatureNet(cfg["channels"], cfg["n_classes"], cfg["width"], cfg["feature_dim"])}


def recipe(modules: dict[str, nn.Module], params: Params, run: Execution) -> Recipe:
    net = modules["net"]
    network = run.parallel(net)
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, total_steps=params.steps)

    def step(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        net.train()
        x, y = run.share(x, y)
        with run.autocast():
            loss = F.cross_entropy(network(x), y)
        optimizer.zero_grad(set_to_none=True)
        run.backward(loss)
        run.step(optimizer)
        schedule.step()
        return {"cross_entropy": loss.detach()}

    return Recipe(modules={"net": net}, optimizers={"adamw": optimizer}, step=step, extra_state={"schedule": schedule})
