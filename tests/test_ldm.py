"""The latent diffusion model's two phases in one training run: the autoencoder trains, then is frozen while
the U-Net and the text encoder train on its scaled latents; a run stopped in either phase resumes to the
same bytes (on the CPU, or GENBENCH_TEST_DEVICE)."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from device_under_test import DEVICE
from test_deep_models import TINY, build, learnable_batch, steps_on_one_batch
from test_preemption_and_precision import sigterm_during

from genbench.errors import ConfigError
from genbench.models import base, deep
from genbench.models.tokenizer import PromptError
from genbench.train import loop
from genbench.train.preemption import Preempted

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signal handlers need the main thread"
)
SETTINGS = TINY.generative.ldm.model_copy(update={"steps": 40, "autoencoder_steps": 16})
SCHEDULE = loop.LoopSettings(steps=40, batch_size=16, checkpoint_every=8, log_every=4, seed=0)


def ldm_run(signal_at_step: int | None = None):
    """The ldm's recipe on 4-class bars; with `signal_at_step`, SIGTERM reaches the process during that step."""
    module, cfg, modules = build("ldm", (1, 8, 8), n_classes=4)
    recipe = module.recipe(modules, SETTINGS, loop.execution_on(DEVICE))
    sigterm_during(recipe, signal_at_step)
    return recipe, modules


def test_the_autoencoder_trains_first_then_stays_frozen_while_the_diffusion_trains(tmp_path):
    recipe, modules = ldm_run()
    x, y = learnable_batch(n=32)
    generator = torch.Generator().manual_seed(0)
    untrained = {k: v.clone() for k, v in deep.state_of(modules).items()}
    phases = [set(losses) for losses in steps_on_one_batch(recipe, x, y, generator, 0, SETTINGS.autoencoder_steps)]
    after_autoencoder = {k: v.clone() for k, v in deep.state_of(modules).items()}
    encoder_calls = []
    modules["autoencoder"].encoder.register_forward_hook(lambda *_: encoder_calls.append(1))
    phases += [
        set(losses)
        for losses in steps_on_one_batch(recipe, x, y, generator, SETTINGS.autoencoder_steps, SETTINGS.steps)
    ]
    after = deep.state_of(modules)
    assert len(encoder_calls) == 1, "the training split is encoded once, when the diffusion starts, not at every step"
    assert phases[0] == phases[15] == {"reconstruction", "kl"} and phases[16] == phases[-1] == {"mse"}

    def changed(a: dict, b: dict, prefix: str) -> bool:
        return any(not torch.equal(a[k], b[k]) for k in a if k.startswith(prefix) and k != "autoencoder.latent_scale")

    assert changed(untrained, after_autoencoder, "autoencoder.") and not changed(untrained, after_autoencoder, "ema.")
    assert not changed(after_autoencoder, after, "autoencoder."), "the autoencoder is frozen in the second phase"
    assert changed(after_autoencoder, after, "denoiser.") and changed(after_autoencoder, after, "ema.")
    scale = float(after["autoencoder.latent_scale"])
    assert scale != 1.0 and after_autoencoder["autoencoder.latent_scale"] == 1.0
    latents = modules["autoencoder"].encode(x)[0] * scale
    assert 0.8 < float(latents.detach().std()) < 1.25, "the latents are scaled to about unit spread"


