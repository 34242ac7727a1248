"""DINOv2's ViT from its official checkpoint (the state dict torch.hub's `dinov2_vits14` loads), run by
Hugging Face transformers' Dinov2Model.

transformers computes the network; what is written here is the renaming of the checkpoint's tensors into its
names (as transformers' own conversion script does, which is not part of its package) and one step taken
ahead of time: the position embeddings, learnt for 37 x 37 patches, are resampled to the input's grid as
DINOv2's own code does it on every call (bicubic, with its 0.1 offset to the scale factor). transformers'
resampling omits that offset and moves the features by about half a percent; done here, the features equal
the official code's (bench/dinov2_equivalence.py measures it).
"""

from __future__ import annotations

import math

import torch
from torch import nn

PATCH = 14
HEAD_WIDTH = 64  # every DINOv2 ViT (S, B, L, g) has heads of 64 channels
OFFSET = 0.1  # DINOv2's interpolate_offset


def network(state: dict[str, torch.Tensor], side: int) -> nn.Module:
    """The ViT of the official `state` (its size read off its tensors), for `side` x `side` inputs."""
    from transformers import Dinov2Config, Dinov2Model

    width = state["cls_token"].shape[-1]
    layers = sum(1 for key in state if key.startswith("blocks.") and key.endswith(".norm1.weight"))
    config = Dinov2Config(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=width // HEAD_WIDTH,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] // width,
        patch_size=PATCH,
        image_size=side,
        layerscale_value=1.0,
        layer_norm_eps=1e-6,
    )
    net = Dinov2Model(config)
    net.load_state_dict(_renamed(state, layers, side // PATCH), strict=True)
    return net.eval().requires_grad_(False)


def _renamed(state: dict[str, torch.Tensor], layers: int, grid: int) -> dict[str, torch.Tensor]:
    unknown = sorted(key for key in state if not key.startswith(_OFFICIAL))
    if unknown:  # registers, a classification head: another variant than the plain backbone
        raise KeyError(f"tensors this ViT does not have: {', '.join(unknown[:3])}")
    renamed = {
        "embeddings.cls_token": state["cls_token"],
        "embeddings.mask_token": state["mask_token"],
        "embeddings.position_embeddings": _positions(state["pos_embed"], grid),
        "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
        "layernorm.weight": state["norm.weight"],
        "layernorm.bias": state["norm.bias"],
    }
    for layer in range(layers):
        old, new = f"blocks.{layer}.", f"encoder.layer.{layer}."
        for kind in ("weight", "bias"):
            query, key, value = state[f"{old}attn.qkv.{kind}"].chunk(3)
            renamed |= {
                f"{new}attention.q_proj.{kind}": query,
                f"{new}attention.k_proj.{kind}": key,
                f"{new}attention.v_proj.{kind}": value,
                f"{new}attention.o_proj.{kind}": state[f"{old}attn.proj.{kind}"],
            }
            for part in ("norm1", "norm2", "mlp.fc1", "mlp.fc2"):
                renamed[f"{new}{part}.{kind}"] = state[f"{old}{part}.{kind}"]
        renamed[f"{new}layer_scale1.lambda1"] = state[f"{old}ls1.gamma"]
        renamed[f"{new}layer_scale2.lambda1"] = state[f"{old}ls2.gamma"]
    return renamed


_OFFICIAL = ("cls_token", "mask_token", "pos_embed", "patch_embed.", "blocks.", "norm.")


def _positions(learnt: torch.Tensor, grid: int) -> torch.Tensor:
    """The class token's position and the patches' resampled to `grid` x `grid`, as DINOv2 does it."""
    patches = learnt[:, 1:].float()
    side = math.isqrt(patches.shape[1])
    if grid == side:  # the grid they were learnt for: DINOv2 uses them as they are
        return learnt
    resampled = nn.functional.interpolate(
        patches.reshape(1, side, side, -1).permute(0, 3, 1, 2),
        scale_factor=((grid + OFFSET) / side,) * 2,
        mode="bicubic",
        antialias=False,
    )
    return torch.cat([learnt[:, :1].float(), resampled.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], dim=1)
