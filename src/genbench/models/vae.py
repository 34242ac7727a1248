"""vae: a convolutional variational autoencoder (Kingma and Welling, 2014).

Encoder q(z|x) = N(mu, diag(sigma^2)), prior p(z) = N(0, I), closed-form KL, and a
decoder likelihood p(x|z) that is Bernoulli (logits) or Gaussian with unit variance. A
Bernoulli VAE trains and is scored on dynamically binarised images, each grey level the
probability of a 1 drawn anew every time (Burda et al., 2016), so its likelihood is the one
VAE papers report on MNIST. `beta` weighs the KL term (beta-VAE). Samples decode
z ~ N(0, T^2 I) with the temperature T of sampling.vae (1: the prior itself).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genbench.models.base import Capability, Execution, Kind, Recipe
from genbench.schema import GenerativeParams, PositiveFloat, Section
from genbench.views import Context, Grid, one_per_class

KIND = Kind.GENERATIVE
CAPABILITIES = frozenset({Capability.VIEWS, Capability.LIKELIHOOD})


class Params(GenerativeParams):
    """generative.vae"""

    steps: int = Field(3000, ge=1, le=10_000_000, description="optimiser steps")
    lr: PositiveFloat = Field(1e-3, description="learning rate (Adam)")
    latent_dim: int = Field(16, ge=1, le=1024, description="size of the latent code")
    hidden: int = Field(64, ge=4, le=1024, description="channels of the encoder's and decoder's convolutions")
    beta: float = Field(1.0, gt=0, description="weight of the KL term; 1 is the ELBO")
    likelihood: Literal["bernoulli", "gaussian"] = Field(
        "bernoulli",
        description="the decoder's pixel model; a Bernoulli decoder trains and is scored on dynamically binarised "
        "images",
    )

    def side_multiple(self) -> int:
        return 4  # the encoder halves each side twice, the decoder doubles it back

    def is_conditional(self) -> bool:
        return False


class Sampling(Section):
    """sampling.vae"""

    temperature: float = Field(
        1.0, gt=0, le=10, description="scale of the prior's standard deviation; below 1 trades diversity for fidelity"
    )


RECONSTRUCTIONS = 10
INTERPOLATIONS = 5  # pairs of test images
# The IWAE bound decodes this many pixels per call (20,000 digits), so its memory does not grow with the
# image: decoding 20,000 MNIST images at once held 5.1 GB.
DECODED_PIXELS_PER_CALL = 20_000 * 8 * 8
INTERPOLATION_STEPS = 10


class VAE(nn.Module):
    def __init__(self, channels: int, height: int, width: int, latent_dim: int, hidden: int, likelihood: str):
        super().__init__()
        self.likelihood = likelihood
        self.grid = (2 * hidden, height // 4, width // 4)  # two stride-2 convolutions
        flat = math.prod(self.grid)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, hidden, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, 2 * hidden, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(flat, latent_dim)
        self.to_logvar = nn.Linear(flat, latent_dim)
        self.from_z = nn.Sequential(nn.Linear(latent_dim, flat), nn.SiLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * hidden, hidden, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.ConvTranspose2d(hidden, channels, 4, stride=2, padding=1),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-12, 12)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output: Bernoulli logits, or the Gaussian mean."""
        return self.decoder(self.from_z(z).view(-1, *self.grid))

    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out.clamp(0, 1)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, in nats."""
        out = self.decode_logits(z)
        if self.likelihood == "bernoulli":
            per_pixel = -F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            per_pixel = -0.5 * ((x - out) ** 2 + math.log(2 * math.pi))
        return per_pixel.flatten(1).sum(1)

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training step's call, the ELBO's terms (DistributedDataParallel wraps forward)."""
        return self.elbo_terms(x, noise)

    def elbo_terms(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(x|z), KL(q(z|x) || p(z))) per image, with z = mu + sigma * noise."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * noise
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return self.log_likelihood(x, z), kl


def config(params: Params, shape: tuple[int, int, int], n_classes: int) -> dict:
    channels, height, width = shape
    return {
        "channels": channels,
        "height": height,
        "width": width,
        "latent_dim": params.latent_dim,
        "hidden": params.hidden,
        "likelihood": params.likelihood,
        "n_classes": n_classes,
    }


def build(cfg: dict) -> dict[str, nn.Module]:
    return {
        "vae": VAE(cfg["channels"], cfg["height"], cfg["width"], cfg["latent_dim"], cfg["hidden"], cfg["likelihood"])
    }


