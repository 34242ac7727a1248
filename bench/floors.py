"""Each deep stage against its floor: the network's FLOPs at the matmul rate this machine reaches.

For every deep model with the default params on digits-sized images (1x8x8):
  - the FLOPs of one training step (forward and backward, counted by torch.utils.flop_counter),
    per image, and of one sampling network call for the DDPM;
  - the measured step time (median over repeats, after warm-up) and the floor for it, in the layout
    the loop trains in (channels_last on the CPU) and in the default one;
  - where the time of a step goes: torch.profiler's top operators by self CPU time.
The matmul rate is the median of large fp32 matrix products at train.threads threads. With
--stages (bench/end_to_end.json of a run), each stage's measured seconds (median over seeds and runners) is set
against its floor: steps x batch x FLOPs per image / rate, the sampling and bound calls likewise.

Usage: python bench/floors.py [--stages bench/end_to_end.json (the default)] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from genbench import device
from genbench.models import base
from genbench.models.ddpm import ancestral_times, stratum_edges
from genbench.models.diffusion import calls_per_step, ddim_times
from genbench.train import loop
from genbench.validate import load_params

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("featurenet", "vae", "gan", "ddpm")
SHAPE = (1, 8, 8)


def matmul_rate(repeats: int, size: int = 1024) -> float:
    """FLOP/s of fp32 square matrix products: the rate the floors assume."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        rates.append(10 * 2 * size**3 / (time.perf_counter() - start))
    return statistics.median(rates)


def training_step(model: str, params, layout: torch.memory_format):
    module, settings = base.module_of(model), base.settings(params, model)
    cfg = module.config(settings, SHAPE, 10)
    torch.manual_seed(0)
    modules = {name: m.to(memory_format=layout) for name, m in module.build(cfg).items()}
    recipe = module.recipe(modules, settings, loop.execution_on(torch.device("cpu")))
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(settings.batch_size, *SHAPE).contiguous(memory_format=layout)
    y = torch.arange(settings.batch_size) % 10
    return (lambda: recipe.step(x, y, generator)), settings.batch_size, modules


def flops_of(call) -> int:
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def median_seconds(call, repeats: int, calls: int = 20) -> float:
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def top_operators(call, n: int = 6) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            call()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "share": e.self_cpu_time_total / total} for e in events[:n]]


def stage_seconds(path: Path | None) -> dict[str, float]:
    """Median over seeds and runners of each stage's seconds, keyed like 'train ddpm'."""
    if path is None or not path.exists():
        return {}
    by_stage: dict[str, list[float]] = {}
    for runner in ("dvc", "snakemake"):
        for stage, seconds in json.loads(path.read_text()).get(runner, {}).get("stages_s", {}).items():
            words = stage.split()
            if "--model" in words:
                by_stage.setdefault(f"{words[0]} {words[words.index('--model') + 1]}", []).append(seconds)
    return {k: statistics.median(v) for k, v in by_stage.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stages", type=Path, default=ROOT / "bench" / "end_to_end.json", help="bench/end_to_end.json of a run"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "floors.json")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    device.configure_torch(torch.device("cpu"), params.train.threads)
    rate = matmul_rate(args.repeats)
    measured = stage_seconds(args.stages)
    results = {"threads": params.train.threads, "matmul_flops_per_second": rate, "models": {}, "stages": {}}
    layout = device.memory_format(torch.device("cpu"))
    for model in MODELS:
        step, batch, _ = training_step(model, params, layout)
        flops = flops_of(step)
        seconds = median_seconds(step, args.repeats)
        contiguous_seconds = median_seconds(training_step(model, params, torch.contiguous_format)[0], args.repeats)
        results["models"][model] = {
            "batch": batch,
            "train_flops_per_image": flops / batch,
            "step_seconds": seconds,
            "step_floor_seconds": flops / rate,
            "step_ratio": seconds * rate / flops,
            "top_operators": top_operators(step),
            "layout": str(layout),
            "step_seconds_contiguous_format": contiguous_seconds,
        }
        steps = base.settings(params, model).steps
        results["stages"][f"train {model}"] = {
            "floor_s": steps * flops / rate,
            "measured_s": measured.get(f"train {model}"),
        }
    # DDPM sampling and bound: network calls on batches of images; a guided step calls on twice the batch.
    _, _, modules = training_step("ddpm", params, layout)
    unet = modules["unet"].eval()
    x, t, y = torch.rand(500, *SHAPE), torch.zeros(500, dtype=torch.long), torch.arange(500) % 10
    with torch.no_grad():
        forward_flops = flops_of(lambda: unet(x, t, y)) / 500  # in calls of 500, as sampling and the bound make them
        results["models"]["ddpm"]["forward_flops_per_image"] = forward_flops
        results["models"]["ddpm"]["forward_seconds_per_image"] = (
            median_seconds(lambda: unet(x, t, y), args.repeats, calls=5) / 500
        )
    sampling, evaluate = params.sampling.ddpm, params.evaluate
    timesteps = params.generative.ddpm.timesteps
    samplers = {"ddim": ddim_times(timesteps, sampling.steps), "ancestral": ancestral_times(timesteps)}
    kinds = {name: calls_per_step(sampling, times, timesteps) for name, times in samplers.items()}
    single, double = kinds["ddim"]
    sample_calls = params.evaluate.n_samples * (single + 2 * double)
    results["stages"]["sample ddpm"] = {
        "floor_s": sample_calls * forward_flops / rate,
        "measured_s": measured.get("sample ddpm"),
    }
    compared = 359  # digits: the test images the generative models are compared on
    bound_calls = compared * len(stratum_edges(params.generative.ddpm.timesteps, evaluate.bound_timesteps))
    timing_calls = evaluate.timing_samples * sum(  # diffusion.timed_sampler: each kind of step, one untimed first
        calls * (1 + min(steps, evaluate.timing_steps))
        for once, twice in kinds.values()
        for calls, steps in ((1, once), (2, twice))
        if steps
    )
    results["stages"]["evaluate ddpm"] = {
        "floor_s": (bound_calls + timing_calls) * forward_flops / rate,
        "measured_s": measured.get("evaluate ddpm"),
    }
    for stage in results["stages"].values():
        stage["ratio"] = stage["measured_s"] / stage["floor_s"] if stage["measured_s"] else None
    print(json.dumps(results, indent=2))
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
