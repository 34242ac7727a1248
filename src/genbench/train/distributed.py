"""train.processes: one deep training job as several processes under torch.distributed.

`genbench train` with train.processes > 1 launches itself again as that many ranks: with srun inside
a SLURM job, which must have that many tasks, with torchrun's launcher elsewhere. A rank is a process
started by either (or by your own `torchrun` or `srun`). Every rank draws the same global batch from
the shared seeded generator and computes on its share; DistributedDataParallel averages the
gradients, so the run follows the one-process run at the same global batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass

import torch
from torch import nn

from genbench.errors import REQUEUE_EXIT_CODE


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, batch_size: int) -> slice:
        """This rank's rows of a global batch (train.processes divides every batch size)."""
        per_rank = batch_size // self.size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


SINGLE = World()


def current() -> World:
    """The rank a launcher made this process: torchrun sets RANK and WORLD_SIZE, srun SLURM_PROCID and
    SLURM_STEP_NUM_TASKS. A process started otherwise is the single process of its job."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return World(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))
    if int(env.get("SLURM_STEP_NUM_TASKS", "1")) > 1 and "SLURM_PROCID" in env:
        return World(int(env["SLURM_PROCID"]), int(env["SLURM_STEP_NUM_TASKS"]), int(env.get("SLURM_LOCALID", 0)))
    return SINGLE


def must_launch(processes: int) -> bool:
    return processes > 1 and current().size == 1


def launch(processes: int, argv: list[str]) -> int:
    """Run `genbench <argv>` as `processes` ranks and wait for them; returns the exit code for the job:
    REQUEUE_EXIT_CODE when the ranks stopped on a signal with their checkpoint saved."""
    if "SLURM_JOB_ID" in os.environ:  # in an allocation (Snakemake's SLURM jobs ask for train.processes tasks)
        return _srun(processes, argv)
    return _torchrun(processes, argv)


def _srun(processes: int, argv: list[str]) -> int:
    # srun passes SIGTERM and SIGUSR1 on to the ranks, which agree on a step to stop at: this process only waits for
    # them.
    command = ["srun", f"--ntasks={processes}", "--kill-on-bad-exit=1", sys.executable, "-m", "genbench", *argv]
    with _deferred_signals():
        return subprocess.run(command).returncode


def _torchrun(processes: int, argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The launcher passes these on to the ranks and waits for them (30 s at most); SIGUSR1 is SLURM's
    # "the time limit is near" (profiles/slurm asks for it).
    os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"] = "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=processes,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.1,
    )
    try:
        elastic_launch(config, sys.executable)("-m", "genbench", *argv)
    except ChildFailedError as failed:
        codes = {failure.exitcode for failure in failed.failures.values()}
        return (
            REQUEUE_EXIT_CODE if REQUEUE_EXIT_CODE in codes else max(max(codes), 1)
        )  # a rank killed by a signal has a negative code
    except SignalException:
        return REQUEUE_EXIT_CODE
    return 0


@contextlib.contextmanager
def _deferred_signals():
    handled = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start(world: World, device: torch.device) -> None:
    """Join the job's process group: gloo on the CPU, NCCL on GPUs."""
    if world.size == 1:
        return
    os.environ.setdefault("MASTER_ADDR", _first_host())
    os.environ.setdefault("MASTER_PORT", str(20_000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20_000))
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(
        backend, rank=world.rank, world_size=world.size, device_id=device if device.type == "cuda" else None
    )


def stop(world: World) -> None:
    if world.size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _first_host() -> str:
    nodes = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST")
    if not nodes:
        return "127.0.0.1"
    return subprocess.run(
        ["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, check=True
    ).stdout.split()[0]


def parallel(module: nn.Module, world: World) -> nn.Module:
    """The module as a recipe's step calls it: under DistributedDataParallel when there are several
    ranks, with batch norms computing the global batch's statistics. Buffers are not synchronised at
    each call: every rank updates them identically (spectral norm's power iterations, batch norms'
    running statistics of the global batch)."""
    if world.size == 1:
        return module
    if next(module.parameters()).device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    else:
        for layer in module.modules():
            if type(layer) in _GLOBAL_BATCH_NORM:  # the same parameters and buffers, so the same state_dict
                layer.__class__ = _GLOBAL_BATCH_NORM[type(layer)]
    return nn.parallel.DistributedDataParallel(module, forward_sync_buffers=False)


def _global_batch_norm(layer: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """A batch norm in training mode over the global batch, its statistics summed over the ranks. Written here
    because torch's SyncBatchNorm runs on GPUs only; used for gloo ranks on the CPU."""
    from torch.distributed.nn.functional import all_reduce  # sums, and sums the gradients back

    dims = (0, *range(2, x.dim()))  # every dimension but the features'
    per_feature = (1, -1) + (1,) * (x.dim() - 2)
    count = x.numel() / layer.num_features * torch.distributed.get_world_size()
    mean = all_reduce(x.sum(dims)) / count
    centred = x - mean.view(per_feature)
    var = all_reduce((centred * centred).sum(dims)) / count  # two passes, as torch's batch norms compute it
    with torch.no_grad():
        layer.num_batches_tracked.add_(1)
        layer.running_mean.lerp_(mean, layer.momentum)
        layer.running_var.lerp_(var * count / (count - 1), layer.momentum)
    scale = layer.weight * torch.rsqrt(var + layer.eps)
    return centred * scale.view(per_feature) + layer.bias.view(per_feature)


class GlobalBatchNorm1d(nn.BatchNorm1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _global_batch_norm(self, x) if self.training else super().forward(x)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _global_batch_norm(self, x) if self.training else super().forward(x)


_GLOBAL_BATCH_NORM = {nn.BatchNorm1d: GlobalBatchNorm1d, nn.BatchNorm2d: GlobalBatchNorm2d}


def agree(values: list[float], stop_requested: bool, world: World) -> tuple[list[float], bool]:
    """The mean of every rank's values, and whether any rank was asked to stop: one collective a step."""
    if world.size == 1:
        return values, stop_requested
    summed = torch.tensor([*values, float(stop_requested)], dtype=torch.float64)
    torch.distributed.all_reduce(summed)
    return [v / world.size for v in summed[:-1].tolist()], bool(summed[-1] > 0)


def gather(share: torch.Tensor, world: World) -> torch.Tensor:
    """Every rank's `share` (the same shape on each), concatenated in rank order; no gradient flows back."""
    if world.size == 1:
        return share
    shares = [torch.empty_like(share) for _ in range(world.size)]
    torch.distributed.all_gather(shares, share.contiguous())
    return torch.cat(shares)


def barrier(world: World) -> None:
    if world.size > 1:
        torch.distributed.barrier()