def recipe(modules: dict[str, nn.Module], params: Params, run: Execution) -> Recipe:
    vae = modules["vae"]
    network = run.parallel(vae)
    optimizer = torch.optim.Adam(vae.parameters(), lr=params.lr)

    def step(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if params.likelihood == "bernoulli":
            x = binarised(x, generator)
        noise = torch.randn(len(x), params.latent_dim, generator=generator)
        x, noise = run.share(x, noise)
        with run.autocast():
            log_px, kl = network(x, noise)
            loss = (params.beta * kl - log_px).mean()
        optimizer.zero_grad(set_to_none=True)
        run.backward(loss)
        run.step(optimizer)
        return {"negative_elbo": loss.detach(), "kl": kl.mean().detach()}

    return Recipe(modules={"vae": vae}, optimizers={"adam": optimizer}, step=step)


@torch.no_grad()
def sample(
    modules: dict[str, nn.Module], cfg: dict, labels: torch.Tensor, generator: torch.Generator, sampling: Sampling
) -> torch.Tensor:
    """Images decoded from prior samples, the prior's spread scaled by the temperature (unconditional: `labels` only
    sets the count)."""
    vae = modules["vae"].eval()
    device = next(vae.parameters()).device
    z = sampling.temperature * torch.randn(len(labels), cfg["latent_dim"], generator=generator).to(device)
    return vae.mean_image(z)


def views(modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, context: Context) -> list[Grid]:
    """Reconstructions of test images, and decoded straight lines between them in latent space."""
    x_test, y_test = context.test_split()
    images = torch.from_numpy(one_per_class(x_test, y_test, RECONSTRUCTIONS)).to(context.device)
    reconstructed = reconstruct(modules, images)
    starts, ends = images[:INTERPOLATIONS], images.roll(-1, dims=0)[:INTERPOLATIONS]
    path = interpolate(modules, starts, ends, INTERPOLATION_STEPS)
    return [
        Grid(
            "reconstructions",
            torch.stack([images, reconstructed]).float().cpu().numpy(),
            ["test image", "reconstruction"],
            title=f"vae reconstructions, {context.dataset}",
            alt=f"VAE reconstructions on {context.dataset}",
            caption="VAE: test images (top) and their reconstructions from the posterior mean (bottom).",
        ),
        Grid(
            "interpolation",
            path.float().cpu().numpy(),
            [""] * len(path),
            title=f"vae latent interpolation, {context.dataset}",
            alt=f"VAE latent interpolation on {context.dataset}",
            caption="VAE: images decoded along a straight line in latent space between the posterior means of two "
            "test images.",
            x_label="from one test image (left) to another (right)",
        ),
    ]


def likelihood(
    modules: dict[str, nn.Module],
    cfg: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    pixel_max: int,
    evaluate,
) -> dict:
    """The importance-weighted bound on the test images, with evaluate.iwae_samples samples each."""
    k = evaluate.iwae_samples
    targets = binarised(images, generator) if cfg["likelihood"] == "bernoulli" else images
    nats = -iwae_bound(modules, targets, k, generator, DECODED_PIXELS_PER_CALL // images[0, 0].numel())
    return {"kind": "iwae", "note": f"{likelihood_note(cfg)}; importance-weighted, k={k}", "nats": nats}


@torch.no_grad()
def reconstruct(modules: dict[str, nn.Module], images: torch.Tensor) -> torch.Tensor:
    """The decoded posterior mean of each image."""
    vae = modules["vae"].eval()
    return vae.mean_image(vae.encode(images)[0])


@torch.no_grad()
def interpolate(modules: dict[str, nn.Module], starts: torch.Tensor, ends: torch.Tensor, steps: int) -> torch.Tensor:
    """Images decoded along the straight line between two images' posterior means: (len(starts), steps, C, H, W)."""
    vae = modules["vae"].eval()
    z_start, z_end = vae.encode(starts)[0], vae.encode(ends)[0]
    weights = torch.linspace(0, 1, steps, device=starts.device).view(1, steps, 1)
    z = (1 - weights) * z_start[:, None] + weights * z_end[:, None]
    decoded = vae.mean_image(z.flatten(0, 1))
    return decoded.view(len(starts), steps, *decoded.shape[1:])


def likelihood_note(cfg: dict) -> str:
    if cfg["likelihood"] == "bernoulli":
        return (
            "Bernoulli decoder on dynamically binarised test images (each grey level the probability of a 1, drawn "
            "by the replicate's seed), trained on images binarised the same way: Burda et al.'s protocol"
        )
    return (
        "Gaussian decoder (unit variance) on test pixels in [0, 1]; a density, not comparable with discrete likelihoods"
    )


def binarised(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each pixel 1 with its grey level as the probability, drawn on the CPU generator so that a run repeats."""
    return torch.bernoulli(images.cpu().clamp(0, 1), generator=generator).to(images.device)


@torch.no_grad()
def iwae_bound(
    modules: dict[str, nn.Module], x: torch.Tensor, k: int, generator: torch.Generator, decodes_per_call: int
) -> torch.Tensor:
    """Importance-weighted lower bound on log p(x) per image, in nats (Burda et al., 2016):
    log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x). k=1 is the ELBO; it tightens as k grows."""
    vae = modules["vae"].eval()
    images_per_call = max(1, min(len(x), decodes_per_call))
    samples_per_call = max(1, decodes_per_call // images_per_call)
    bounds = []
    for start in range(0, len(x), images_per_call):  # bounds memory at about decodes_per_call decoded images
        batch = x[start : start + images_per_call]
        mu, logvar = vae.encode(batch)
        std = torch.exp(0.5 * logvar)
        running = torch.full((len(batch),), -math.inf, dtype=torch.float64, device=x.device)
        for done in range(0, k, samples_per_call):
            m = min(samples_per_call, k - done)
            z = mu + std * torch.randn(m, *mu.shape, generator=generator).to(x.device)  # (m, N, latent)
            log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
            log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            log_px = vae.log_likelihood(batch.repeat(m, 1, 1, 1), z.flatten(0, 1)).view(m, len(batch))
            running = torch.logsumexp(torch.cat([running[None], (log_px + log_prior - log_q).double()]), dim=0)
        bounds.append(running - math.log(k))
    return torch.cat(bounds)
