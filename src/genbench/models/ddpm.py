"""ddpm: a class-conditional denoising diffusion model (Ho et al., 2020) with classifier-free guidance.

Reads top to bottom: the UNet that predicts the noise, the noise schedules, the
training step, then the two samplers (ancestral DDPM over every timestep, and
DDIM over sampling.ddpm.steps). Images are scaled to [-1, 1] inside this module.

- UNet: sinusoidal time embedding, residual blocks with group norm, self-attention
  at the lowest resolution, a class embedding added to the time embedding.
- Classifier-free guidance (Ho and Salimans, 2022): labels are dropped to a "null"
  class with probability p_uncond while training; sampling mixes
  eps = eps_uncond + guidance * (eps_cond - eps_uncond), so guidance 0 ignores the class, at the
  noise levels of guidance_interval only, and takes eps_cond alone at the others (Kynkaanniemi et
  al., 2024), as the ldm does (models/diffusion.py).
- Schedules: linear (Ho et al.) or cosine (Nichol and Dhariwal, 2021).
- EMA of the weights (torch's AveragedModel), used for sampling, with a warm-up: update n
  keeps min(ema_decay, (1 + n) / (10 + n)) of the average, so early weights fade within a few
  hundred steps instead of weighing on the average for thousands (a fixed 0.999 from step 1
  leaves 30% of step 1's weights after 1,200 steps).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.optim.swa_utils import AveragedModel

from genbench.device import images_per_call
from genbench.models.base import Capability, Execution, Kind, Recipe
from genbench.models.diffusion import (
    Diffusion,
    GuidedSampling,
    ResBlock,
    SelfAttention,
    ddim_times,
    guided_noise,
    timed_sampler,
    timestep_embedding,
    warmup_ema,
)
from genbench.schema import GenerativeParams, PositiveFloat
from genbench.views import Context, Grid

KIND = Kind.GENERATIVE
CAPABILITIES = frozenset({Capability.VIEWS, Capability.LIKELIHOOD, Capability.SAMPLER_TIMINGS})
TRAJECTORY_FRAMES = 8


class Params(GenerativeParams):
    """generative.ddpm"""

    steps: int = Field(400, ge=1, le=10_000_000, description="optimiser steps")
    lr: PositiveFloat = Field(2e-3, description="learning rate (AdamW)")
    base_channels: int = Field(
        32, ge=8, le=512, multiple_of=8, description="a multiple of 8: the U-Net normalises in groups of 8 channels"
    )
    channel_multipliers: list[Annotated[int, Field(ge=1, le=16)]] = Field(
        default_factory=lambda: [1, 2, 2],
        min_length=1,
        max_length=3,
        description="the U-Net's channels at each resolution, in multiples of base_channels",
    )
    blocks_per_level: int = Field(1, ge=1, le=8, description="residual blocks at each resolution")
    schedule: Literal["linear", "cosine"] = Field(
        "cosine", description="the noise schedule (Ho et al.; Nichol and Dhariwal)"
    )
    timesteps: int = Field(1000, ge=2, le=10_000, description="diffusion steps T")
    ema_decay: float = Field(
        0.999, ge=0, lt=1, description="the EMA's decay once warmed up: update n keeps min(this, (1+n)/(10+n))"
    )
    p_uncond: float = Field(0.1, ge=0, le=1, description="label dropout for classifier-free guidance")

    def side_multiple(self) -> int:
        return 2 ** (len(self.channel_multipliers) - 1)  # the U-Net halves each side once per level below its first


class Sampling(GuidedSampling):
    """sampling.ddpm"""

    sampler: Literal["ddim", "ancestral"] = Field(
        "ddim", description="ddim: sampling.ddpm.steps steps; ancestral: all T"
    )
    steps: int = Field(50, ge=1, le=10_000, description="DDIM steps")
    eta: float = Field(0.0, ge=0, le=1, description="DDIM stochasticity: 0 deterministic, 1 like DDPM")


# ---------------------------------------------------------------- the UNet


class UNet(nn.Module):
    def __init__(
        self, channels: int, base: int, multipliers: tuple[int, ...], blocks: int, n_classes: int, groups: int = 8
    ):
        super().__init__()
        emb_dim = 4 * base
        self.base = base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_embedding = nn.Embedding(n_classes + 1, emb_dim)  # the last index is the "no class" token
        self.conv_in = nn.Conv2d(channels, base, 3, padding=1)

        widths = [base * m for m in multipliers]
        self.down, skip_widths, c = nn.ModuleList(), [base], base
        for level, width in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(c, width, emb_dim, groups))
                c = width
                skip_widths.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skip_widths.append(c)
        self.mid = nn.ModuleList(
            [ResBlock(c, c, emb_dim, groups), SelfAttention(c, groups), ResBlock(c, c, emb_dim, groups)]
        )
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(c + skip_widths.pop(), width, emb_dim, groups))
                c = width
            if level > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.conv_out = nn.Sequential(nn.GroupNorm(groups, c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.base)) + self.class_embedding(labels)
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.conv_out(h)


# ---------------------------------------------------------------- training


def config(params: Params, shape: tuple[int, int, int], n_classes: int) -> dict:
    return {
        "channels": shape[0],
        "height": shape[1],
        "width": shape[2],
        "n_classes": n_classes,
        "base_channels": params.base_channels,
        "channel_multipliers": list(params.channel_multipliers),
        "blocks_per_level": params.blocks_per_level,
        "schedule": params.schedule,
        "timesteps": params.timesteps,
    }


def build(cfg: dict) -> dict[str, nn.Module]:
    unet = UNet(
        cfg["channels"],
        cfg["base_channels"],
        tuple(cfg["channel_multipliers"]),
        cfg["blocks_per_level"],
        cfg["n_classes"],
    )
    return {"unet": unet, "ema": AveragedModel(unet, use_buffers=True)}


def recipe(modules: dict[str, nn.Module], params: Params, run: Execution) -> Recipe:
    unet, ema = modules["unet"], modules["ema"]
    network = run.parallel(unet)
    ema.multi_avg_fn = warmup_ema(params.ema_decay)
    device = next(unet.parameters()).device
    diffusion = Diffusion(params.schedule, params.timesteps).to(device)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=params.lr, weight_decay=0.0)
    null_class = unet.class_embedding.num_embeddings - 1

    def step(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        unet.train()
        n = len(x)
        t = torch.randint(params.timesteps, (n,), generator=generator)
        noise = torch.randn(x.shape, generator=generator)
        drop = torch.rand(n, generator=generator) < params.p_uncond
        x, y, t, noise, drop = run.share(x, y, t, noise, drop)
        labels = torch.where(drop, torch.full_like(y, null_class), y)
        with run.autocast():
            predicted = network(diffusion.q_sample(2 * x - 1, t, noise), t, labels)
            loss = F.mse_loss(predicted.float(), noise)
        optimizer.zero_grad(set_to_none=True)
        run.backward(loss)
        run.unscale(optimizer)
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        run.step(optimizer)
        ema.update_parameters(unet)
        return {"mse": loss.detach()}

    # The EMA is a module of the model: saved in the weights and checkpointed with them.
    return Recipe(modules={"unet": unet, "ema": ema}, optimizers={"adamw": optimizer}, step=step)


# ---------------------------------------------------------------- sampling


def class_guided_noise(unet: nn.Module, x: torch.Tensor, t: int, labels: torch.Tensor, guidance: float) -> torch.Tensor:
    null = torch.full_like(labels, unet.class_embedding.num_embeddings - 1)
    return guided_noise(unet, x, torch.full((len(x),), t, device=x.device), labels, null, guidance)


@torch.no_grad()
def ddim_sample(
    unet,
    diffusion: Diffusion,
    shape,
    labels,
    generator,
    sampling: Sampling,
    on_step=None,
    first_steps: int | None = None,
) -> torch.Tensor:
    """DDIM (Song et al., 2021) over sampling.steps evenly spaced timesteps; eta=0 is deterministic given the start
    noise.

    `on_step(k, x)`, if given, sees x after k steps in [-1, 1] scale (k=0: the start noise).
    `first_steps` stops after that many steps, for timing: the result is then no image.
    """
    device = labels.device
    x = torch.randn(shape, generator=generator).to(device)
    if on_step:
        on_step(0, x)
    times = ddim_times(diffusion.timesteps, sampling.steps)
    for i, t in enumerate(times[:first_steps]):
        t_prev = times[i + 1] if i + 1 < len(times) else -1
        ab = diffusion.alpha_bar[t]
        ab_prev = diffusion.alpha_bar[t_prev] if t_prev >= 0 else diffusion.alpha_bar_prev[0]
        eps = class_guided_noise(unet, x, t, labels, sampling.guidance_at(t, diffusion.timesteps))
        x0 = diffusion.x0_from_noise(x, eps, ab)
        eps = diffusion.noise_from_x0(x, x0, ab)  # consistent with the clipped x0
        sigma = sampling.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        if sampling.eta > 0 and t_prev >= 0:
            x = x + sigma * torch.randn(shape, generator=generator).to(device)
        if on_step:
            on_step(i + 1, x)
    return (x + 1) / 2


def ancestral_times(timesteps: int) -> list[int]:
    """Every diffusion timestep, from the noisiest down to 0: the ancestral sampler's."""
    return list(range(timesteps - 1, -1, -1))