@pytest.mark.parametrize("stopped_at", [5, 21], ids=["autoencoder-phase", "diffusion-phase"])
def test_a_run_stopped_in_either_phase_resumes_to_the_same_bytes(tmp_path, stopped_at):
    x, y = learnable_batch(n=32)
    straight, straight_modules = ldm_run()
    loop.run("ldm", straight, x, y, SCHEDULE, tmp_path / "straight", "t", loop.execution_on(DEVICE))

    stopped, _ = ldm_run(signal_at_step=stopped_at)
    with pytest.raises(Preempted, match=f"after step {stopped_at};"):
        loop.run("ldm", stopped, x, y, SCHEDULE, tmp_path / "stopped", "t", loop.execution_on(DEVICE))
    resumed, resumed_modules = ldm_run()  # a fresh process: new modules, the checkpoint on disk
    loop.run("ldm", resumed, x, y, SCHEDULE, tmp_path / "stopped", "t", loop.execution_on(DEVICE))
    a, b = deep.state_of(straight_modules), deep.state_of(resumed_modules)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_datasets_own_captions_are_what_the_text_encoder_reads():
    module = base.module_of("ldm")
    x, y = learnable_batch(n=32)
    given = [f"bar {int(label)} shade {i % 3}" for i, label in enumerate(y.tolist())]
    settings = SETTINGS.model_copy(update={"p_drop_word": 0.5, "p_uncond": 0.2, "held_out": {}})
    cfg = base.config_for(module, settings, x, y, ["a", "b", "c", "d"], "mine", given, 255)
    spec = module.caption_spec(cfg)
    assert spec.given and spec.attributes == [] and cfg["given_captions"] == sorted(set(given))
    labels = base.training_labels(module, cfg, y, given)
    assert labels.shape == (32, 2) and [cfg["given_captions"][r] for r in labels[:, 1].tolist()] == given

    torch.manual_seed(0)
    modules = {name: m.to(DEVICE) for name, m in module.build(cfg).items()}
    recipe = module.recipe(modules, settings, loop.execution_on(DEVICE))
    read = []
    modules["denoiser"].text.register_forward_pre_hook(lambda _, inputs: read.append(inputs[0].cpu()))
    generator = torch.Generator().manual_seed(0)
    steps_on_one_batch(recipe, x, labels.to(DEVICE), generator, 0, settings.autoencoder_steps + 3)
    prompts = modules["denoiser"].prompts
    own, alone, empty = prompts.ids(given), prompts.ids([spec.text(c, []) for c in y.tolist()]), prompts.null(32)
    kinds = [
        [("own" if torch.equal(r, o) else "class" if torch.equal(r, a) else "empty" if torch.equal(r, e) else "?")]
        for ids in read
        for r, o, a, e in zip(ids, own, alone, empty)
    ]
    counts = {kind: sum(k == [kind] for k in kinds) for kind in ("own", "class", "empty", "?")}
    assert counts["?"] == 0 and min(counts["own"], counts["class"], counts["empty"]) > 0, counts

    module.check_prompt(cfg, "a shade 2")
    with pytest.raises(PromptError, match=r"'thick' not in the tokenizer's vocabulary"):
        module.check_prompt(cfg, "a thick bar")
    with pytest.raises(ConfigError, match=r"held_out.mine: mine brings its own captions, so no word of them can be"):
        base.config_for(
            module,
            SETTINGS.model_copy(update={"held_out": {"mine": [["a", "thick"]]}}),
            x,
            y,
            ["a", "b", "c", "d"],
            "mine",
            given,
            255,
        )


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp32"])
def test_each_precision_trains_both_phases(name):
    module, cfg, modules = build("ldm", (1, 8, 8), n_classes=4)
    execution = loop.execution_on(DEVICE, name)
    recipe = module.recipe(modules, SETTINGS, execution)
    x, y = learnable_batch(n=32)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for step in range(SETTINGS.steps):
        if step == SETTINGS.autoencoder_steps:
            before_diffusion = {k: v.clone() for k, v in deep.state_of(modules).items()}
            x, y = recipe.recode(x, y)
        losses.append({key: float(value) for key, value in recipe.step(x, y, generator).items()})
        execution.precision.update()
    reconstruction = [entry["reconstruction"] for entry in losses[: SETTINGS.autoencoder_steps]]
    mse = [entry["mse"] for entry in losses[SETTINGS.autoencoder_steps :]]
    assert all(math.isfinite(value) for value in reconstruction + mse), name
    assert sum(reconstruction[-4:]) < 0.9 * sum(reconstruction[:4]), "the autoencoder learns"
    after = deep.state_of(modules)
    assert all(torch.isfinite(value.float()).all() for value in after.values())
    assert any(not torch.equal(before_diffusion[k], after[k]) for k in after if k.startswith("denoiser."))
    assert (execution.precision.scaler is not None) == (name == "fp16")
