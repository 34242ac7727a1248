"""The energy-based model: its Langevin sampler against a known distribution, the replay buffer, divergence in
training, resume, and the model as a classifier (on the CPU, or GENBENCH_TEST_DEVICE)."""

from __future__ import annotations

import re
import threading

import pytest
import torch
from device_under_test import DEVICE
from test_deep_models import TINY, build, learnable_batch
from test_preemption_and_precision import assert_a_stopped_run_resumes_to_the_same_bytes, model_recipe

from genbench.models import ebm
from genbench.train import loop

SCHEDULE = loop.LoopSettings(steps=20, batch_size=16, checkpoint_every=5, log_every=5, seed=0)


class Quadratic(torch.nn.Module):
    """E(x, y) = |x - mean_y|^2 / (2 sigma^2): p(x | y) is N(mean_y, sigma^2 I)."""

    def __init__(self, means: torch.Tensor, sigma: float):
        super().__init__()
        self.means, self.sigma = means, sigma

    def energy(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (x - self.means[labels].view(-1, 1, 1, 1)).pow(2).flatten(1).sum(1) / (2 * self.sigma**2)


def test_langevin_dynamics_reach_the_distribution_of_a_known_energy():
    """With step size s and noise n on a quadratic energy, each coordinate is an AR(1) process,
    x <- (1 - s / sigma^2) x + n e, whose stationary spread is n^2 / (1 - (1 - s / sigma^2)^2)."""
    sigma, step_size, noise = 0.1, 0.002, 0.02
    energy = Quadratic(torch.tensor([-0.5, 0.3]), sigma)
    labels = torch.tensor([0, 1]).repeat_interleave(2000)
    generator = torch.Generator().manual_seed(0)
    start = torch.rand((len(labels), 1, 2, 2), generator=generator) * 2 - 1
    shape = start.shape
    x = ebm.langevin(
        energy, start, labels, 400, step_size, noise, lambda k: torch.randn(shape, generator=generator)
    ).double()
    decay = 1 - step_size / sigma**2
    expected_spread = noise / (1 - decay**2) ** 0.5
    for label, mean in enumerate((-0.5, 0.3)):
        chains = x[labels == label].flatten()
        assert abs(float(chains.mean()) - mean) < 0.005
        assert abs(float(chains.std()) / expected_spread - 1) < 0.05


def test_the_buffer_gives_each_image_a_slot_of_its_class_no_two_the_same():
    buffer = ebm.ReplayBuffer(4, 8, (1, 2, 2), torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 1, 3, 1, 0, 1, 1, 1, 1, 1, 2])  # eight of class 1: every slot of the class
    slots = buffer.slots(labels, torch.Generator().manual_seed(1))
    pairs = set(zip(labels.tolist(), slots.tolist()))
    assert len(pairs) == len(labels) and all(0 <= s < 8 for s in slots.tolist())
    assert sorted(s for c, s in pairs if c == 1) == list(range(8))


def test_the_chains_the_step_runs_are_written_back_to_the_buffer():
    _, _, modules = build("ebm", (1, 8, 8), n_classes=4)
    recipe = ebm.recipe(modules, TINY.generative.ebm, loop.execution_on(DEVICE))
    buffer = recipe.extra_state["replay_buffer"]
    before = buffer.images.clone()
    x, y = learnable_batch(n=16)
    recipe.step(x, y, torch.Generator().manual_seed(0))
    changed = (buffer.images != before).flatten(2).any(2)  # (class, slot)
    assert changed.sum() == 16 and all(changed[c].sum() == (y.cpu() == c).sum() for c in range(4))


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signal handlers need the main thread"
)
def test_a_stopped_run_resumes_to_the_same_bytes(tmp_path):
    """The replay buffer is part of the checkpoint: without it the resumed chains would start elsewhere."""
    straight, resumed = assert_a_stopped_run_resumes_to_the_same_bytes("ebm", SCHEDULE, tmp_path, stop_after=7)
    assert torch.equal(straight.extra_state["replay_buffer"].images, resumed.extra_state["replay_buffer"].images)


def test_a_learning_rate_that_diverges_stops_naming_the_step_and_the_checkpoint_before_it_resumes(tmp_path, capsys):
    """Adam at a learning rate of 2 drives the energies past max_energy within a few steps (the same run at 0.001
    trains through them); the loop names the step, and the last checkpoint before it is the one a rerun takes."""
    x, y = learnable_batch(n=32)
    schedule = loop.LoopSettings(steps=12, batch_size=16, checkpoint_every=2, log_every=2, seed=0)
    calm, _ = model_recipe("ebm", lr=0.001)
    loop.run("ebm on test", calm, x, y, schedule, tmp_path / "calm", "t", loop.execution_on(DEVICE))

    recipe, _ = model_recipe("ebm", lr=2.0)
    with pytest.raises(loop.TrainingDiverged) as stopped:
        loop.run("ebm on test", recipe, x, y, schedule, tmp_path, "t", loop.execution_on(DEVICE))
    line = str(stopped.value)
    found = re.fullmatch(
        r"ebm on test: the energies ran away \(mean energy of the real images \S+, of the chains \S+; the limit "
        r"max_energy is 1000\) at step (\d+); the checkpoint of step (\d+) is kept: lower the learning rate or raise "
        r"the regularisation",
        line,
    )
    assert found, line
    failed_at, kept = int(found[1]), int(found[2])
    assert kept >= 2 and kept == (failed_at - 1) // 2 * 2
    assert torch.load(tmp_path / loop.CHECKPOINT, weights_only=True)["step"] == kept

    resumed, _ = model_recipe("ebm", lr=2.0)
    capsys.readouterr()
    with pytest.raises(loop.TrainingDiverged, match=f"at step {failed_at};"):  # the same run: the same steps
        loop.run("ebm on test", resumed, x, y, schedule, tmp_path, "t", loop.execution_on(DEVICE))
    assert f"ebm on test: resuming from the checkpoint at step {kept}" in capsys.readouterr().err


def test_its_logits_classify_what_it_was_trained_on():
    recipe, modules = model_recipe("ebm", lr=0.003)
    x, y = learnable_batch(n=64)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        recipe.step(x[:16], y[:16], generator)
    cfg = {"channels": 1, "height": 8, "width": 8}
    accuracy = (ebm.classify(modules, cfg, x).argmax(1).cpu() == y.cpu()).float().mean()
    assert accuracy > 0.9
