"""The DDPM's training step on a GPU at a params file's size: images per second, model FLOPs
utilisation against the card's measured bf16 peak, and one change at a time against the step as
the pipeline runs it (train.precision as resolved there, TF32 on, cuDNN autotuning).

The variants: fp32 in place of the resolved precision; TF32 off; channels_last; torch.compile of the
UNet. Each rate is the median over repeats of timed blocks of steps after warm-up, in one process,
so the ratios compare like with like. FLOPs are counted by torch.utils.flop_counter on one step
(forward and backward); MFU = FLOPs per step x steps per second / peak. With --profile, the step as
run is profiled too (torch.profiler): the operators that take its time, on the CPU and on the GPU.

Usage: python bench/ddpm_step.py [--params presets/gpu.yaml] [--shape 1 28 28] [--peak-tflops 790]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from genbench import device as runtime
from genbench.models import base
from genbench.train import loop
from genbench.validate import load_params

ROOT = Path(__file__).resolve().parents[1]


def timed_rate(recipe, x, y, repeats: int, steps: int, warmup: int) -> float:
    generator = torch.Generator().manual_seed(0)
    for _ in range(warmup):
        recipe.step(x, y, generator)
    rates = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            recipe.step(x, y, generator)
        torch.cuda.synchronize()
        rates.append(steps * len(x) / (time.perf_counter() - start))
    return statistics.median(rates)


def profile(recipe, x, y, steps: int = 5) -> dict[str, str]:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiled

    generator = torch.Generator().manual_seed(0)
    with profiled(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as run:
        for _ in range(steps):
            recipe.step(x, y, generator)
        torch.cuda.synchronize()
    table = run.key_averages()
    return {
        sort: table.table(sort_by=sort, row_limit=15, max_name_column_width=50)
        for sort in ("self_cpu_time_total", "self_cuda_time_total")
    }


def recipe_for(params, shape, variant: str):
    module, settings = base.module_of("ddpm"), base.settings(params, "ddpm")
    torch.manual_seed(0)
    modules = {k: m.cuda() for k, m in module.build(module.config(settings, shape, 10)).items()}
    if variant == "channels_last":
        modules = {k: m.to(memory_format=torch.channels_last) for k, m in modules.items()}
    if variant == "compile":
        modules["unet"] = torch.compile(modules["unet"])
    precision = "fp32" if variant == "fp32" else params.train.precision
    execution = loop.execution_on(torch.device("cuda"), precision)
    return module.recipe(modules, settings, execution), execution.precision.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="presets/gpu.yaml")
    parser.add_argument("--shape", type=int, nargs=3, default=[1, 28, 28], metavar=("C", "H", "W"))
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="the card's measured dense bf16 rate")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--variants", nargs="*", default=["as_run", "fp32", "tf32_off", "channels_last", "compile"])
    parser.add_argument("--profile", action="store_true", help="add torch.profiler's top operators of the step")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "ddpm-step-cuda.json")
    args = parser.parse_args()
    params = load_params(ROOT / args.params)
    shape = tuple(args.shape)
    batch = params.generative.ddpm.batch_size
    x = torch.rand(batch, *shape, device="cuda")
    y = (torch.arange(batch) % 10).cuda()

    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "shape": shape, "batch": batch}
    for variant in args.variants:
        runtime.configure_torch(torch.device("cuda"), params.train.threads)
        if variant == "tf32_off":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            recipe, precision = recipe_for(params, shape, variant)
            xs = x.contiguous(memory_format=torch.channels_last) if variant == "channels_last" else x
            if variant == "as_run":
                with FlopCounterMode(display=False) as counter:
                    recipe.step(xs, y, torch.Generator().manual_seed(0))
                results["flops_per_step"] = counter.get_total_flops()
            warmup = 10 if variant == "compile" else 5
            rate = timed_rate(recipe, xs, y, args.repeats, args.steps, warmup)
            results[variant] = {"precision": precision, "images_per_second": rate}
            if variant == "as_run" and args.profile:
                results["profile"] = profile(recipe, xs, y)
        except Exception as failure:  # a variant that fails is a finding, not the end of the benchmark
            results[variant] = {"failed": f"{type(failure).__name__}: {failure}"[:500]}
        torch.cuda.empty_cache()
        args.out.write_text(json.dumps(results, indent=2) + "\n")  # what a time limit leaves is kept

    base_rate = results.get("as_run", {}).get("images_per_second")
    if base_rate and "flops_per_step" in results:
        achieved = results["flops_per_step"] * base_rate / batch
        results["achieved_tflops"] = achieved / 1e12
        results["mfu"] = achieved / (args.peak_tflops * 1e12)
        for variant in args.variants:
            rate = results[variant].get("images_per_second")
            if rate:
                results[variant]["ratio_to_as_run"] = rate / base_rate
    print(json.dumps(results, indent=2))
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
