"""The one training loop of the deep models: device, precision, batches, checkpoints, resume, logs.

A model supplies a Recipe (its modules, optimisers and one training step); this
loop draws the batches, checks every loss is finite, logs curves with dvclive,
and writes a checkpoint every `checkpoint_every` steps. A run killed after a
checkpoint resumes from it and ends with the same bytes as an uninterrupted run
on the CPU, because every random number comes from one seeded generator whose
state is part of the checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from genbench import artifacts
from genbench.errors import GenbenchError

CHECKPOINT = "checkpoint.pt"


class TrainingDiverged(GenbenchError):
    """A loss became NaN or infinite."""


@dataclass
class Recipe:
    """What a model gives the loop. `step(x, y, generator)` runs one optimisation step and returns its losses."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    step: Callable[[torch.Tensor, torch.Tensor, torch.Generator], dict[str, torch.Tensor]]
    # Anything else with state_dict()/load_state_dict() to checkpoint: EMA weights, LR schedules.
    extra_state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    batch_size: int
    checkpoint_every: int
    log_every: int
    seed: int


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GenbenchError("train.device is cuda, but torch sees no CUDA device; use auto or cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """The GPU's name, for the report's provenance; "cpu" on the CPU."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def configure_torch(device: torch.device, threads: int) -> None:
    """A fixed thread count (CPU kernels used here are deterministic for a given count); TF32 on CUDA."""
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def images_per_call(device: torch.device, height: int, width: int) -> int:
    """How many images one inference call (sampling, a likelihood bound) takes. On a GPU 500 fill it and
    bound its memory. On the CPU a call runs fastest while its activations stay in cache, near 32,768
    pixels: the DDPM took 4.6 ms per image and step at 28x28 in calls of 32 images and 6.8 ms in calls
    of 256, but at 8x8 0.35 ms in calls of 500 and 0.50 ms in calls of 32."""
    if device.type != "cpu":
        return 500
    return max(1, min(500, 32_768 // (height * width)))


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on the CPU, where oneDNN's convolutions run faster in it (bench/floors.py measures
    each model's training step in both layouts; the DDPM's forward call on 500 8x8 images took 0.80x
    the time). Unmeasured on GPUs, so left as it was there."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision on the CPU, where it is what makes runs bitwise repeatable."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fingerprint(*parts: str | bytes) -> str:
    """Identifies a training run: a checkpoint is resumed only by a run with the same fingerprint."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _live_logger(directory: Path, resume: bool):
    """A dvclive logger that only writes files: no DVC experiment, no dvc.yaml, no repository probing."""
    from dvclive import Live

    class FilesOnlyLive(Live):
        # Live probes the enclosing repository (it runs `dvc init` in a git repo without DVC and raises on a git
        # repo without commits). The logs go to a scratch folder that the stage copies into its outputs, so the
        # probe has nothing to do here.
        def _init_dvc(self) -> None:
            self._dvc_file = "dvc.yaml"

    return FilesOnlyLive(str(directory), resume=resume, save_dvc_exp=False, dvcyaml=False)


def run(
    name: str, recipe: Recipe, images: torch.Tensor, labels: torch.Tensor, settings: LoopSettings,
    scratch: Path, run_id: str,
) -> dict:
    """Train `recipe` for settings.steps steps; returns timing figures, which the logs leave out (they differ on
    every run). `images`/`labels` live on the training device."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(settings.seed)
    start_step = _resume(recipe, generator, scratch, run_id)
    if start_step:
        print(f"genbench: {name}: resuming from the checkpoint at step {start_step}", file=sys.stderr)
    live_dir = scratch / "live"
    if not start_step:
        shutil.rmtree(live_dir, ignore_errors=True)
    _trim_logs(live_dir, start_step)
    live = _live_logger(live_dir, resume=bool(start_step))

    n = len(labels)
    started, images_seen = time.perf_counter(), 0
    window_start, window_images = started, 0
    with tqdm(total=settings.steps, initial=start_step, desc=name, unit="step", file=sys.stderr, mininterval=1.0) as progress:
        for step in range(start_step, settings.steps):
            index = torch.randint(n, (settings.batch_size,), generator=generator).to(images.device)
            losses = recipe.step(images[index], labels[index], generator)
            values = {key: float(value) for key, value in losses.items()}
            for key, value in values.items():
                if value != value or value in (float("inf"), float("-inf")):
                    raise TrainingDiverged(f"{name}: {key} loss is {value} at step {step + 1}; lower the learning rate or check the data")
            images_seen += settings.batch_size
            window_images += settings.batch_size
            done = step + 1
            if done % settings.log_every == 0 or done == settings.steps:
                now = time.perf_counter()
                rate = window_images / max(now - window_start, 1e-9)
                window_start, window_images = now, 0
                live.step = done
                for key, value in values.items():
                    live.log_metric(f"loss/{key}", value)
                live.next_step()
                progress.set_postfix({**{k: f"{v:.4f}" for k, v in values.items()}, "img/s": f"{rate:.0f}"})
            progress.update(1)
            if done % settings.checkpoint_every == 0 and done < settings.steps:
                _save_checkpoint(recipe, generator, done, scratch, run_id)
    live.end()
    seconds = time.perf_counter() - started
    return {"train_seconds": seconds, "images_per_second": images_seen / max(seconds, 1e-9), "resumed_from_step": start_step}


def _save_checkpoint(recipe: Recipe, generator: torch.Generator, step: int, scratch: Path, run_id: str) -> None:
    state = {
        "run_id": run_id,
        "step": step,
        "generator": generator.get_state(),
        "modules": {k: m.state_dict() for k, m in recipe.modules.items()},
        "extra": {k: m.state_dict() for k, m in recipe.extra_state.items()},
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()},
    }
    with artifacts.atomic_path(scratch / CHECKPOINT) as tmp:
        torch.save(state, tmp)


def _resume(recipe: Recipe, generator: torch.Generator, scratch: Path, run_id: str) -> int:
    path = scratch / CHECKPOINT
    if not path.exists():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or crafted file: start afresh rather than trust it
        print(f"genbench: ignoring unreadable checkpoint {path} ({type(e).__name__})", file=sys.stderr)
        return 0
    if state.get("run_id") != run_id:
        print(f"genbench: {path} belongs to other params, data or code; starting afresh", file=sys.stderr)
        return 0
    for key, module in recipe.modules.items():
        module.load_state_dict(state["modules"][key])
    for key, module in recipe.extra_state.items():
        module.load_state_dict(state["extra"][key])
    for key, optimizer in recipe.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][key])
    generator.set_state(state["generator"])
    return int(state["step"])


def _trim_logs(live_dir: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from, so resumed curves have no duplicates."""
    for tsv in live_dir.glob("plots/metrics/**/*.tsv"):
        lines = tsv.read_text().splitlines(keepends=True)
        column = lines[0].rstrip("\n").split("\t").index("step") if lines else 0
        kept = lines[:1] + [line for line in lines[1:] if int(line.split("\t")[column]) <= step]
        tsv.write_text("".join(kept))
    metrics = live_dir / "metrics.json"
    if metrics.exists() and step == 0:
        metrics.unlink()


def clear_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
