"""Training and sampling throughput of the deep models with the default params, on digits-sized images.

Images per second of training: the median over repeats of timed blocks of steps,
after warm-up steps, with the shared loop's recipe of each model; the DDPM also against
diffusers' UNet2DModel of the same size and batch in a plain loop (bench/reference_ddpm.py),
measured in the same run. Sampling: images per second with each model's default sampler,
and the DDPM's ancestral sampler over every timestep.

Usage: python bench/throughput.py [--device cpu|cuda] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from genbench import device as runtime
from genbench.models import base
from genbench.train import loop
from genbench.validate import load_params

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("featurenet", "vae", "gan", "ddpm")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def training_rate(model: str, params, device: torch.device, shape, repeats: int, steps: int = 20) -> float:
    module, settings = base.module_of(model), base.settings(params, model)
    cfg = module.config(settings, shape, 10)
    torch.manual_seed(0)
    modules = {k: m.to(device) for k, m in module.build(cfg).items()}
    recipe = module.recipe(modules, settings, loop.execution_on(device))
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(settings.batch_size, *shape, device=device)
    y = (torch.arange(settings.batch_size) % 10).to(device)
    for _ in range(5):
        recipe.step(x, y, generator)
    rates = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            recipe.step(x, y, generator)
        synchronize(device)
        rates.append(steps * settings.batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def reference_rate(params, device: torch.device, shape, repeats: int, steps: int = 20) -> float:
    import reference_ddpm

    settings = params.generative.ddpm
    torch.manual_seed(0)
    _, step = reference_ddpm.build(settings, shape, 10, device)
    x = torch.rand(settings.batch_size, *shape, device=device)
    y = (torch.arange(settings.batch_size) % 10).to(device)
    autocast = loop.execution_on(device).autocast  # the same precision as genbench's loop
    for _ in range(5):
        step(x, y, autocast)
    rates = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            step(x, y, autocast)
        synchronize(device)
        rates.append(steps * settings.batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def sampling_seconds_per_1000(model: str, params, device: torch.device, shape, n: int = 200, **override) -> float:
    module, sampling = base.module_of(model), base.sampling(params, model).model_copy(update=override)
    cfg = module.config(base.settings(params, model), shape, 10)
    modules = {k: m.to(device).eval() for k, m in module.build(cfg).items()}
    labels = torch.arange(n) % 10
    synchronize(device)
    start = time.perf_counter()
    module.sample(modules, cfg, labels, torch.Generator().manual_seed(0), sampling)
    synchronize(device)
    return 1000 * (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    device = torch.device(args.device)
    runtime.configure_torch(device, params.train.threads)
    shape = (1, 8, 8)
    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {params.train.threads} threads"
    }
    for model in MODELS:
        results[f"{model}_train_images_per_second"] = training_rate(model, params, device, shape, args.repeats)
    results["ddpm_reference_train_images_per_second"] = reference_rate(params, device, shape, args.repeats)
    results["ddpm_train_ratio_to_reference"] = (
        results["ddpm_train_images_per_second"] / results["ddpm_reference_train_images_per_second"]
    )
    for model in ("vae", "gan", "ddpm"):
        results[f"{model}_sample_seconds_per_1000"] = sampling_seconds_per_1000(model, params, device, shape)
    results["ddpm_ancestral_sample_seconds_per_1000"] = sampling_seconds_per_1000(
        "ddpm", params, device, shape, n=20, sampler="ancestral"
    )
    print(json.dumps(results, indent=2))
    (ROOT / "bench" / f"throughput-{args.device}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