@torch.no_grad()
def ancestral_sample(
    unet, diffusion: Diffusion, shape, labels, generator, sampling: Sampling, first_steps: int | None = None
) -> torch.Tensor:
    """Ancestral DDPM sampling through every timestep, with the posterior variance beta-tilde.
    `first_steps` stops after that many steps, for timing: the result is then no image."""
    device = labels.device
    x = torch.randn(shape, generator=generator).to(device)
    for t in ancestral_times(diffusion.timesteps)[:first_steps]:
        beta, ab, ab_prev = diffusion.betas[t], diffusion.alpha_bar[t], diffusion.alpha_bar_prev[t]
        eps = class_guided_noise(unet, x, t, labels, sampling.guidance_at(t, diffusion.timesteps))
        mean = diffusion.posterior_mean(diffusion.x0_from_noise(x, eps, ab), x, ab, ab_prev, beta)
        if t > 0:
            variance = diffusion.posterior_variance(ab, ab_prev, beta)
            x = mean + variance.sqrt() * torch.randn(shape, generator=generator).to(device)
        else:
            x = mean
    return (x + 1) / 2


def sample(
    modules: dict[str, nn.Module],
    cfg: dict,
    labels: torch.Tensor,
    generator: torch.Generator,
    sampling: Sampling,
    first_steps: int | None = None,
) -> torch.Tensor:
    """Images in [0, 1] for `labels`, from the EMA weights, with the sampler `sampling` names
    (`first_steps`: only that many of its steps, for timing)."""
    unet = modules["ema"].module.eval()
    device = next(unet.parameters()).device
    diffusion = Diffusion(cfg["schedule"], cfg["timesteps"]).to(device)
    shape = (len(labels), cfg["channels"], cfg["height"], cfg["width"])
    labels = labels.to(device)
    if sampling.sampler == "ancestral":
        return ancestral_sample(unet, diffusion, shape, labels, generator, sampling, first_steps=first_steps)
    return ddim_sample(unet, diffusion, shape, labels, generator, sampling, first_steps=first_steps)


