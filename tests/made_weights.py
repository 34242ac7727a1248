"""Feature-space weights made here, saved in the official files' formats and registered under their own sha256:
the real ones cannot be fetched where the tests run. A network's cost and every code path are the real weights'
own; only the figures mean nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from genbench import artifacts
from genbench.evaluate import spaces


def inception(folder: Path) -> Path:
    """torch-fidelity's Inception-V3, randomly initialised and saved as its weights file is (a state dict by
    torch.save), seeded, so that every test makes the same bytes."""
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
    path = folder / "weights-inception-made-here.pth"
    torch.save(net.state_dict(), path)
    return path


def dinov2(folder: Path, layers: int = 12) -> Path:
    """A DINOv2 ViT-S/14 backbone checkpoint as the official file holds it (torch.save of the state dict that
    torch.hub's dinov2_vits14 loads: its tensors' names and shapes, position embeddings for 37 x 37 patches),
    with random values, seeded. `layers` below 12 makes a shallower network of the same kind, for speed."""
    width, hidden = 384, 1536
    shapes = {
        "cls_token": (1, 1, width),
        "pos_embed": (1, 1 + 37 * 37, width),
        "mask_token": (1, width),
        "patch_embed.proj.weight": (width, 3, 14, 14),
        "patch_embed.proj.bias": (width,),
    }
    for i in range(layers):
        block = f"blocks.{i}."
        shapes |= {
            f"{block}norm1.weight": (width,),
            f"{block}norm1.bias": (width,),
            f"{block}attn.qkv.weight": (3 * width, width),
            f"{block}attn.qkv.bias": (3 * width,),
            f"{block}attn.proj.weight": (width, width),
            f"{block}attn.proj.bias": (width,),
            f"{block}ls1.gamma": (width,),
            f"{block}norm2.weight": (width,),
            f"{block}norm2.bias": (width,),
            f"{block}mlp.fc1.weight": (hidden, width),
            f"{block}mlp.fc1.bias": (hidden,),
            f"{block}mlp.fc2.weight": (width, hidden),
            f"{block}mlp.fc2.bias": (width,),
            f"{block}ls2.gamma": (width,),
        }
    shapes |= {"norm.weight": (width,), "norm.bias": (width,)}
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in shapes.items():
        if name.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
            state[name] = 1 + 0.1 * torch.randn(shape, generator=generator)
        elif name.endswith(".weight") and len(shape) > 1:  # variance-preserving: over each output's inputs
            state[name] = torch.randn(shape, generator=generator) / math.prod(shape[1:]) ** 0.5
        else:
            state[name] = 0.1 * torch.randn(shape, generator=generator)
    path = folder / f"dinov2-vits14-{layers}-layers-made-here.pth"
    torch.save(state, path)
    return path


def register(files: dict[str, Path], registry: Path) -> Path:
    """A GENBENCH_PRETRAINED_REGISTRY file naming each space's `files`."""
    entries = {
        space: {"name": path.name, "sha256": artifacts.sha256_of(path), "size": path.stat().st_size, "urls": []}
        for space, path in files.items()
    }
    registry.write_text(json.dumps(entries))
    return registry
