"""The generative models the pipeline knows: the one place a model is registered.

A generative model is a module genbench/models/<name>.py and an entry in GENERATIVE below naming
the schema of its two params.yaml sections:

- generative.<name>: what its training reads; changing it retrains the model;
- sampling.<name>: how samples are drawn from the trained model; changing it reruns sampling and
  evaluation, never training.

The module provides (vae.py, gan.py and ddpm.py are examples):

    config(settings, image_shape, n_classes) -> dict      what build() needs, stored with the weights
    build(cfg) -> {name: nn.Module}                      the networks, untrained
    recipe(modules, settings, run) -> Recipe             one training step for the shared loop (train/loop.py; `run`
                                                         is its Execution: precision, ranks, this rank's share)
    conditional(cfg) -> bool                             whether samples follow the labels asked for
    sample(modules, cfg, labels, generator, sampling)    images in [0, 1], one per label

and, where the model has them:

    views(modules, cfg, sampling, context) -> [Grid]     extra figures of how it generates (genbench/views.py)
    likelihood(modules, cfg, images, labels, generator, pixel_max, evaluate)   {kind, note, nats: per image} or None
    sampler_timings(modules, cfg, sampling, labels, seed, timed_steps)   {n_images, device, samplers: {name: {steps, seconds_per_1000}}}

Nothing outside the module branches on its name. After registering a model, `genbench dag`
writes dvc.yaml anew (the Snakefile reads the registry itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from genbench.schema import DeepModelParams, PositiveFloat, Section


@dataclass(frozen=True)
class Registration:
    train: type[DeepModelParams]
    sampling: type[Section]


class VAEParams(DeepModelParams):
    steps: int = Field(3000, ge=1, le=10_000_000)
    lr: PositiveFloat = 1e-3
    latent_dim: int = Field(16, ge=1, le=1024)
    hidden: int = Field(64, ge=4, le=1024)
    beta: float = Field(1.0, gt=0)
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"

    def side_multiple(self) -> int:
        return 4  # the encoder halves each side twice, the decoder doubles it back


class VAESampling(Section):
    temperature: float = Field(1.0, gt=0, le=10, description="scale of the prior's standard deviation; below 1 trades diversity for fidelity")


class GANParams(DeepModelParams):
    steps: int = Field(2000, ge=1, le=10_000_000)
    lr_generator: PositiveFloat = 2e-4
    lr_discriminator: PositiveFloat = 2e-4
    z_dim: int = Field(64, ge=1, le=1024)
    hidden: int = Field(64, ge=4, le=1024)
    conditional: bool = True
    loss: Literal["hinge", "non_saturating"] = "hinge"

    def side_multiple(self) -> int:
        return 4  # the generator doubles a quarter-size grid twice


class GANSampling(Section):
    truncation: float | None = Field(
        None, gt=0, le=10, description="truncation trick: latent components beyond this are drawn again; null draws from the full prior"
    )


class DDPMParams(DeepModelParams):
    steps: int = Field(1200, ge=1, le=10_000_000)
    lr: PositiveFloat = 2e-3
    base_channels: int = Field(32, ge=8, le=512, multiple_of=8, description="a multiple of 8: the U-Net normalises in groups of 8 channels")
    channel_multipliers: list[Annotated[int, Field(ge=1, le=16)]] = Field(default_factory=lambda: [1, 2, 2], min_length=1, max_length=3)
    blocks_per_level: int = Field(1, ge=1, le=8)
    schedule: Literal["linear", "cosine"] = "cosine"
    timesteps: int = Field(1000, ge=2, le=10_000)
    ema_decay: float = Field(0.999, ge=0, lt=1, description="the EMA's decay once warmed up: update n keeps min(this, (1+n)/(10+n))")
    p_uncond: float = Field(0.1, ge=0, le=1, description="label dropout for classifier-free guidance")

    def side_multiple(self) -> int:
        return 2 ** (len(self.channel_multipliers) - 1)  # the U-Net halves each side once per level below its first


class DDPMSampling(Section):
    sampler: Literal["ddim", "ancestral"] = "ddim"
    steps: int = Field(50, ge=1, le=10_000, description="DDIM steps")
    eta: float = Field(0.0, ge=0, le=1, description="DDIM stochasticity: 0 deterministic, 1 like DDPM")
    guidance: float = Field(1.5, ge=0, le=50, description="classifier-free guidance scale; 0 ignores the class")


GENERATIVE: dict[str, Registration] = {
    "vae": Registration(VAEParams, VAESampling),
    "gan": Registration(GANParams, GANSampling),
    "ddpm": Registration(DDPMParams, DDPMSampling),
}
