"""The reference for the DDPM's training throughput: diffusers' UNet2DModel and DDPMScheduler in a plain loop.

Sized like genbench's UNet at the same params (widths, one block per level, attention in the
middle, class embedding with a "no class" token) and fed the same batch; no weights are
downloaded. The plain loop does less than genbench's step (no EMA update, no gradient clipping).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def build(settings, shape: tuple[int, int, int], n_classes: int, device: torch.device):
    from diffusers import DDPMScheduler, UNet2DModel

    channels, height, _ = shape
    widths = tuple(settings.base_channels * m for m in settings.channel_multipliers)
    unet = UNet2DModel(
        sample_size=height,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=widths,
        layers_per_block=settings.blocks_per_level,
        down_block_types=("DownBlock2D",) * len(widths),
        up_block_types=("UpBlock2D",) * len(widths),
        norm_num_groups=8,
        num_class_embeds=n_classes + 1,
        attention_head_dim=widths[-1] // 4,
    ).to(device)
    schedule = "squaredcos_cap_v2" if settings.schedule == "cosine" else "linear"
    scheduler = DDPMScheduler(num_train_timesteps=settings.timesteps, beta_schedule=schedule)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=settings.lr, weight_decay=0.0)

    def step(x: torch.Tensor, y: torch.Tensor, autocast) -> None:
        noise = torch.randn_like(x)
        t = torch.randint(settings.timesteps, (len(x),), device=x.device)
        drop = torch.rand(len(x), device=x.device) < settings.p_uncond
        labels = torch.where(drop, torch.full_like(y, n_classes), y)
        with autocast():
            predicted = unet(scheduler.add_noise(2 * x - 1, noise, t), t, class_labels=labels).sample
            loss = F.mse_loss(predicted.float(), noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return unet, step
