"""The GAN of presets/mnist-cpu.yaml on real MNIST: does it draw the classes it is asked for, and all of them?

Trains the preset's GAN (with --set overrides of generative.gan) for --steps steps on the 50,000 official
training images, then draws the same noise and labels three ways: in eval mode (the batch norms' running
statistics, as the sample stage draws), in train mode (each batch's own statistics, as the discriminator saw
the generator in training), and in eval mode after the running statistics were recomputed over --standing
batches of the final generator (BigGAN's "standing statistics"). A logistic regression fitted on 10,000 real
training images judges each set: how often a sample shows the class it was drawn for, and how evenly its
predicted classes spread (entropy in bits, 3.32 for ten even classes), and how far apart two images of one class
lie (against the real test images' same distance). And the discriminator itself: how often
the class whose projection scores an image highest is its class, on real test images and on the samples.

Usage: python bench/gan_mnist.py --raw ../shared/data/mnist [--steps 1000] [--set lr_discriminator=0.0004 ...]
       [--standing 50] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import yaml
from mnist_training import mnist, official_training_part, train

from genbench import device
from genbench.models import gan
from genbench.validate import load_params

ROOT = Path(__file__).resolve().parents[1]


def judged(judge, images: torch.Tensor, labels: torch.Tensor) -> dict:
    predicted = judge.predict(images.flatten(1).numpy())
    shares = np.bincount(predicted, minlength=10) / len(predicted)
    return {
        "shows_class_asked_for": float(np.mean(predicted == labels.numpy())),
        "class_entropy_bits": float(-sum(p * math.log2(p) for p in shares if p > 0)),
        "within_class_distance": within_class_distance(images, labels),
        "pixel_mean": float(images.mean()),
    }


def within_class_distance(images: torch.Tensor, labels: torch.Tensor, per_class: int = 100) -> float:
    """The mean Euclidean distance between two images drawn for the same class, over the first `per_class` of
    each class: near zero when the generator ignores its noise and draws one image per class."""
    means = []
    for c in labels.unique():
        flat = images[labels == c][:per_class].flatten(1).double()
        distances = torch.cdist(flat, flat)
        means.append(float(distances.sum() / (len(flat) * (len(flat) - 1))))
    return float(np.mean(means))


@torch.no_grad()
def draw(net: gan.Generator, z: torch.Tensor, labels: torch.Tensor, train_mode: bool) -> torch.Tensor:
    net.train(train_mode)
    return torch.cat([net(z[i : i + 128], labels[i : i + 128]) for i in range(0, len(z), 128)])


@torch.no_grad()
def discriminator_classes(net: gan.Discriminator, images: torch.Tensor, labels: torch.Tensor) -> float:
    """How often the class whose projection scores an image highest is `labels`': whether the discriminator
    tells the classes apart at all (a projection discriminator's only reason for the generator to follow them)."""
    scores = torch.stack(
        [
            torch.cat(
                [
                    net(images[i : i + 500], torch.full((len(images[i : i + 500]),), c))
                    for i in range(0, len(images), 500)
                ]
            )
            for c in range(10)
        ],
        dim=1,
    )
    return float((scores.argmax(1) == labels).float().mean())


@torch.no_grad()
def standing_statistics(net: gan.Generator, batches: int, z_dim: int, seed: int) -> None:
    """Reset every batch norm's running statistics and average them, evenly, over `batches` fresh batches."""
    generator = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average
    net.train()
    for _ in range(batches):
        net(torch.randn(128, z_dim, generator=generator), torch.randint(0, 10, (128,), generator=generator))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of the four MNIST .gz files")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--standing", type=int, default=50, help="batches behind the standing statistics")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="generative.gan overrides")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "gan_mnist.json")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    params = load_params(ROOT / "presets" / "mnist-cpu.yaml")
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    settings = gan.Params.model_validate(params.generative.gan.model_dump() | overrides | {"steps": args.steps})
    on = device.prepare("cpu", params.train.threads)
    x_train, y_train = official_training_part(args.raw)
    judge = LogisticRegression(max_iter=300).fit(x_train[:10_000].reshape(10_000, -1), y_train[:10_000])
    modules, _, train_seconds = train(gan, settings, x_train, y_train, on)

    generator = torch.Generator().manual_seed(1)
    z = torch.randn(args.samples, settings.z_dim, generator=generator)
    labels = torch.arange(args.samples) % 10
    net = modules["generator"]
    result = {
        "preset": "presets/mnist-cpu.yaml generative.gan",
        "steps": args.steps,
        "overrides": overrides,
        "train_seconds": train_seconds,
        "threads": params.train.threads,
        "samples": args.samples,
        "judge": "logistic regression on 10,000 real training images",
        "real_test": judged(judge, *map(torch.from_numpy, mnist(args.raw, "t10k"))),
        "eval_mode": judged(judge, draw(net, z, labels, train_mode=False), labels),
        # Train mode updates the running statistics: it comes after eval mode, and the standing ones reset them.
        "train_mode": judged(judge, draw(net, z, labels, train_mode=True), labels),
    }
    x_test, y_test = map(torch.from_numpy, mnist(args.raw, "t10k"))
    result["discriminator_picks_the_class"] = {
        "real_test": discriminator_classes(modules["discriminator"], x_test[:2000].float(), y_test[:2000]),
        "generated": discriminator_classes(modules["discriminator"], draw(net, z, labels, train_mode=False), labels),
    }
    standing_statistics(net, args.standing, settings.z_dim, seed=2)
    result["standing_statistics"] = judged(judge, draw(net, z, labels, train_mode=False), labels)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
