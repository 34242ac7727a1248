"""The shared loop stopped by a signal, a second signal during its checkpoint write, and train.precision:
fp16 with a gradient scaler, bf16 and fp32, resumed from one another (on the CPU, which runs all three, or
GENBENCH_TEST_DEVICE)."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import torch
from device_under_test import DEVICE
from test_deep_models import TINY, build, learnable_batch

from genbench.errors import ConfigError
from genbench.models import base, deep
from genbench.train import loop, precision
from genbench.train.preemption import Preempted

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signal handlers need the main thread"
)
SETTINGS = loop.LoopSettings(steps=20, batch_size=8, checkpoint_every=10, log_every=5, seed=0)


def vae_run(precision_name: str, signal_at_step: int | None = None):
    """The VAE's recipe in `precision_name`; with `signal_at_step`, SIGTERM reaches the process during that step."""
    module, cfg, modules = build("vae", (1, 8, 8))
    execution = loop.execution_on(DEVICE, precision_name)
    recipe = module.recipe(modules, TINY.generative.vae, execution)
    return recipe, execution, sigterm_during(recipe, signal_at_step)


def sigterm_during(recipe, signal_at_step: int | None) -> list:
    """Makes SIGTERM reach the process during the recipe's step `signal_at_step` (None: never); the list returned
    grows by one per step taken."""
    step, calls = recipe.step, []

    def step_that_gets_a_signal(x, y, generator):
        calls.append(1)
        if len(calls) == signal_at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(x, y, generator)

    recipe.step = step_that_gets_a_signal
    return calls


def model_recipe(model: str, signal_at_step: int | None = None, **settings):
    """A tiny model's recipe and modules for 8x8 images of 4 classes, its settings updated by `settings`, with
    SIGTERM during step `signal_at_step` (None: never)."""
    module, _, modules = build(model, (1, 8, 8), n_classes=4)
    trained = base.settings(TINY, model).model_copy(update=settings)
    recipe = module.recipe(modules, trained, loop.execution_on(DEVICE))
    sigterm_during(recipe, signal_at_step)
    return recipe, modules


def assert_a_stopped_run_resumes_to_the_same_bytes(model: str, schedule, tmp_path, stop_after: int) -> tuple:
    """Trains `model` straight through, and again stopped by SIGTERM after `stop_after` steps and resumed; the
    weights must be the same bytes. Returns both recipes, for what else their runs must share."""
    x, y = learnable_batch(n=32)
    straight, straight_modules = model_recipe(model)
    loop.run(model, straight, x, y, schedule, tmp_path / "straight", "t", loop.execution_on(DEVICE))
    stopped, _ = model_recipe(model, signal_at_step=stop_after)
    with pytest.raises(Preempted, match=f"after step {stop_after};"):
        loop.run(model, stopped, x, y, schedule, tmp_path / "stopped", "t", loop.execution_on(DEVICE))
    resumed, resumed_modules = model_recipe(model)
    loop.run(model, resumed, x, y, schedule, tmp_path / "stopped", "t", loop.execution_on(DEVICE))
    a, b = deep.state_of(straight_modules), deep.state_of(resumed_modules)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return straight, resumed


def test_sigterm_stops_after_the_step_with_a_checkpoint_of_that_step(tmp_path):
    recipe, execution, calls = vae_run("fp32", signal_at_step=7)
    x, y = learnable_batch()
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted, match=r"^vae: stopped by SIGTERM after step 7; its checkpoint is saved") as stopped:
        loop.run("vae", recipe, x, y, SETTINGS, tmp_path, "t", execution)
    assert stopped.value.exit_code == 75 and len(calls) == 7
    assert torch.load(tmp_path / loop.CHECKPOINT, weights_only=True)["step"] == 7
    assert signal.getsignal(signal.SIGTERM) is handler_before, "the handler lives only as long as the loop"


def test_a_second_signal_during_the_checkpoint_write_leaves_a_whole_checkpoint(tmp_path, monkeypatch):
    recipe, execution, _ = vae_run("fp32", signal_at_step=7)
    real_save, writes = torch.save, []

    def save_signalled_halfway(state, path):
        real_save(state, path)
        whole = open(path, "rb").read()
        with open(path, "wb") as f:  # the first half, then the second signal, then the rest
            f.write(whole[: len(whole) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGTERM)
            f.write(whole[len(whole) // 2 :])
        writes.append(state["step"])

    monkeypatch.setattr(torch, "save", save_signalled_halfway)
    x, y = learnable_batch()
    with pytest.raises(Preempted, match="after step 7;"):
        loop.run("vae", recipe, x, y, SETTINGS, tmp_path, "t", execution)
    assert writes == [7], "the second signal neither interrupted the write nor started another"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [loop.CHECKPOINT], "no temporary file left"
    state = torch.load(tmp_path / loop.CHECKPOINT, weights_only=True)
    assert state["step"] == 7 and set(state["modules"]) == {"vae"}


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp32"])
def test_each_precision_trains_the_vae(name):
    recipe, execution, _ = vae_run(name)
    x, y = learnable_batch()
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        losses.append(float(recipe.step(x, y, generator)["negative_elbo"]))
        execution.precision.update()
    assert all(value == value for value in losses) and sum(losses[-10:]) < 0.8 * sum(losses[:10]), name
    assert (execution.precision.scaler is not None) == (name == "fp16")


def test_a_checkpoint_written_in_fp16_resumes_in_bf16_and_the_record_says_so(tmp_path):
    x, y = learnable_batch()
    recipe, execution, _ = vae_run("fp16", signal_at_step=7)
    with pytest.raises(Preempted):
        loop.run("vae", recipe, x, y, SETTINGS, tmp_path, "t", execution)
    state = torch.load(tmp_path / loop.CHECKPOINT, weights_only=True)
    assert state["grad_scaler"]["scale"] > 0, "the gradient scaler's state goes with the checkpoint"

    recipe, execution, _ = vae_run("bf16")
    stats = loop.run("vae", recipe, x, y, SETTINGS, tmp_path, "t", execution)
    assert stats["resumed_from_step"] == 7
    assert stats["segments"] == [
        {"from_step": 0, "device": DEVICE.type, "precision": "fp16", "processes": 1},
        {"from_step": 7, "device": DEVICE.type, "precision": "bf16", "processes": 1},
    ]


def test_auto_precision_is_fp32_on_the_cpu_and_follows_the_gpu(monkeypatch):
    assert precision.resolve("auto", torch.device("cpu")) == "fp32"
    gpu = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    for has_bf16, chosen in ((True, "bf16"), (False, "fp16")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, has=has_bf16: has)
        assert precision.resolve("auto", gpu) == chosen
    with pytest.raises(
        ConfigError, match="^train.precision is bf16, but Tesla T4 has no bf16; use auto, fp16 or fp32$"
    ):
        precision.resolve("bf16", gpu)