def trajectory(
    modules: dict[str, nn.Module],
    cfg: dict,
    labels: torch.Tensor,
    generator: torch.Generator,
    sampling: Sampling,
    frames: int,
) -> tuple[torch.Tensor, list[int]]:
    """DDIM's x at `frames` evenly spaced steps from the start noise to the image: (len(labels), frames, C, H, W) in
    [0, 1]."""
    unet = modules["ema"].module.eval()
    device = next(unet.parameters()).device
    diffusion = Diffusion(cfg["schedule"], cfg["timesteps"]).to(device)
    shape = (len(labels), cfg["channels"], cfg["height"], cfg["width"])
    kept_steps = sorted({round(k) for k in torch.linspace(0, sampling.steps, frames).tolist()})
    kept = []

    def keep(k: int, x: torch.Tensor) -> None:
        if k in kept_steps:
            kept.append(((x.float() + 1) / 2).clamp(0, 1).cpu())

    ddim_sample(unet, diffusion, shape, labels.to(device), generator, sampling, keep)
    return torch.stack(kept, dim=1), kept_steps


def views(modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, context: Context) -> list[Grid]:
    """The denoising trajectory of one sample per class."""
    frames, steps = trajectory(
        modules, cfg, torch.arange(len(context.classes)), context.generator, sampling, TRAJECTORY_FRAMES
    )
    return [
        Grid(
            "trajectory",
            frames.numpy(),
            list(context.classes),
            column_labels=[str(k) for k in steps],
            x_label="DDIM steps done (0: the start noise)",
            title=f"ddpm denoising, {context.dataset}",
            alt=f"DDPM denoising trajectory on {context.dataset}",
            caption=f"DDPM: the image during DDIM sampling ({steps[-1]} steps), from pure noise (left) to the sample "
            f"(right), one row per class.",
        )
    ]


