"""The deep models and their shared training loop, on small sizes on the CPU (or GENBENCH_TEST_DEVICE)."""

from __future__ import annotations

import math
from contextlib import contextmanager

import pytest
import torch
from device_under_test import DEVICE

from genbench.models import base, ddpm, deep, diffusion
from genbench.train import loop
from genbench.validate import whole_schema

TINY = whole_schema().model_validate(
    {
        "featurenet": {"steps": 60, "batch_size": 16, "width": 8, "feature_dim": 16},
        "generative": {
            "vae": {"steps": 60, "batch_size": 16, "hidden": 8, "latent_dim": 4, "lr": 0.01},
            "gan": {"steps": 60, "batch_size": 16, "hidden": 8, "z_dim": 8},
            "ddpm": {"steps": 60, "batch_size": 16, "base_channels": 8, "timesteps": 20},
            "ldm": {
                "steps": 100,
                "autoencoder_steps": 30,
                "batch_size": 16,
                "downsample": 2,
                "autoencoder_channels": 8,
                "base_channels": 8,
                "text_width": 8,
                "timesteps": 20,
                "lr": 0.003,
            },
            "cnf": {"steps": 60, "batch_size": 16, "hidden": 32, "solver_steps": 2, "lr": 0.01},
            "ebm": {"steps": 60, "batch_size": 16, "width": 8, "hidden": 32, "langevin_steps": 5},
        },
        "sampling": {
            "ddpm": {"steps": 4},
            "ldm": {"steps": 4},
            "cnf": {"solver": "rk4", "solver_steps": 2},
            "ebm": {"steps": 5},
        },
    }
)
MODELS = ["featurenet", "vae", "gan", "ddpm", "ldm", "cnf", "ebm"]


