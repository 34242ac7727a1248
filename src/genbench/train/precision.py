"""train.precision: the number format of the deep models' training steps.

Weights and optimiser state stay in fp32 in every precision (autocast computes in the lower one),
so a checkpoint resumes in any of them; the model's train.json records which steps ran in which.
"""

from __future__ import annotations

import contextlib

import torch

from genbench.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def resolve(name: str, device: torch.device) -> str:
    """auto: fp32 on the CPU, where it makes runs bitwise repeatable; on a GPU bf16 where it has fast
    bf16, fp16 with a gradient scaler where it has not (V100, T4)."""
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ConfigError(
            f"train.precision is bf16, but {torch.cuda.get_device_name(device)} has no bf16; use auto, fp16 or fp32"
        )
    return name


class Precision:
    """What a recipe's step calls around its losses: autocast, and for fp16 a gradient scaler,
    which keeps small fp16 gradients from flushing to zero."""

    def __init__(self, name: str, device: torch.device):
        self.name, self.device_type, self.dtype = name, device.type, DTYPES[name]
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self):
        return (
            torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None else contextlib.nullcontext()
        )

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Before clipping gradients: the scaler's factor out of them."""
        if self.scaler:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimiser's step; with the scaler, skipped where a gradient overflowed."""
        if self.scaler:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def update(self) -> None:
        """Once per training step, after every optimiser's step: the scaler adapts its factor."""
        if self.scaler:
            self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
