"""The continuous normalising flow: its likelihood against a closed form, its trace estimator, its solves in both
directions, dequantisation, a failed solve in training, and resume (on the CPU, or GENBENCH_TEST_DEVICE)."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from device_under_test import DEVICE
from test_deep_models import TINY, build, learnable_batch
from test_preemption_and_precision import assert_a_stopped_run_resumes_to_the_same_bytes, model_recipe

from genbench.errors import DataError
from genbench.models import cnf
from genbench.train import loop

TIGHT = cnf.solve_settings("dopri5", 1, 1e-8)


class LinearDynamics(torch.nn.Module):
    """f(z) = A z on the flattened image: the flow is z(1) = expm(A) z(0), its log-determinant tr(A)."""

    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.matrix = torch.nn.Parameter(matrix)

    def forward(self, t: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (z.flatten(1) @ self.matrix.T).view_as(z)


def linear_flow(levels: int = 17) -> tuple[cnf.Flow, torch.Tensor]:
    matrix = torch.tensor([[0.3, -0.5, 0.1, 0.0], [0.2, -0.4, 0.0, 0.3], [0.0, 0.1, 0.5, -0.2], [0.1, 0.0, -0.3, 0.2]])
    return cnf.Flow(LinearDynamics(matrix.double()), levels, 1e-6).double().eval(), matrix.double()


def test_the_likelihood_of_a_linear_flow_is_its_closed_form():
    flow, matrix = linear_flow()
    levels = 17
    images = torch.tensor([[0, 3, 16, 8], [5, 5, 1, 12]], dtype=torch.float64).view(2, 1, 2, 2) / (levels - 1)
    noise = torch.tensor([[0.1, 0.9, 0.5, 0.0], [0.99, 0.3, 0.7, 0.2]], dtype=torch.float64).view(2, 1, 2, 2)
    labels = torch.tensor([0, 1])
    y, log_det_logit = cnf.to_logit((images * (levels - 1) + noise) / levels, 1e-6)
    z1 = y.flatten(1) @ torch.linalg.matrix_exp(matrix).T
    log_density = -0.5 * (z1**2 + math.log(2 * math.pi)).sum(1) + torch.trace(matrix) + log_det_logit
    expected = -log_density + 4 * math.log(levels)

    exact, *_ = flow(images, labels, noise, None, TIGHT)
    torch.testing.assert_close(exact, expected, rtol=0, atol=1e-6)

    # Hutchinson's estimate, one Rademacher probe per image, is unbiased: its mean over many probes is the same.
    many = 4000
    probes = 2.0 * torch.randint(0, 2, (many, 1, 2, 2), generator=torch.Generator().manual_seed(0)).double() - 1
    estimates, *_ = flow(
        images[:1].expand(many, -1, -1, -1), labels[:1].expand(many), noise[:1].expand(many, -1, -1, -1), probes, TIGHT
    )
    standard_error = float(estimates.detach().std()) / math.sqrt(many)
    assert 0 < standard_error and abs(float(estimates.detach().mean() - expected[0])) < 4 * standard_error


def test_hutchinson_estimates_the_networks_exact_trace():
    _, _, modules = build("cnf", (1, 4, 4))
    dynamics = modules["flow"].dynamics.double()
    with torch.no_grad():
        for p in dynamics.parameters():
            p.mul_(4)  # a Jacobian far from zero
    many = 20_000
    z = torch.randn(1, 1, 4, 4, dtype=torch.float64).to(DEVICE).expand(many, -1, -1, -1).clone().requires_grad_(True)
    labels = torch.full((many,), 2, device=DEVICE)
    f = dynamics(torch.tensor(0.3), z, labels)
    exact = float(cnf.exact_trace(f, z, keep_graph=False)[0])
    probes = 2.0 * torch.randint(0, 2, z.shape, generator=torch.Generator().manual_seed(1)).double().to(DEVICE) - 1
    (probe_jacobian,) = torch.autograd.grad(f, z, probes)
    estimates = (probe_jacobian * probes).flatten(1).sum(1)
    standard_error = float(estimates.std()) / math.sqrt(many)
    assert abs(exact) > 10 * standard_error, "the test needs a trace the estimate can miss"
    assert abs(float(estimates.mean()) - exact) < 4 * standard_error


def test_sampling_solves_backwards_what_the_likelihood_solves_forwards():
    flow, _ = linear_flow()
    z = torch.randn(3, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2])
    path, evaluations = flow.generate(z, labels, TIGHT)
    assert evaluations > 2
    forwards = cnf.integrate(
        cnf._Plain(flow.dynamics, labels, [0]), path[-1], torch.tensor([0.0, 1.0], dtype=torch.float64), TIGHT
    )
    torch.testing.assert_close(forwards[-1], z, rtol=0, atol=1e-6)
    # and the linear flow's backward solve is expm(-A), the direction the closed form above takes forwards
    torch.testing.assert_close(
        path[-1].flatten(1), z.flatten(1) @ torch.linalg.matrix_exp(-linear_flow()[1]).T, rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("levels", [17, 256])
def test_a_dequantised_image_comes_back_to_its_levels(levels):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, levels, (50, 1, 8, 8), generator=generator).float() / (levels - 1)
    noise = torch.rand(images.shape, generator=generator) * 0.999
    y, _ = cnf.to_logit((images * (levels - 1) + noise) / levels, 1e-6)
    assert torch.equal(cnf.from_logit(y, 1e-6, levels), images)


SCHEDULE = loop.LoopSettings(steps=20, batch_size=16, checkpoint_every=5, log_every=5, seed=0)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signal handlers need the main thread"
)
def test_a_stopped_run_resumes_to_the_same_bytes(tmp_path):
    assert_a_stopped_run_resumes_to_the_same_bytes("cnf", SCHEDULE, tmp_path, stop_after=7)


def test_a_failed_solve_stops_training_naming_the_step_and_the_checkpoint_before_it_resumes(tmp_path, capsys):
    """Dynamics made stiff at step 13 (their weights scaled up, as a learning rate far too high leaves them): the
    adaptive solver gives up, the loop names the step, and the checkpoint of step 10 is the one a rerun takes."""
    x, y = learnable_batch(n=32)
    recipe, modules = model_recipe("cnf", solver="dopri5", tolerance=1e-4)
    real_step, calls = recipe.step, []

    def stiffened(x, y, generator):
        calls.append(1)
        if len(calls) == 13:
            with torch.no_grad():
                for p in modules["flow"].parameters():
                    p.mul_(300)
        return real_step(x, y, generator)

    recipe.step = stiffened
    stopped = r"^cnf on test: the ODE solve failed \(.+\) at step 13; the checkpoint of step 10 is kept: "
    with pytest.raises(loop.TrainingDiverged, match=stopped):
        loop.run("cnf on test", recipe, x, y, SCHEDULE, tmp_path, "t", loop.execution_on(DEVICE))
    assert torch.load(tmp_path / loop.CHECKPOINT, weights_only=True)["step"] == 10

    resumed, _ = model_recipe("cnf", solver="dopri5", tolerance=1e-4)
    capsys.readouterr()
    loop.run("cnf on test", resumed, x, y, SCHEDULE, tmp_path, "t", loop.execution_on(DEVICE))
    assert "cnf on test: resuming from the checkpoint at step 10" in capsys.readouterr().err


def test_a_failed_solve_in_sampling_is_one_line_naming_the_model():
    _, cfg, modules = build("cnf", (1, 8, 8))
    with torch.no_grad():
        for p in modules["flow"].parameters():
            p.mul_(300)
    settings = TINY.sampling.cnf.model_copy(update={"solver": "dopri5", "tolerance": 1e-6})
    with pytest.raises(DataError, match=r"^cnf: sampling: the ODE solve failed \((max_num_steps exceeded|underflow)"):
        cnf.sample(modules, cfg, torch.arange(4), torch.Generator().manual_seed(0), settings)
