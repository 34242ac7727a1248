"""The one training loop of the deep models: device, precision, batches, checkpoints, resume, logs.

A model supplies a Recipe (its modules, optimisers and one training step); this
loop draws the batches, checks every loss is finite, logs curves with dvclive,
and writes a checkpoint every `checkpoint_every` steps and when a signal asks it
to stop (preemption.py). A run killed after a checkpoint resumes from it and ends
with the same bytes as an uninterrupted run on the CPU, because every random
number comes from one seeded generator whose state is part of the checkpoint.
Across several ranks (distributed.py) every rank draws the same numbers.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from genbench import artifacts
from genbench.errors import GenbenchError
from genbench.models.base import Recipe, StepFailed
from genbench.train import distributed, precision, preemption
from genbench.train.distributed import World
from genbench.train.precision import Precision

CHECKPOINT = "checkpoint.pt"


class TrainingDiverged(GenbenchError):
    """A loss became NaN or infinite, or a step could not be computed (an ODE solve that failed)."""


@dataclass(frozen=True)
class Execution:
    """What a recipe's step runs with (models.base.Execution): the device, the precision's autocast and
    gradient scaler, and across several ranks DistributedDataParallel and this rank's share of each batch."""

    device: torch.device
    precision: Precision
    world: World = distributed.SINGLE

    def autocast(self):
        return self.precision.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        self.precision.backward(loss)

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        self.precision.unscale(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.precision.step(optimizer)

    def parallel(self, module: nn.Module) -> nn.Module:
        """Call the module through this in the step; keep the module itself for anything else."""
        return distributed.parallel(module, self.world)

    def share(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's rows of each tensor drawn for the whole batch, on the device. Drawing every
        random number for the whole batch and taking a share keeps the ranks' generators in step and
        gives them the numbers one process would draw."""
        return tuple(t[self.world.share(len(t))].to(self.device) for t in tensors)

    def gather(self, share: torch.Tensor) -> torch.Tensor:
        """The whole batch's rows of a tensor computed on each rank's share, in rank order, on every rank."""
        return distributed.gather(share, self.world)


def execution_on(device: torch.device, precision_name: str = "auto") -> Execution:
    """One process on `device`, in the precision `precision_name` resolves to there."""
    return Execution(device, Precision(precision.resolve(precision_name, device), device))


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    batch_size: int
    checkpoint_every: int
    log_every: int
    seed: int
    check_every: int = 0  # steps between calls of run()'s `check`; 0: none


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
    name: str,
    recipe: Recipe,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: LoopSettings,
    scratch: Path,
    run_id: str,
    execution: Execution,
    check: Callable[[int, dict[str, nn.Module]], None] | None = None,
) -> dict:
    """Train `recipe` for settings.steps steps; returns timing figures, which the logs leave out (they differ on
    every run), and the segments of steps by device, precision and processes. `images`/`labels` live on the
    training device. Only the main rank writes the checkpoint and the logs. `check(step, modules)` is called
    every settings.check_every steps before the last (a tune's pruner); what it raises ends the run."""
    from tqdm import tqdm

    world = execution.world
    generator = torch.Generator().manual_seed(settings.seed)
    start_step, segments = _resume(recipe, execution, generator, scratch, run_id)
    if start_step and world.is_main:
        print(f"genbench: {name}: resuming from the checkpoint at step {start_step}", file=sys.stderr)
    if not segments or {k: v for k, v in segments[-1].items() if k != "from_step"} != _segment_of(execution):
        segments.append({"from_step": start_step, **_segment_of(execution)})
    live = None
    if world.is_main:
        live_dir = scratch / "live"
        if not start_step:
            shutil.rmtree(live_dir, ignore_errors=True)
        _trim_logs(live_dir, start_step)
        live = _live_logger(live_dir, resume=bool(start_step))

    n = len(labels)
    diagnostic_sums = dict.fromkeys(recipe.diagnostics, 0.0)
    started, images_seen = time.perf_counter(), 0
    window_start, window_images = started, 0
    with (
        preemption.StopRequests() as stop_requests,
        tqdm(
            total=settings.steps,
            initial=start_step,
            desc=name,
            unit="step",
            file=sys.stderr,
            mininterval=1.0,
            disable=not world.is_main,
        ) as progress,
    ):
        for step in range(start_step, settings.steps):
            if recipe.recode is not None and step == max(start_step, recipe.recode_from_step):
                images, labels = recipe.recode(images, labels)
            index = torch.randint(n, (settings.batch_size,), generator=generator).to(images.device)
            try:
                losses = recipe.step(images[index], labels[index], generator)
            except StepFailed as e:
                saved = max(start_step, step // settings.checkpoint_every * settings.checkpoint_every)
                kept = f"the checkpoint of step {saved} is kept" if saved else "no checkpoint was written before it"
                raise TrainingDiverged(
                    f"{name}: {e} at step {step + 1}; {kept}: lower the learning rate or raise the regularisation"
                ) from None
            execution.precision.update()
            means, stop = distributed.agree(
                [float(v) for v in losses.values()], stop_requests.received is not None, world
            )
            values = dict(zip(losses, means))
            for key, value in values.items():
                if value != value or value in (float("inf"), float("-inf")):
                    raise TrainingDiverged(
                        f"{name}: {key} loss is {value} at step {step + 1}; lower the learning rate or check the data"
                    )
            for key in diagnostic_sums:
                diagnostic_sums[key] += values[key]
            images_seen += settings.batch_size
            window_images += settings.batch_size
            done = step + 1
            if live and (done % settings.log_every == 0 or done == settings.steps):
                now = time.perf_counter()
                rate = window_images / max(now - window_start, 1e-9)
                window_start, window_images = now, 0
                live.step = done
                for key, value in values.items():
                    live.log_metric(f"{'diagnostics' if key in diagnostic_sums else 'loss'}/{key}", value)
                live.next_step()
                progress.set_postfix({**{k: f"{v:.4f}" for k, v in values.items()}, "img/s": f"{rate:.0f}"})
            progress.update(1)
            if done == settings.steps:
                break
            if check is not None and settings.check_every and done % settings.check_every == 0:
                check(done, recipe.modules)
            if stop or done % settings.checkpoint_every == 0:
                if world.is_main:
                    _save_checkpoint(recipe, execution, generator, done, segments, scratch, run_id)
            if stop:
                distributed.barrier(world)  # no rank leaves before the checkpoint is whole
                received = stop_requests.received.name if stop_requests.received else "a signal to another rank"
                raise preemption.Preempted(
                    f"{name}: stopped by {received} after step {done}; its checkpoint is saved and a rerun resumes "
                    f"from it",
                    received,
                )
    if live:
        live.end()
    seconds = time.perf_counter() - started
    steps_run = max(settings.steps - start_step, 1)
    return {
        "train_seconds": seconds,
        "images_per_second": images_seen / max(seconds, 1e-9),
        "resumed_from_step": start_step,
        "segments": segments,
    } | ({"per_step": {key: total / steps_run for key, total in diagnostic_sums.items()}} if diagnostic_sums else {})


def _segment_of(execution: Execution) -> dict:
    return {"device": execution.device.type, "precision": execution.precision.name, "processes": execution.world.size}


def _save_checkpoint(
    recipe: Recipe,
    execution: Execution,
    generator: torch.Generator,
    step: int,
    segments: list[dict],
    scratch: Path,
    run_id: str,
) -> None:
    state = {
        "run_id": run_id,
        "step": step,
        "segments": segments,
        "generator": generator.get_state(),
        "modules": {k: m.state_dict() for k, m in recipe.modules.items()},
        "extra": {k: m.state_dict() for k, m in recipe.extra_state.items()},
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()},
        "grad_scaler": execution.precision.state_dict(),
    }
    with artifacts.atomic_path(scratch / CHECKPOINT) as tmp:
        torch.save(state, tmp)


def _resume(
    recipe: Recipe, execution: Execution, generator: torch.Generator, scratch: Path, run_id: str
) -> tuple[int, list[dict]]:
    """The step to start from and the segments before it. Weights and optimiser state are fp32 in every
    precision and the same on every rank, so a checkpoint resumes in any precision and at any number of
    processes; the segments record where that changed."""
    path = scratch / CHECKPOINT
    if not path.exists():
        return 0, []
    talk = execution.world.is_main
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or crafted file: start afresh rather than trust it
        if talk:
            print(f"genbench: ignoring unreadable checkpoint {path} ({type(e).__name__})", file=sys.stderr)
        return 0, []
    if state.get("run_id") != run_id:
        if talk:
            print(f"genbench: {path} belongs to other params, data or code; starting afresh", file=sys.stderr)
        return 0, []
    for key, module in recipe.modules.items():
        module.load_state_dict(state["modules"][key])
    for key, module in recipe.extra_state.items():
        module.load_state_dict(state["extra"][key])
    for key, optimizer in recipe.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][key])
    segments = state["segments"]
    if segments[-1]["precision"] == execution.precision.name:
        execution.precision.load_state_dict(state["grad_scaler"])
    generator.set_state(state["generator"])
    return int(state["step"]), segments


def _trim_logs(live_dir: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from, so resumed curves have no duplicates.

    dvclive appends its rows and rewrites its summary in place, and a step is logged before its checkpoint is
    saved: a run killed mid-write leaves a partial last row or summary, both from after the checkpoint. The
    partial row goes with the other later ones; the summary is written whole again at the next logged step."""
    for tsv in live_dir.glob("plots/metrics/**/*.tsv"):
        lines = [line for line in tsv.read_text().splitlines(keepends=True) if line.endswith("\n")]
        if not lines:
            tsv.unlink()
            continue
        column = lines[0].rstrip("\n").split("\t").index("step")
        kept = lines[:1] + [line for line in lines[1:] if int(line.split("\t")[column]) <= step]
        artifacts.write_text(tsv, "".join(kept))
    metrics = live_dir / "metrics.json"
    if metrics.exists() and (step == 0 or not _whole_json(metrics)):
        metrics.unlink()


def _whole_json(path: Path) -> bool:
    try:
        artifacts.read_json(path)
    except GenbenchError:
        return False
    return True


def clear_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
