"""toy: one Gaussian per class in pixel space, a class-conditional generative model in one module.

Each class has a learned mean image; every pixel has a learned spread shared by the classes.
Trained by maximum likelihood in the shared loop; samples are a class mean plus scaled noise.
It exists so that the tests can register a model the pipeline has never seen.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from genbench.models.base import Capability, Kind, Recipe
from genbench.schema import GenerativeParams, PositiveFloat, Section
from genbench.views import Context, Grid

KIND = Kind.GENERATIVE
CAPABILITIES = frozenset({Capability.VIEWS, Capability.LIKELIHOOD})


class Params(GenerativeParams):
    """generative.toy"""

    steps: int = Field(60, ge=1)
    lr: PositiveFloat = 0.05


class Sampling(Section):
    """sampling.toy"""

    temperature: float = Field(1.0, gt=0)


class ClassGaussians(nn.Module):
    def __init__(self, n_classes: int, shape: tuple[int, int, int]):
        super().__init__()
        self.mean = nn.Parameter(torch.full((n_classes, *shape), 0.5))
        self.log_std = nn.Parameter(torch.full(shape, -1.0))

    def log_density(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(x | y) per image, in nats."""
        z = (x - self.mean[y]) / self.log_std.exp()
        return (-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)


def config(settings, shape: tuple[int, int, int], n_classes: int) -> dict:
    return {"shape": list(shape), "n_classes": n_classes}


def build(cfg: dict) -> dict[str, nn.Module]:
    return {"gaussians": ClassGaussians(cfg["n_classes"], tuple(cfg["shape"]))}


def recipe(modules: dict[str, nn.Module], settings, run) -> Recipe:
    model = modules["gaussians"]
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)

    def step(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        x, y = run.share(x, y)
        with run.autocast():
            loss = -model.log_density(x, y).mean()
        optimizer.zero_grad(set_to_none=True)
        run.backward(loss)
        run.step(optimizer)
        return {"nll": loss.detach()}

    return Recipe(modules=modules, optimizers={"adam": optimizer}, step=step)


@torch.no_grad()
def sample(
    modules: dict[str, nn.Module], cfg: dict, labels: torch.Tensor, generator: torch.Generator, sampling
) -> torch.Tensor:
    model = modules["gaussians"]
    noise = torch.randn(len(labels), *cfg["shape"], generator=generator)
    return (model.mean[labels] + sampling.temperature * model.log_std.exp() * noise).clamp(0, 1)


def views(modules: dict[str, nn.Module], cfg: dict, sampling, context: Context) -> list[Grid]:
    means = modules["gaussians"].mean.detach().clamp(0, 1).cpu().numpy()
    return [
        Grid(
            "means",
            means[:, None],
            list(context.classes),
            title=f"toy class means, {context.dataset}",
            alt=f"toy class means on {context.dataset}",
            caption="toy: the mean image of each class.",
        )
    ]


@torch.no_grad()
def likelihood(
    modules: dict[str, nn.Module],
    cfg: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    pixel_max: int,
    evaluate,
) -> dict:
    return {
        "kind": "exact",
        "note": "Gaussian density of the pixels in [0, 1] given the class",
        "nats": -modules["gaussians"].log_density(images, labels),
    }