def build(model: str, shape: tuple[int, int, int], n_classes: int = 10):
    """The model's untrained modules; a model whose config the training images fix sees random images."""
    module = base.module_of(model)
    images = torch.rand(8 * n_classes, *shape, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(8 * n_classes) % n_classes
    classes = [str(c) for c in range(n_classes)]
    cfg = base.config_for(module, base.settings(TINY, model), images, labels, classes, "test", None, 255)
    torch.manual_seed(0)
    return module, cfg, {name: m.to(DEVICE) for name, m in module.build(cfg).items()}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_shapes_and_dtypes(model, shape):
    module, cfg, modules = build(model, shape)
    x, y = torch.rand(4, *shape).to(DEVICE), torch.tensor([0, 1, 2, 9])
    generator = torch.Generator().manual_seed(0)
    if model == "featurenet":
        net = modules["net"].eval()
        assert net(x).shape == (4, 10) and net(x).dtype == torch.float32
        assert net.features(x).shape == (4, cfg["feature_dim"])
        return
    images = module.sample(modules, cfg, y, generator, base.sampling(TINY, model))
    assert images.shape == (4, *shape) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    if model == "vae":
        log_px, kl = modules["vae"].elbo_terms(x, torch.randn(4, cfg["latent_dim"]).to(DEVICE))
        assert log_px.shape == kl.shape == (4,) and (kl >= 0).all()
    if model == "ddpm":
        out = modules["unet"](x, torch.tensor([0, 5, 10, 19]).to(DEVICE), y.to(DEVICE))
        assert out.shape == x.shape
    if model == "ldm":
        mean, log_var = modules["autoencoder"].encode(x)
        assert mean.shape == log_var.shape == (4, cfg["latent_channels"], shape[1] // 2, shape[2] // 2)
        assert modules["autoencoder"].decode(mean).shape == x.shape
    if model == "ebm":
        assert module.classify(modules, cfg, x).shape == (4, 10)


def learnable_batch(shape=(1, 8, 8), n=64):
    generator = torch.Generator().manual_seed(1)
    y = torch.arange(n) % 4
    x = torch.rand(n, *shape, generator=generator) * 0.2
    for i in range(n):
        x[i, :, 2 * y[i] : 2 * y[i] + 2] = 0.9  # a class-dependent bar
    return x.to(DEVICE), y.to(DEVICE)


def steps_on_one_batch(recipe, x: torch.Tensor, y: torch.Tensor, generator, first: int, last: int) -> list[dict]:
    """recipe.step on the whole of (x, y) for steps first to last - 1, recoded where the loop recodes it."""
    losses = []
    for step in range(first, last):
        if recipe.recode is not None and step == max(first, recipe.recode_from_step):
            x, y = recipe.recode(x, y)
        losses.append(recipe.step(x, y, generator))
    return losses


@pytest.mark.parametrize("model", MODELS)
def test_loss_goes_down(model):
    module, cfg, modules = build(model, (1, 8, 8), n_classes=4)
    settings = base.settings(TINY, model)
    recipe = module.recipe(modules, settings, loop.execution_on(DEVICE))
    x, y = learnable_batch()
    generator = torch.Generator().manual_seed(0)
    key = {
        "featurenet": "cross_entropy",
        "vae": "negative_elbo",
        "gan": "discriminator",
        "ddpm": "mse",
        "ldm": "mse",
        "cnf": "bits_per_dim",
        "ebm": "cross_entropy",
    }[model]
    steps = (losses.get(key) for losses in steps_on_one_batch(recipe, x, y, generator, 0, settings.steps))
    losses = [float(v) for v in steps if v is not None]  # ldm: the diffusion's steps, after the autoencoder's
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert all(math.isfinite(v) for v in losses)
    assert last < 0.9 * first, f"{model}: {first:.4f} -> {last:.4f}"


def test_q_sample_matches_the_closed_form():
    linear = diffusion.Diffusion("linear", 100)
    betas = torch.linspace(1e-4 * 10, 0.02 * 10, 100, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    x0, noise, t = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4), torch.tensor([0, 50, 99])
    expected = alpha_bar[t].sqrt().view(-1, 1, 1, 1) * x0 + (1 - alpha_bar[t]).sqrt().view(-1, 1, 1, 1) * noise
    torch.testing.assert_close(linear.q_sample(x0, t, noise), expected.float(), rtol=1e-5, atol=1e-6)
    cosine = diffusion.Diffusion("cosine", 1000)
    assert cosine.alpha_bar[0] > 0.999 and cosine.alpha_bar[-1] < 1e-3, "cosine schedule runs from data to noise"


def test_ddim_with_eta_zero_is_deterministic_given_the_seed():
    _, cfg, modules = build("ddpm", (1, 8, 8))
    settings = TINY.sampling.ddpm.model_copy(update={"eta": 0.0})
    labels = torch.arange(6) % 10

    def draw(seed):
        return ddpm.sample(modules, cfg, labels, torch.Generator().manual_seed(seed), settings)

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_guidance_zero_ignores_the_class():
    _, cfg, modules = build("ddpm", (1, 8, 8))
    with torch.no_grad():  # make the class embedding matter, so that ignoring it is visible
        modules["ema"].module.class_embedding.weight.normal_(0, 3)
    for guidance, should_differ in ((0.0, False), (2.0, True)):
        settings = TINY.sampling.ddpm.model_copy(update={"guidance": guidance})
        a = ddpm.sample(modules, cfg, torch.zeros(4, dtype=torch.long), torch.Generator().manual_seed(0), settings)
        b = ddpm.sample(modules, cfg, torch.full((4,), 7), torch.Generator().manual_seed(0), settings)
        assert (not torch.equal(a, b)) == should_differ, guidance


GUIDED_SAMPLERS = [("ddpm", "ddim"), ("ddpm", "ancestral"), ("ldm", "ddim")]


def guided_settings(module, model: str, sampler: str, interval: list[float]):
    chosen = {"steps": 6, "guidance": 3.0, "guidance_interval": interval}
    return module.Sampling.model_validate(chosen | ({"sampler": sampler} if model == "ddpm" else {}))


@contextmanager
def network_calls(modules):
    """(timestep, rows) of each call of the sampling network inside the block: 2n rows where it guides (the
    condition and the dropped one together), n elsewhere."""
    calls = []
    hook = modules["ema"].module.register_forward_hook(
        lambda _, inputs, out: calls.append((int(inputs[1][0]), len(inputs[0])))
    )
    try:
        yield calls
    finally:
        hook.remove()


@pytest.mark.parametrize("model, sampler", GUIDED_SAMPLERS)
def test_guidance_applies_inside_its_interval_only(model, sampler):
    module, cfg, modules = build(model, (1, 8, 8), n_classes=4)
    sampling = guided_settings(module, model, sampler, [0.2, 0.6])
    with network_calls(modules) as calls:
        module.sample(modules, cfg, torch.arange(4), torch.Generator().manual_seed(0), sampling)
    assert len(calls) == (6 if sampler == "ddim" else cfg["timesteps"])
    assert calls == [(t, 8 if 0.2 <= t / cfg["timesteps"] <= 0.6 else 4) for t, _ in calls]
    assert {rows for _, rows in calls} == {4, 8}


@pytest.mark.parametrize("model", ["ddpm", "ldm"])
def test_a_sampler_timing_times_guided_and_unguided_steps_apart(model):
    """Outside a guidance interval a step costs one network call instead of two, so scaling the first few steps
    to all of them would misstate the time: each kind is timed on its own, over at most timed_steps steps."""
    module, cfg, modules = build(model, (1, 8, 8), n_classes=4)
    for interval, kinds in (([0.2, 0.6], [4, 8]), ([0.0, 1.0], [8])):
        with network_calls(modules) as calls:
            timing = module.sampler_timings(
                modules, cfg, guided_settings(module, model, "ddim", interval), torch.arange(4), 0, timed_steps=2
            )
        samplers = timing["samplers"]
        assert set(samplers) == ({"ddim", "ancestral"} if model == "ddpm" else {"ddim"})
        for name, timed in samplers.items():
            assert timed["steps"] == (6 if name == "ddim" else cfg["timesteps"])
            assert timed["timed_steps"] == 2 * len(kinds) and timed["seconds_per_1000"] > 0
        per_kind = len(samplers) * (1 + 2)  # each sampler: one warm-up step and two timed ones
        assert sorted(rows for _, rows in calls) == [rows for rows in kinds for _ in range(per_kind)]


def test_a_sampler_timing_adds_each_kind_of_step_at_its_own_cost(monkeypatch):
    """On a clock where a step costs 1 s per network call, the timing of 4 unguided and 6 guided steps, each kind
    timed over 2 of its steps and scaled, is 4 * 1 + 6 * 2 = 16 s."""
    clock = [0.0]
    monkeypatch.setattr(diffusion.time, "perf_counter", lambda: clock[0])
    sampling = ddpm.Sampling.model_validate({"guidance": 3.0, "guidance_interval": [0.0, 0.6]})
    times = diffusion.ddim_times(100, 10)  # 99, 88, 77, 66, then 55 down to 0: guided
    assert diffusion.calls_per_step(sampling, times, 100) == (4, 6)

    def draw(steps: int, settings) -> None:
        calls = 1 if diffusion.one_network_call(settings.guidance_at(0, 100)) else 2
        clock[0] += steps * calls

    timing = diffusion.timed_sampler(draw, sampling, times, 100, 2, 1000, torch.device("cpu"))
    assert timing == {"steps": 10, "timed_steps": 4, "seconds_per_1000": 16.0}


def test_a_nan_loss_stops_with_step_and_no_checkpoint(tmp_path):
    module, cfg, modules = build("vae", (1, 8, 8))
    execution = loop.execution_on(DEVICE)
    recipe = module.recipe(modules, TINY.generative.vae, execution)
    real_step = recipe.step
    calls = []

    def poisoned(x, y, generator):
        calls.append(1)
        losses = real_step(x, y, generator)
        return losses | ({"negative_elbo": torch.tensor(float("nan"))} if len(calls) == 7 else {})

    recipe.step = poisoned
    x, y = learnable_batch()
    settings = loop.LoopSettings(steps=20, batch_size=8, checkpoint_every=10, log_every=5, seed=0)
    with pytest.raises(loop.TrainingDiverged, match=r"^vae on test: negative_elbo loss is nan at step 7;"):
        loop.run("vae on test", recipe, x, y, settings, tmp_path, "t", execution)
    assert not (tmp_path / loop.CHECKPOINT).exists()


@pytest.mark.parametrize("dvc_initialised", [False, True])
def test_training_logs_in_a_git_repo_without_commits(tmp_path, monkeypatch, dvc_initialised):
    """A fresh `git init` (with or without DVC) must neither break training nor get a DVC repo created in it."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    if dvc_initialised:
        (tmp_path / ".dvc").mkdir()
        (tmp_path / ".dvc" / "config").write_text("")
    monkeypatch.chdir(tmp_path)
    module, cfg, modules = build("vae", (1, 8, 8))
    execution = loop.execution_on(DEVICE)
    recipe = module.recipe(modules, TINY.generative.vae, execution)
    x, y = learnable_batch()
    settings = loop.LoopSettings(steps=10, batch_size=8, checkpoint_every=5, log_every=5, seed=0)
    loop.run("vae on test", recipe, x, y, settings, tmp_path / "scratch", "t", execution)
    assert (tmp_path / "scratch" / "live" / "metrics.json").exists()
    assert (tmp_path / ".dvc").exists() == dvc_initialised, "the logger must not run `dvc init`"
    assert not (tmp_path / "dvc.yaml").exists()


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("model", MODELS)
def test_a_pickle_in_place_of_the_weights_is_refused_and_does_not_run(tmp_path, model):
    from genbench import artifacts, paths
    from genbench.errors import DataError

    _, cfg, modules = build(model, (1, 8, 8))
    artifacts.write_json(tmp_path / paths.MODEL_CONFIG, cfg)
    marker = tmp_path / "payload-ran"
    torch.save({"state": _RunsCode(str(marker))}, tmp_path / paths.WEIGHTS)  # what an attacker's torch checkpoint holds
    with pytest.raises(DataError, match=r"weights.safetensors: not a readable safetensors file"):
        deep.load(model, tmp_path, DEVICE)
    assert not marker.exists()


def test_sampling_settings_shape_the_draws():
    from genbench.models import gan, vae

    labels = torch.arange(6) % 10
    _, cfg, modules = build("vae", (1, 8, 8))
    cold = vae.sample(modules, cfg, labels, torch.Generator().manual_seed(0), vae.Sampling(temperature=1e-6))
    prior_mean = modules["vae"].mean_image(torch.zeros(1, cfg["latent_dim"], device=DEVICE))
    torch.testing.assert_close(cold, prior_mean.expand_as(cold), atol=1e-5, rtol=0)
    warm = vae.sample(modules, cfg, labels, torch.Generator().manual_seed(0), vae.Sampling(temperature=1.0))
    assert warm.std(0).mean() > 10 * cold.std(0).mean()

    z = gan._truncated_normal((20_000,), 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and 0.25 < float(z.std()) < 0.32  # a normal cut at +-0.5 has spread 0.286
    _, cfg, modules = build("gan", (1, 8, 8))

    def draw(truncation):
        return gan.sample(modules, cfg, labels, torch.Generator().manual_seed(0), gan.Sampling(truncation=truncation))

    assert torch.equal(draw(0.5), draw(0.5)) and not torch.equal(draw(0.5), draw(None))


def test_the_ddpm_samples_from_the_weight_average_that_training_updates():
    _, cfg, modules = build("ddpm", (1, 8, 8), n_classes=4)
    recipe = ddpm.recipe(modules, base.settings(TINY, "ddpm"), loop.execution_on(DEVICE))
    labels, sampling = torch.arange(4), base.sampling(TINY, "ddpm")

    def draw():
        return ddpm.sample(modules, cfg, labels, torch.Generator().manual_seed(0), sampling)

    before = draw()
    recipe.step(*learnable_batch(), torch.Generator().manual_seed(0))
    after_a_step = draw()
    assert not torch.equal(before, after_a_step), "the average did not follow the training step"
    with torch.no_grad():
        for p in modules["unet"].parameters():
            p.fill_(float("nan"))
    torch.testing.assert_close(draw(), after_a_step, rtol=0, atol=0)  # the live weights are not sampled