def sampler_timings(
    modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, labels: torch.Tensor, seed: int, timed_steps: int
) -> dict:
    """Seconds per 1000 images of DDIM at sampling.steps and of ancestral sampling over every timestep, on the same
    `labels` (diffusion.timed_sampler)."""
    device = next(modules["ema"].parameters()).device
    samplers = {}
    for sampler, times in (
        ("ddim", ddim_times(cfg["timesteps"], sampling.steps)),
        ("ancestral", ancestral_times(cfg["timesteps"])),
    ):

        def draw(first_steps: int, settings: Sampling, sampler: str = sampler) -> torch.Tensor:
            settings = settings.model_copy(update={"sampler": sampler})
            return sample(modules, cfg, labels, torch.Generator().manual_seed(seed), settings, first_steps=first_steps)

        samplers[sampler] = timed_sampler(draw, sampling, times, cfg["timesteps"], timed_steps, len(labels), device)
    return {"n_images": len(labels), "device": str(device), "samplers": samplers}


# ---------------------------------------------------------------- likelihood


def bound_note(pixel_max: int) -> str:
    return (
        f"conditional network alone (guidance 1), data on its {pixel_max + 1} pixel levels scaled to [-1, 1], "
        "a discretised Gaussian decoder at t=0"
    )


def likelihood(
    modules: dict[str, nn.Module],
    cfg: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    pixel_max: int,
    evaluate,
) -> dict | None:
    """The variational bound on the test images; None where evaluate.ddpm_bound turns it off."""
    if not evaluate.ddpm_bound:
        return None
    strata = evaluate.bound_timesteps
    nats = variational_bound(modules, cfg, images, labels, generator, pixel_max, strata)
    every = strata is None or strata >= cfg["timesteps"] - 1
    timesteps = "every timestep" if every else f"{strata} stratified timesteps per image, an unbiased estimate"
    return {"kind": "vlb", "note": f"{bound_note(pixel_max)}; {timesteps}", "nats": nats}


@torch.no_grad()
def variational_bound(
    modules: dict[str, nn.Module],
    cfg: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    pixel_max: int,
    strata: int | None = None,
) -> torch.Tensor:
    """The negative variational bound -log p(x|y) <= L per image, in nats (Ho et al., 2020, eq. 5):
    the prior KL at T, the KL of every reverse step against the forward posterior, and the
    decoder's discretised likelihood at t=0 over the data's `pixel_max + 1` levels.

    With `strata`, the reverse-step KLs of t = 1..T-1 are estimated per image from one timestep drawn
    in each of `strata` ranges (stratum_edges), weighted by the range's size: unbiased, and independent
    across images, so the t-interval over images covers the estimate's noise as well. None: every timestep.

    The reverse steps are those of `ancestral_sample` (EMA weights, clipped x0, posterior variance
    beta-tilde) with the conditional network alone; at t=0, where beta-tilde is 0, the decoder's
    variance is that of t=1, as in Ho et al."""
    batch = images_per_call(images.device, *images.shape[-2:])
    return torch.cat(
        [
            _variational_bound(modules, cfg, images[i : i + batch], labels[i : i + batch], generator, pixel_max, strata)
            for i in range(0, len(images), batch)
        ]
    )


