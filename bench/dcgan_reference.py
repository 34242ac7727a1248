"""A textbook conditional DCGAN on real MNIST, the reference bench/gan_mnist.py's figures are read against.

Radford et al.'s generator and discriminator with the class as a one-hot code beside the noise and as ten
constant maps beside the image (or, with --discriminator projection, as a projection of the discriminator's
features, as genbench's GAN takes it); the non-saturating loss, Adam (2e-4, betas 0.5 and 0.999), batch 128,
pixels in [-1, 1] through tanh. Trained on the same 50,000 official training images and judged by the same
logistic regression and measures as bench/gan_mnist.py. Written here because no library ships a reference
conditional DCGAN for MNIST.

Usage: python bench/dcgan_reference.py --raw ../shared/data/mnist [--steps 1000] [--discriminator label-maps]
       [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from gan_mnist import draw, judged
from mnist_training import official_training_part
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
Z_DIM, CLASSES, BATCH = 100, 10, 128


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(Z_DIM + CLASSES, 128 * 49), nn.BatchNorm1d(128 * 49), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        code = torch.cat([z, F.one_hot(labels, CLASSES).float()], 1)
        return self.body(self.project(code).view(-1, 128, 7, 7))


class Discriminator(nn.Module):
    def __init__(self, projection: bool):
        super().__init__()
        self.embed = nn.Embedding(CLASSES, 128 * 49) if projection else None
        if self.embed is not None:
            nn.init.zeros_(self.embed.weight)
        self.body = nn.Sequential(
            nn.Conv2d(1 if projection else 1 + CLASSES, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
        )
        self.score = nn.Linear(128 * 49, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.embed is None:
            maps = F.one_hot(labels, CLASSES).float()[:, :, None, None].expand(-1, -1, *images.shape[2:])
            return self.score(self.body(torch.cat([images, maps], 1)).flatten(1)).squeeze(1)
        h = self.body(images).flatten(1)
        return self.score(h).squeeze(1) + (self.embed(labels) * h).sum(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of the four MNIST .gz files")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--discriminator", choices=["label-maps", "projection"], default="label-maps")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "dcgan_reference.json")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    torch.set_num_threads(2)
    torch.manual_seed(0)
    x, y = official_training_part(args.raw)
    images, labels = torch.from_numpy(x) * 2 - 1, torch.from_numpy(y)
    generator_net, discriminator = Generator(), Discriminator(args.discriminator == "projection")
    opt_g = torch.optim.Adam(generator_net.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(args.steps):
        index = torch.randint(len(images), (BATCH,), generator=rng)
        real, classes = images[index], labels[index]
        fake = generator_net(torch.randn(BATCH, Z_DIM, generator=rng), classes)
        loss_d = (
            F.softplus(-discriminator(real, classes)).mean() + F.softplus(discriminator(fake.detach(), classes)).mean()
        )
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-discriminator(fake, classes)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    train_seconds = time.perf_counter() - started

    judge = LogisticRegression(max_iter=300).fit(x[:10_000].reshape(10_000, -1), y[:10_000])
    noise = torch.Generator().manual_seed(1)
    z = torch.randn(args.samples, Z_DIM, generator=noise)
    asked = torch.arange(args.samples) % CLASSES
    drawn = draw(generator_net, z, asked, train_mode=False)
    result = {
        "discriminator": args.discriminator,
        "steps": args.steps,
        "train_seconds": train_seconds,
        "samples": args.samples,
        "eval_mode": judged(judge, (drawn + 1) / 2, asked),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
