"""The shared training loop against a plain PyTorch loop of the same network, for the featurenet and the VAE.

Both train the default params' network on the digits images (scikit-learn's bundled copy) for the
default number of steps, with the same optimizer, loss, batch draws and random numbers: the plain
loop is the recipe's step written inline, with no checkpoints, logs, progress bar or loss checks.
Both must end with the same weights, bit for bit, so the two time the same computation. Runs
alternate, A then B, --repeats times; the ratio is of the medians.

Usage: python bench/loop_overhead.py [--repeats 3] [--out bench/loop_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genbench import device
from genbench.models import base, deep
from genbench.train import loop
from genbench.validate import load_params

ROOT = Path(__file__).resolve().parents[1]
DEVICE = torch.device("cpu")


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (
        torch.from_numpy(data.images / 16).float().unsqueeze(1).contiguous(memory_format=device.memory_format(DEVICE))
    )
    return images, torch.from_numpy(data.target).long()


def build(model: str, params):
    module, settings = base.module_of(model), base.settings(params, model)
    torch.manual_seed(0)
    modules = {
        k: m.to(memory_format=device.memory_format(DEVICE))
        for k, m in module.build(module.config(settings, (1, 8, 8), 10)).items()
    }
    return modules, settings


def shared_loop(model: str, params, images, labels) -> tuple[float, dict]:
    modules, settings = build(model, params)
    execution = loop.execution_on(DEVICE)
    recipe = base.module_of(model).recipe(modules, settings, execution)
    settings_of_loop = loop.LoopSettings(
        settings.steps, settings.batch_size, params.train.checkpoint_every, params.train.log_every, 0
    )
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        loop.run(model, recipe, images, labels, settings_of_loop, Path(scratch), "bench", execution)
        seconds = time.perf_counter() - start
    return seconds, deep.state_of(modules)


def plain_loop(model: str, params, images, labels) -> tuple[float, dict]:
    modules, settings = build(model, params)
    generator = torch.Generator().manual_seed(0)
    if model == "featurenet":
        net = modules["net"]
        optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=settings.steps)
    else:
        vae = modules["vae"]
        optimizer = torch.optim.Adam(vae.parameters(), lr=settings.lr)
    start = time.perf_counter()
    for _ in range(settings.steps):
        index = torch.randint(len(labels), (settings.batch_size,), generator=generator)
        x, y = images[index], labels[index]
        if model == "featurenet":
            net.train()
            loss = F.cross_entropy(net(x), y)
        else:
            noise = torch.randn(len(x), settings.latent_dim, generator=generator)
            log_px, kl = vae.elbo_terms(x, noise)
            loss = (settings.beta * kl - log_px).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if model == "featurenet":
            schedule.step()
    return time.perf_counter() - start, deep.state_of(modules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "loop_overhead.json")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    device.configure_torch(DEVICE, params.train.threads)
    images, labels = digits()
    results = {"threads": params.train.threads}
    for model in ("featurenet", "vae"):
        shared, plain = [], []
        for _ in range(args.repeats):
            seconds, shared_weights = shared_loop(model, params, images, labels)
            shared.append(seconds)
            seconds, plain_weights = plain_loop(model, params, images, labels)
            plain.append(seconds)
            if any(not torch.equal(shared_weights[k], plain_weights[k]) for k in shared_weights):
                raise SystemExit(
                    f"{model}: the two loops ended with different weights, so they did not run the same computation"
                )
        steps = base.settings(params, model).steps
        results[model] = {
            "steps": steps,
            "shared_loop_s": shared,
            "plain_loop_s": plain,
            "ratio": statistics.median(shared) / statistics.median(plain),
        }
        print(
            f"{model}: shared loop {statistics.median(shared):.2f} s, plain loop {statistics.median(plain):.2f} s "
            f"(medians of {args.repeats}, {steps} steps): {results[model]['ratio']:.3f}x",
            flush=True,
        )
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