def stratum_edges(timesteps: int, strata: int | None) -> list[int]:
    """Edges of `strata` ranges that cover t = 1..T-1, geometrically spaced: the reverse-step KLs are
    largest and vary fastest at small t, so those ranges are single timesteps and later ones wider."""
    strata = min(strata or timesteps, timesteps - 1)
    edges = [1]
    for k in range(1, strata + 1):
        remaining = strata - k  # leave one timestep at least for each range still to come
        edges.append(min(max(edges[-1] + 1, round(timesteps ** (k / strata))), timesteps - remaining))
    return edges


def _variational_bound(modules, cfg, images, labels, generator, pixel_max: int, strata: int | None) -> torch.Tensor:
    unet = modules["ema"].module.eval()
    device, n, timesteps = images.device, len(images), cfg["timesteps"]
    diffusion = Diffusion(cfg["schedule"], timesteps, torch.float64).to(device)
    posterior_var = diffusion.posterior_variance(diffusion.alpha_bar, diffusion.alpha_bar_prev, diffusion.betas)
    log_var = torch.log(torch.cat([posterior_var[1:2], posterior_var[1:]]))
    x0 = (2 * images - 1).double()

    def per_image(values: torch.Tensor) -> torch.Tensor:
        return values.flatten(1).sum(1)

    def reverse_step(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x_t drawn from q(x_t | x_0), and the forward posterior's mean and the model's at t (one per image)."""
        ab, ab_prev, beta = (
            v[t].view(-1, 1, 1, 1) for v in (diffusion.alpha_bar, diffusion.alpha_bar_prev, diffusion.betas)
        )
        xt = diffusion.q_sample(x0, t, torch.randn(images.shape, generator=generator, dtype=torch.float64).to(device))
        x0_predicted = diffusion.x0_from_noise(xt, unet(xt.float(), t, labels).double(), ab)
        true_mean, mean = (diffusion.posterior_mean(start, xt, ab, ab_prev, beta) for start in (x0, x0_predicted))
        return true_mean, mean, log_var[t].view(-1, 1, 1, 1)

    # Prior term: KL(q(x_T | x_0) || N(0, I)).
    ab_T = diffusion.alpha_bar[-1]
    total = per_image(0.5 * (ab_T * x0**2 + (1 - ab_T) - 1 - torch.log(1 - ab_T)))
    edges = stratum_edges(timesteps, strata)
    for low, high in zip(edges[:-1], edges[1:]):
        t = low + (torch.rand(n, generator=generator, dtype=torch.float64) * (high - low)).long().to(device)
        true_mean, mean, step_log_var = reverse_step(
            t
        )  # two Gaussians with one variance: KL = squared mean gap / (2 variance)
        total += (high - low) * per_image((true_mean - mean) ** 2 / (2 * step_log_var.exp()))
    _, mean, step_log_var = reverse_step(torch.zeros(n, dtype=torch.long, device=device))
    return total - per_image(discretised_gaussian_log_likelihood(x0, mean, 0.5 * step_log_var, pixel_max))


def discretised_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, pixel_max: int
) -> torch.Tensor:
    """log P(x) per pixel for x on the `pixel_max + 1` evenly spaced levels of [-1, 1]: the Gaussian's
    mass over x's bin, the outermost bins open to infinity (Ho et al., 2020, eq. 13, for any depth)."""
    from torch.special import ndtr

    half_bin = 1 / pixel_max
    inv_scale = torch.exp(-log_scale)
    upper = ndtr((x - mean + half_bin) * inv_scale)
    lower = ndtr((x - mean - half_bin) * inv_scale)
    mass = torch.where(x < -1 + half_bin, upper, torch.where(x > 1 - half_bin, 1 - lower, upper - lower))
    return torch.log(mass.clamp(min=1e-12))
