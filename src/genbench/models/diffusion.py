"""What the pixel-space and the latent diffusion models share: the U-Net's residual and self-attention
blocks, its time embedding, the noise schedules and all the noise math (`Diffusion`), the EMA of the
weights with a warmed-up decay (see ddpm.py's module doc for why), classifier-free guidance on an
interval of noise levels, the DDIM timesteps, and the timing of a sampler.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from genbench.schema import Section

# ---------------------------------------------------------------- U-Net blocks


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    def __init__(self, channels: int, groups: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        attended = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))


# ---------------------------------------------------------------- noise schedules


def make_betas(schedule: str, timesteps: int) -> torch.Tensor:
    if schedule == "linear":  # Ho et al.'s 1e-4..0.02 at 1000 steps, rescaled; below 21 steps the end would pass 1
        return torch.linspace(1e-4 * 1000 / timesteps, 0.02 * 1000 / timesteps, timesteps, dtype=torch.float64).clamp(
            max=0.999
        )
    s = 0.008  # cosine: alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) * pi/2)
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


class Diffusion(nn.Module):
    """All the noise math (Ho et al., 2020): the forward process q(x_t | x_0) and the forward posterior
    q(x_{t-1} | x_t, x_0) that every reverse step follows, written once for the training step, both
    samplers and the likelihood bound. Its constants are buffers on the model's device, in `dtype`:
    float32 to train and sample, float64 for the bound. The formulas take the constants at t (and
    at the previous step) as tensors that broadcast against the images."""

    def __init__(self, schedule: str, timesteps: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        betas = make_betas(schedule, timesteps)
        alpha_bar = torch.cumprod(1 - betas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])  # 1 before the first step
        self.timesteps = timesteps
        for name, value in (("betas", betas), ("alpha_bar", alpha_bar), ("alpha_bar_prev", alpha_bar_prev)):
            self.register_buffer(name, value.to(dtype), persistent=False)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t ~ q(x_t | x_0): sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) noise (eq. 4)."""
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    @staticmethod
    def x0_from_noise(xt: torch.Tensor, eps: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """The x_0 that x_t and the predicted noise imply (eq. 4 solved for x_0), clipped to the data's range."""
        return ((xt - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)

    @staticmethod
    def noise_from_x0(xt: torch.Tensor, x0: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """The noise that x_t and an x_0 imply (eq. 4 solved for the noise)."""
        return (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    @staticmethod
    def posterior_mean(
        x0: torch.Tensor, xt: torch.Tensor, ab: torch.Tensor, ab_prev: torch.Tensor, beta: torch.Tensor
    ) -> torch.Tensor:
        """The mean of q(x_{t-1} | x_t, x_0) (eq. 7)."""
        return (ab_prev.sqrt() * beta / (1 - ab)) * x0 + ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)) * xt

    @staticmethod
    def posterior_variance(ab: torch.Tensor, ab_prev: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """beta-tilde, the variance of q(x_{t-1} | x_t, x_0) (eq. 7); 0 at t = 0."""
        return beta * (1 - ab_prev) / (1 - ab)


# ---------------------------------------------------------------- the EMA


def warmup_ema(decay: float):
    """AveragedModel's multi_avg_fn for an EMA whose decay warms up to `decay` (the rule in the module's doc).
    torch's get_ema_multi_avg_fn has a fixed decay only."""

    def average(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        # As tensors on the weights' device: a Python number would sync a GPU at every step.
        n = num_averaged.to(torch.float32)
        kept = torch.clamp((1 + n) / (10 + n), max=decay)
        torch._foreach_mul_(averaged, kept)
        torch._foreach_add_(averaged, torch._foreach_mul(current, 1 - kept))

    return average


# ---------------------------------------------------------------- classifier-free guidance and DDIM


class GuidedSampling(Section):
    """The guidance settings of the diffusion samplers (sampling.ddpm, sampling.ldm)."""

    guidance: float = Field(
        1.5, ge=0, le=50, description="classifier-free guidance scale; 0 ignores the class or prompt"
    )
    guidance_interval: list[float] = Field(
        default_factory=lambda: [0.0, 1.0],
        min_length=2,
        max_length=2,
        description="guidance applies where t / T lies in [low, high]; elsewhere the class's or prompt's own "
        "prediction (guidance 1)",
    )

    @field_validator("guidance_interval")
    @classmethod
    def _interval_in_order(cls, interval: list[float]) -> list[float]:
        if not 0 <= interval[0] <= interval[1] <= 1:
            raise ValueError("must be [low, high] with 0 <= low <= high <= 1")
        return interval

    def guidance_at(self, t: int, timesteps: int) -> float:
        """The guidance at timestep t (Kynkaanniemi et al., 2024: guidance on a limited interval)."""
        low, high = self.guidance_interval
        return self.guidance if low <= t / timesteps <= high else 1.0


def one_network_call(guidance: float) -> bool:
    """Whether a step at this guidance needs one prediction only (0: the unconditional one, 1: the conditional)."""
    return guidance in (0, 1)


def guided_noise(
    predict: Callable[..., torch.Tensor],
    x: torch.Tensor,
    t: torch.Tensor,
    condition: torch.Tensor,
    null: torch.Tensor,
    guidance: float,
) -> torch.Tensor:
    """eps_uncond + guidance * (eps_cond - eps_uncond) (Ho and Salimans, 2022), in float32: `predict(x, t, c)`
    once on both halves, or once on one where guidance 0 or 1 needs it alone. `null`: the dropped condition."""
    if one_network_call(guidance):
        return predict(x, t, null if guidance == 0 else condition).float()
    both = predict(torch.cat([x, x]), torch.cat([t, t]), torch.cat([condition, null])).float()
    conditional, unconditional = both.chunk(2)
    return unconditional + guidance * (conditional - unconditional)


def calls_per_step(sampling: GuidedSampling, times: list[int], timesteps: int) -> tuple[int, int]:
    """How many of the steps at `times` call the network once, and how many twice (on both halves)."""
    single = sum(one_network_call(sampling.guidance_at(t, timesteps)) for t in times)
    return single, len(times) - single


def ddim_times(timesteps: int, steps: int) -> list[int]:
    """The diffusion timesteps DDIM visits, from the noisiest down to 0."""
    return torch.linspace(timesteps - 1, 0, steps).round().long().tolist()


# ---------------------------------------------------------------- timing


def timed_sampler(
    draw: Callable[[int, GuidedSampling], object],
    sampling: GuidedSampling,
    times: list[int],
    timesteps: int,
    timed_steps: int,
    n_images: int,
    device,
) -> dict:
    """Seconds per 1000 images of a sampler that visits `times`, one network call per step on the same batch, on
    twice the batch where it guides. `draw(k, settings)` runs its first k steps. The steps of each cost are timed
    apart, with that cost forced on every step: each kind over its first `timed_steps` steps at most (after one
    untimed), scaled to how many the sampler takes."""
    single, double = calls_per_step(sampling, times, timesteps)
    kinds = (
        (single, sampling.model_copy(update={"guidance": 1.0, "guidance_interval": [0.0, 1.0]})),
        (double, sampling.model_copy(update={"guidance_interval": [0.0, 1.0]})),
    )
    seconds, timed = 0.0, 0
    for steps, settings in kinds:
        if steps == 0:
            continue
        first = min(steps, timed_steps)
        draw(1, settings)  # warm-up
        start = time.perf_counter()
        draw(first, settings)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += (time.perf_counter() - start) * steps / first
        timed += first
    return {"steps": len(times), "timed_steps": timed, "seconds_per_1000": 1000 * seconds / n_images}
