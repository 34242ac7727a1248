"""Inception-V3 weights made here: torch-fidelity's network, randomly initialised and saved as its weights file is
(a state dict by torch.save), registered under their own sha256. The network's cost and every code path are the
real weights' own; only the figures mean nothing."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from genbench import artifacts
from genbench.evaluate import spaces

NAME = "weights-inception-made-here.pth"


def make(folder: Path) -> Path:
    """The weights file in `folder`, seeded, so that every test makes the same bytes."""
    extractor = spaces._torch_fidelity_inception()

    class Unloaded(extractor):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the initialisation
            return None

    empty = folder / "empty.pth"
    torch.save({}, empty)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=empty)
        for module in net.modules():
            if isinstance(module, nn.Conv2d):  # variance-preserving, so that 2048 features do not fade to zero
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        net.fc.weight.data *= 10  # logits that differ between images, so that the Inception Score is not 1
    empty.unlink()
    path = folder / NAME
    torch.save(net.state_dict(), path)
    return path


def register(weights: Path, registry: Path) -> Path:
    """A GENBENCH_PRETRAINED_REGISTRY file naming `weights` for the inception space."""
    entry = {"name": weights.name, "sha256": artifacts.sha256_of(weights), "size": weights.stat().st_size}
    registry.write_text(json.dumps({"inception": entry | {"urls": []}}))
    return registry
