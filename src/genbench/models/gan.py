"""gan: a DCGAN-style generator and discriminator (Radford et al., 2016), optionally class-conditional.

Stabilised with spectral normalisation in the discriminator (Miyato et al., 2018) and the hinge
loss. The discriminator scores its whole last feature grid, each cell with its own weights, as
DCGAN's does. Conditioning enters the generator as a one-hot code beside the noise, and the
discriminator as a projection (Miyato and Koyama, 2018).
Sampling may truncate the noise (sampling.gan.truncation), trading diversity for fidelity.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.models.base import Capability, Execution, Kind, Recipe
from genbench.schema import GenerativeParams, PositiveFloat, Section

KIND = Kind.GENERATIVE
CAPABILITIES: frozenset[Capability] = frozenset()


class Params(GenerativeParams):
    """generative.gan"""

    steps: int = Field(2000, ge=1, le=10_000_000, description="optimiser steps (one of each network)")
    batch_size: int = Field(
        128, ge=2, le=65_536, description="images per step; two at least, for the generator's batch norms"
    )
    lr_generator: PositiveFloat = Field(2e-4, description="the generator's learning rate (Adam)")
    lr_discriminator: PositiveFloat = Field(2e-4, description="the discriminator's learning rate (Adam)")
    z_dim: int = Field(64, ge=1, le=1024, description="size of the noise the generator starts from")
    hidden: int = Field(64, ge=4, le=1024, description="channels of both networks' convolutions")
    conditional: bool = Field(True, description="both networks see the class (projection discriminator)")
    loss: Literal["hinge", "non_saturating"] = Field("hinge", description="the adversarial loss")
    beta1: float = Field(
        0.0, ge=0, lt=1, description="Adam's first-moment decay, both networks (SNGAN's 0; DCGAN's 0.5)"
    )
    beta2: float = Field(
        0.9, ge=0, lt=1, description="Adam's second-moment decay, both networks (SNGAN's 0.9; DCGAN's 0.999)"
    )

    def side_multiple(self) -> int:
        return 4  # the generator doubles a quarter-size grid twice

    def is_conditional(self) -> bool:
        return self.conditional


class Sampling(Section):
    """sampling.gan"""

    truncation: float | None = Field(
        None,
        gt=0,
        le=10,
        description="truncation trick: latent components beyond this are drawn again; null draws from the full prior",
    )


class Generator(nn.Module):
    def __init__(
        self, channels: int, height: int, width: int, z_dim: int, hidden: int, n_classes: int, conditional: bool
    ):
        super().__init__()
        self.grid = (2 * hidden, height // 4, width // 4)
        self.n_classes = n_classes if conditional else 0
        cells = 2 * hidden * (height // 4) * (width // 4)
        # DCGAN's generator, the class one-hot beside the noise, a batch norm per projected feature. The earlier one
        # (the class added to the noise, a batch norm per channel, a 3x3 convolution after the upsampling) collapsed
        # within each class on MNIST: two of its images of one class lay 3.87 apart, 8.82 with this one, two real
        # ones 8.77 (bench/gan_mnist.py, 1000 steps).
        self.project = nn.Sequential(nn.Linear(z_dim + self.n_classes, cells), nn.BatchNorm1d(cells), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * hidden, hidden, 4, stride=2, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, channels, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], dim=1)
        return torch.sigmoid(self.body(self.project(z).view(-1, *self.grid)))


class Discriminator(nn.Module):
    def __init__(self, channels: int, height: int, width: int, hidden: int, n_classes: int, conditional: bool):
        super().__init__()
        # DCGAN's layout: two strided convolutions and nothing at full resolution. A 3x3 convolution before them
        # cost 2.5 times the time per step; at equal time it was behind (MNIST, 4,000 steps in 687 s: CAS 90.72%,
        # where it reached about 84% in those minutes; docs/results.md).
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(channels, hidden, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(hidden, 2 * hidden, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
        )
        features = 2 * hidden * (height // 4) * (width // 4)
        self.score = spectral_norm(nn.Linear(features, 1))
        self.embed = spectral_norm(nn.Embedding(n_classes, features)) if conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # Every cell of the grid keeps its place: each sees 10x10 pixels of a 28x28 image, and scores summed over
        # the grid (SNGAN's pooling) judged no digit whole. Against the same earlier generator, 51% of its samples
        # showed their class on MNIST with the grid summed, 96% with it read whole (bench/gan_mnist.py, 1000 steps).
        h = self.body(x).flatten(1)
        out = self.score(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)  # projection term
        return out


def config(params: Params, shape: tuple[int, int, int], n_classes: int) -> dict:
    channels, height, width = shape
    return {
        "channels": channels,
        "height": height,
        "width": width,
        "z_dim": params.z_dim,
        "hidden": params.hidden,
        "n_classes": n_classes,
        "conditional": params.conditional,
    }


def build(cfg: dict) -> dict[str, nn.Module]:
    return {
        "generator": Generator(
            cfg["channels"],
            cfg["height"],
            cfg["width"],
            cfg["z_dim"],
            cfg["hidden"],
            cfg["n_classes"],
            cfg["conditional"],
        ),
        "discriminator": Discriminator(
            cfg["channels"], cfg["height"], cfg["width"], cfg["hidden"], cfg["n_classes"], cfg["conditional"]
        ),
    }


def recipe(modules: dict[str, nn.Module], params: Params, run: Execution) -> Recipe:
    generator_net, discriminator = modules["generator"], modules["discriminator"]
    generate, discriminate = run.parallel(generator_net), run.parallel(discriminator)
    betas = (params.beta1, params.beta2)
    opt_g = torch.optim.Adam(generator_net.parameters(), lr=params.lr_generator, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=params.lr_discriminator, betas=betas)

    def step(x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, torch.Tensor]:
        generator_net.train()
        z = torch.randn(len(x), params.z_dim, generator=rng)
        x, y, z = run.share(x, y, z)
        with run.autocast():
            fake = generate(z, y)
            real_score, fake_score = discriminate(x, y), discriminate(fake.detach(), y)
            loss_d = _discriminator_loss(params.loss, real_score, fake_score)
        opt_d.zero_grad(set_to_none=True)
        run.backward(loss_d)
        run.step(opt_d)
        with run.autocast():
            loss_g = _generator_loss(params.loss, discriminate(fake, y))
        opt_g.zero_grad(set_to_none=True)
        run.backward(loss_g)
        run.step(opt_g)
        return {"discriminator": loss_d.detach(), "generator": loss_g.detach()}

    return Recipe(modules=modules, optimizers={"generator": opt_g, "discriminator": opt_d}, step=step)


def _discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()  # non-saturating


def _generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean() if kind == "hinge" else F.softplus(-fake).mean()


@torch.no_grad()
def sample(
    modules: dict[str, nn.Module], cfg: dict, labels: torch.Tensor, generator: torch.Generator, sampling: Sampling
) -> torch.Tensor:
    net = modules["generator"].eval()
    device = next(net.parameters()).device
    if sampling.truncation is None:
        z = torch.randn(len(labels), cfg["z_dim"], generator=generator)
    else:
        z = _truncated_normal((len(labels), cfg["z_dim"]), sampling.truncation, generator)
    return net(z.to(device), labels.to(device))


def _truncated_normal(shape: tuple[int, ...], threshold: float, generator: torch.Generator) -> torch.Tensor:
    """The truncation trick (Brock et al., 2019): a standard normal limited to [-threshold, threshold],
    drawn in one pass through the inverse of its distribution function."""
    low = torch.special.ndtr(torch.tensor(-threshold, dtype=torch.float64))
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return torch.special.ndtri(low + u * (1 - 2 * low)).float()
