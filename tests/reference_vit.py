"""DINOv2's ViT written out from its official code (facebookresearch/dinov2, models/vision_transformer.py and
layers/: pre-norm blocks with layer scale, exact GELU, LayerNorm eps 1e-6, position embeddings resampled on
every call with a 0.1 offset) in plain torch, on the official checkpoint's tensors by their own names: a
second computation of the features, independent of transformers and of the renaming in evaluate/dinov2.py."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def class_token(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The normalised class token (DINOv2's x_norm_clstoken) of the images `x`, (N, 3, H, W), in float64."""
    s = {name: tensor.double() for name, tensor in state.items()}
    x = x.double()
    width = s["cls_token"].shape[-1]
    heads = width // 64
    patches = F.conv2d(x, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=14)
    grid_h, grid_w = patches.shape[-2:]
    tokens = torch.cat([s["cls_token"].expand(len(x), -1, -1), patches.flatten(2).transpose(1, 2)], dim=1)
    tokens = tokens + _positions(s["pos_embed"], grid_w, grid_h)
    i = 0
    while f"blocks.{i}.norm1.weight" in s:
        b = f"blocks.{i}."
        h = F.layer_norm(tokens, (width,), s[b + "norm1.weight"], s[b + "norm1.bias"], eps=1e-6)
        qkv = (h @ s[b + "attn.qkv.weight"].T + s[b + "attn.qkv.bias"]).reshape(len(x), -1, 3, heads, 64)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(64), dim=-1) @ v
        attended = attended.transpose(1, 2).reshape(len(x), -1, width)
        tokens = tokens + s[b + "ls1.gamma"] * (attended @ s[b + "attn.proj.weight"].T + s[b + "attn.proj.bias"])
        h = F.layer_norm(tokens, (width,), s[b + "norm2.weight"], s[b + "norm2.bias"], eps=1e-6)
        h = F.gelu(h @ s[b + "mlp.fc1.weight"].T + s[b + "mlp.fc1.bias"]) @ s[b + "mlp.fc2.weight"].T
        tokens = tokens + s[b + "ls2.gamma"] * (h + s[b + "mlp.fc2.bias"])
        i += 1
    return F.layer_norm(tokens, (width,), s["norm.weight"], s["norm.bias"], eps=1e-6)[:, 0]


def _positions(learnt: torch.Tensor, w0: int, h0: int) -> torch.Tensor:
    n = learnt.shape[1] - 1
    m = int(math.sqrt(n))
    patch = F.interpolate(
        learnt[:, 1:].float().reshape(1, m, m, -1).permute(0, 3, 1, 2),
        scale_factor=((w0 + 0.1) / m, (h0 + 0.1) / m),
        mode="bicubic",
        antialias=False,
    )
    return torch.cat([learnt[:, :1], patch.permute(0, 2, 3, 1).reshape(1, -1, learnt.shape[-1]).double()], dim=1)
