"""cnf: a class-conditional continuous normalising flow (FFJORD, Grathwohl et al., 2019), kept cheap to solve by
RNODE's regularisers (Finlay et al., 2020), its ODE solved by torchdiffeq.

Images on their K = pixel_max + 1 levels are dequantised by uniform noise and carried to logit space, FFJORD's
preprocessing: v = (level + u) / K in [0, 1), y = logit(alpha + (1 - 2 alpha) v). An ODE dz/dt = f(z, t, class)
carries y at t = 0 to z(1), whose prior is N(0, I); by the instantaneous change of variables
log p(y) = log N(z(1)) + the integral of tr(df/dz) dt: an exact likelihood, up to the solver's tolerance. Training
estimates the trace by Hutchinson's estimator (one Gaussian probe per image, as FFJORD) and adds RNODE's kinetic
energy, the integral of ||f||^2, and Jacobian norm, the integral of ||e^T df/dz||^2, each per dimension and
weighted: they keep the paths straight, so few function evaluations solve them. Samples solve the ODE backwards
from z(1) ~ N(0, T^2 I), T the temperature.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genbench.device import images_per_call
from genbench.errors import DataError
from genbench.models.base import Capability, Execution, Kind, Recipe, StepFailed
from genbench.schema import GenerativeParams, PositiveFloat, Section
from genbench.views import Context, Grid

KIND = Kind.GENERATIVE
CAPABILITIES = frozenset({Capability.VIEWS, Capability.LIKELIHOOD, Capability.SAMPLER_TIMINGS, Capability.FITS_DATA})

Solver = Literal["dopri5", "rk4", "midpoint", "euler"]
ADAPTIVE = {"dopri5"}
# An adaptive solve taking more steps than this has failed (stiff dynamics); its error names it.
MAX_ADAPTIVE_STEPS = 2000
TRAJECTORY_FRAMES = 8


class Params(GenerativeParams):
    """generative.cnf"""

    steps: int = Field(750, ge=1, le=10_000_000, description="optimiser steps")
    lr: PositiveFloat = Field(1e-3, description="learning rate (Adam)")
    hidden: int = Field(256, ge=4, le=8192, description="width of the dynamics' hidden layers")
    layers: int = Field(2, ge=1, le=16, description="hidden layers of the dynamics")
    class_channels: int = Field(16, ge=1, le=1024, description="size of the class embedding every layer sees")
    alpha: float = Field(1e-6, gt=0, lt=0.5, description="margin that keeps the logit of a dequantised pixel finite")
    kinetic_weight: float = Field(0.01, ge=0, description="RNODE's kinetic energy penalty, per dimension")
    jacobian_weight: float = Field(0.01, ge=0, description="RNODE's Jacobian Frobenius penalty, per dimension")
    solver: Solver = Field("rk4", description="the training solve: a fixed-step method, or dopri5 (adaptive)")
    solver_steps: int = Field(4, ge=1, le=10_000, description="steps of a fixed-step solver over t in [0, 1]")
    tolerance: PositiveFloat = Field(1e-4, le=1, description="an adaptive solver's atol and rtol")
    adjoint: bool = Field(False, description="backpropagate by the adjoint ODE (memory flat in the steps) or directly")


class Sampling(Section):
    """sampling.cnf"""

    temperature: float = Field(1.0, gt=0, le=10, description="scale of the prior's spread; below 1 trades diversity")
    solver: Solver = Field("dopri5", description="the backward solve from noise to image")
    solver_steps: int = Field(4, ge=1, le=10_000, description="steps of a fixed-step solver")
    tolerance: PositiveFloat = Field(1e-5, le=1, description="an adaptive solver's atol and rtol")


class Dynamics(nn.Module):
    """f(z, t, class) on the flattened image: linear layers that each see t and the class embedding beside their
    input (FFJORD's ConcatLinear), with softplus between them, smooth as an ODE's right-hand side must be. On two
    CPU cores, a function evaluation with its vector-Jacobian product on 128 digits took 0.8 ms with two layers
    of 256, and 17 ms with a stack of three 64-channel 3x3 convolutions (FFJORD's ConcatConv2d)."""

    def __init__(self, dims: int, hidden: int, layers: int, n_classes: int, class_channels: int):
        super().__init__()
        self.class_embedding = nn.Embedding(n_classes, class_channels)
        widths = [dims, *[hidden] * layers, dims]
        self.linears = nn.ModuleList(
            nn.Linear(d_in + 1 + class_channels, d_out) for d_in, d_out in zip(widths[:-1], widths[1:])
        )

    def forward(self, t: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # The embedding is looked up at every evaluation: the adjoint solve differentiates each one anew.
        time, condition = t.to(z.dtype).expand(len(z), 1), self.class_embedding(labels).to(z.dtype)
        h = z.flatten(1)
        for i, linear in enumerate(self.linears):
            h = linear(torch.cat([h, time, condition], dim=1))
            if i < len(self.linears) - 1:
                h = F.softplus(h)
        return h.view_as(z)


class _Augmented(nn.Module):
    """The ODE torchdiffeq solves: the state, minus the trace's running integral, and RNODE's two running
    integrals. `probe` None: the exact trace, one vector-Jacobian product per dimension."""

    def __init__(self, dynamics: Dynamics, labels: torch.Tensor, probe: torch.Tensor | None, counter: list[int]):
        super().__init__()
        self.dynamics, self.labels, self.probe, self.counter = dynamics, labels, probe, counter

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        self.counter[0] += 1
        z = state[0]
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.requires_grad_(True)
            f = self.dynamics(t, z, self.labels)
            keep_graph = torch.is_grad_enabled() and self.training
            if self.probe is None:
                trace, probe_jacobian = exact_trace(f, z, keep_graph), torch.zeros_like(f)
            else:
                (probe_jacobian,) = torch.autograd.grad(f, z, self.probe, create_graph=keep_graph)
                trace = (probe_jacobian * self.probe).flatten(1).sum(1)
        per_image = f.flatten(1)
        return f, -trace, per_image.pow(2).sum(1), probe_jacobian.flatten(1).pow(2).sum(1)


class _Plain(nn.Module):
    """The ODE alone, for sampling."""

    def __init__(self, dynamics: Dynamics, labels: torch.Tensor, counter: list[int]):
        super().__init__()
        self.dynamics, self.labels, self.counter = dynamics, labels, counter

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.counter[0] += 1
        return self.dynamics(t, z, self.labels)


def exact_trace(f: torch.Tensor, z: torch.Tensor, keep_graph: bool) -> torch.Tensor:
    """tr(df/dz) per image, one dimension at a time."""
    flat = f.flatten(1)
    trace = torch.zeros(len(f), dtype=f.dtype, device=f.device)
    for d in range(flat.shape[1]):
        (row,) = torch.autograd.grad(flat[:, d].sum(), z, retain_graph=True, create_graph=keep_graph)
        trace = trace + row.flatten(1)[:, d]
    return trace


class Flow(nn.Module):
    """The whole solve from data to noise, one module, so DistributedDataParallel sees one forward per step.
    `levels` and `alpha` fix its data space: the pixel levels dequantisation spreads over, the logit's margin."""

    def __init__(self, dynamics: Dynamics, levels: int, alpha: float):
        super().__init__()
        self.dynamics, self.levels, self.alpha = dynamics, levels, alpha

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        noise: torch.Tensor,
        probe: torch.Tensor | None,
        solve: dict,
        adjoint: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """-log p of the images dequantised by `noise` (uniform in [0, 1)), per image, in nats on the scale of the
        pixel levels (divided by the dimensions and ln 2: the bits per dimension papers report); the kinetic and
        Jacobian integrals per image; and the function evaluations the solve took."""
        y, log_det = to_logit((torch.round(images * (self.levels - 1)) + noise) / self.levels, self.alpha)
        counter = [0]
        func = _Augmented(self.dynamics, labels, probe, counter)
        func.train(self.training)
        zeros = torch.zeros(len(y), dtype=y.dtype, device=y.device)
        times = torch.tensor([0.0, 1.0], dtype=y.dtype, device=y.device)
        z, minus_trace, kinetic, jacobian = (
            end[-1] for end in integrate(func, (y, zeros, zeros, zeros), times, solve, adjoint)
        )
        log_density = standard_normal_log_density(z) - minus_trace + log_det
        return -log_density + images[0].numel() * math.log(self.levels), kinetic, jacobian, counter[0]

    def generate(self, z: torch.Tensor, labels: torch.Tensor, solve: dict, times: torch.Tensor | None = None):
        """Logit-space points solved backwards from z at t = 1 to t = 0 (or at each of `times`, from 1 down to 0),
        and the function evaluations the solve took."""
        counter = [0]
        func = _Plain(self.dynamics, labels, counter)
        if times is None:
            times = torch.tensor([1.0, 0.0], dtype=z.dtype, device=z.device)
        path = integrate(func, z, times, solve)
        return path, counter[0]


def solve_settings(solver: str, solver_steps: int, tolerance: float) -> dict:
    """torchdiffeq's method and options for a solver setting."""
    if solver in ADAPTIVE:
        return {
            "method": solver,
            "atol": tolerance,
            "rtol": tolerance,
            "options": {"max_num_steps": MAX_ADAPTIVE_STEPS},
        }
    return {"method": solver, "options": {"step_size": 1.0 / solver_steps}}


def integrate(func: nn.Module, state, times: torch.Tensor, solve: dict, adjoint: bool = False):
    """torchdiffeq's solution at `times`; a failed solve (step size underflow, a non-finite state, too many steps)
    raises StepFailed with torchdiffeq's reason."""
    from torchdiffeq import odeint, odeint_adjoint

    try:
        if adjoint:
            params = tuple(p for p in func.parameters() if p.requires_grad)
            return odeint_adjoint(func, state, times, adjoint_params=params, **solve)
        return odeint(func, state, times, **solve)
    except AssertionError as e:  # torchdiffeq reports a failed solve by assert
        raise StepFailed(f"the ODE solve failed ({str(e).splitlines()[0][:120]})") from None


# ---------------------------------------------------------------- logit space


def to_logit(v: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """y = logit(alpha + (1 - 2 alpha) v) and log |dy/dv| summed per image."""
    s = alpha + (1 - 2 * alpha) * v
    y = torch.log(s) - torch.log1p(-s)
    log_det = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
    return y, log_det


def from_logit(y: torch.Tensor, alpha: float, levels: int) -> torch.Tensor:
    """The pixel level each point of logit space falls in, as an image in [0, 1]: dequantisation undone."""
    v = (torch.sigmoid(y) - alpha) / (1 - 2 * alpha)
    return torch.floor(v * levels).clamp(0, levels - 1) / (levels - 1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    return (-0.5 * (z.pow(2) + math.log(2 * math.pi))).flatten(1).sum(1)


# ---------------------------------------------------------------- the contract


def config(params: Params, shape: tuple[int, int, int], n_classes: int) -> dict:
    channels, height, width = shape
    return {
        "channels": channels,
        "height": height,
        "width": width,
        "hidden": params.hidden,
        "layers": params.layers,
        "class_channels": params.class_channels,
        "alpha": params.alpha,
        "n_classes": n_classes,
    }


def fit_config(cfg: dict, params: Params, images, labels, classes, dataset, captions, pixel_max: int) -> dict:
    """The pixel levels the images come on, which dequantisation spreads over."""
    return cfg | {"pixel_max": pixel_max}


def build(cfg: dict) -> dict[str, nn.Module]:
    dims = cfg["channels"] * cfg["height"] * cfg["width"]
    dynamics = Dynamics(dims, cfg["hidden"], cfg["layers"], cfg["n_classes"], cfg["class_channels"])
    return {"flow": Flow(dynamics, cfg["pixel_max"] + 1, cfg["alpha"])}


def recipe(modules: dict[str, nn.Module], params: Params, run: Execution) -> Recipe:
    """Adam on the bits per dimension of the dequantised batch, Hutchinson's trace, plus RNODE's penalties. The
    solve runs in fp32 in every precision: an adaptive solver's error control and the trace need it."""
    flow = modules["flow"]
    network = run.parallel(flow)
    optimizer = torch.optim.Adam(flow.parameters(), lr=params.lr)
    solve = solve_settings(params.solver, params.solver_steps, params.tolerance)

    def step(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        flow.train()
        noise = torch.rand(x.shape, generator=generator).to(x.device)
        probe = torch.randn(x.shape, generator=generator).to(x.device)
        x, y, noise, probe = run.share(x, y, noise, probe)
        dims = x[0].numel()
        nats, kinetic, jacobian, evaluations = network(x, y, noise, probe, solve, params.adjoint)
        bits = nats.mean() / (dims * math.log(2))
        loss = bits + (params.kinetic_weight * kinetic.mean() + params.jacobian_weight * jacobian.mean()) / dims
        optimizer.zero_grad(set_to_none=True)
        run.backward(loss)
        run.step(optimizer)
        return {
            "bits_per_dim": bits.detach(),
            "kinetic": kinetic.mean().detach() / dims,
            "jacobian": jacobian.mean().detach() / dims,
            "function_evaluations": torch.tensor(float(evaluations)),
        }

    return Recipe(
        modules={"flow": flow}, optimizers={"adam": optimizer}, step=step, diagnostics=("function_evaluations",)
    )


def sampling_solve(sampling: Sampling) -> dict:
    return solve_settings(sampling.solver, sampling.solver_steps, sampling.tolerance)


def prior_draw(cfg: dict, n: int, temperature: float, generator: torch.Generator, device) -> torch.Tensor:
    shape = (n, cfg["channels"], cfg["height"], cfg["width"])
    return (temperature * torch.randn(shape, generator=generator)).to(device)


@torch.no_grad()
def sample(
    modules: dict[str, nn.Module], cfg: dict, labels: torch.Tensor, generator: torch.Generator, sampling: Sampling
) -> torch.Tensor:
    """Images in [0, 1] for `labels`: prior draws solved backwards to logit space, then to their pixel levels."""
    flow = modules["flow"].eval()
    device = next(flow.parameters()).device
    z = prior_draw(cfg, len(labels), sampling.temperature, generator, device)
    path, _ = _solved("sampling", flow.generate, z, labels.to(device), sampling_solve(sampling))
    return from_logit(path[-1], flow.alpha, flow.levels)


def _solved(what: str, solve, *args):
    try:
        return solve(*args)
    except StepFailed as e:
        raise DataError(f"cnf: {what}: {e}; tighten or loosen its solver's tolerance, or retrain") from None


def views(modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, context: Context) -> list[Grid]:
    """The flow carrying noise to an image, one row per class."""
    flow = modules["flow"].eval()
    labels = torch.arange(len(context.classes), device=context.device)
    z = prior_draw(cfg, len(labels), sampling.temperature, context.generator, context.device)
    times = torch.linspace(1, 0, TRAJECTORY_FRAMES, device=context.device)
    with torch.no_grad():
        path, _ = _solved("its view", flow.generate, z, labels, sampling_solve(sampling), times)
    frames = ((torch.sigmoid(path) - flow.alpha) / (1 - 2 * flow.alpha)).clamp(0, 1).transpose(0, 1)
    return [
        Grid(
            "flow",
            frames.float().cpu().numpy(),
            list(context.classes),
            column_labels=[f"{t:.2f}" for t in times.tolist()],
            x_label="ODE time t (1: the prior's noise, 0: the image)",
            title=f"cnf flow, {context.dataset}",
            alt=f"CNF flow from noise to images on {context.dataset}",
            caption=f"CNF: the ODE carrying a draw of the prior (left) to a sample (right), one row per class, solved "
            f"by {sampling.solver}; shown through the inverse logit, before the pixel levels are taken.",
        )
    ]


def likelihood(
    modules: dict[str, nn.Module],
    cfg: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    pixel_max: int,
    evaluate,
) -> dict:
    """-log p of each test image, dequantised once, from an adaptive solve at evaluate.cnf_tolerance, with the exact
    trace or Hutchinson's (one Rademacher probe per image: unbiased, its noise inside the interval over images)."""
    flow = modules["flow"].eval()
    solve = solve_settings("dopri5", 1, evaluate.cnf_tolerance)
    exact = evaluate.cnf_trace == "exact"
    batch = images_per_call(images.device, *images.shape[-2:])
    nats = []
    for i in range(0, len(images), batch):
        x, y = images[i : i + batch], labels[i : i + batch].clamp(min=0)
        noise = torch.rand(x.shape, generator=generator).to(x.device)
        probe = None if exact else (2.0 * torch.randint(0, 2, x.shape, generator=generator) - 1).to(x.device)
        with torch.no_grad():
            per_image, *_ = _solved("the likelihood", flow, x, y, noise, probe, solve)
        nats.append(per_image.double())
    trace = "the exact trace" if exact else "Hutchinson's trace, one Rademacher probe per image (unbiased)"
    note = (
        f"exact: the change of variables solved by dopri5 at tolerance {evaluate.cnf_tolerance:g}, {trace}; test "
        f"images dequantised by uniform noise over their {flow.levels} levels, in logit space (alpha "
        f"{flow.alpha:g}), as FFJORD; a bound on the discrete likelihood, as every dequantised figure"
    )
    return {"kind": "exact", "note": note, "nats": torch.cat(nats)}


def sampler_timings(
    modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, labels: torch.Tensor, seed: int, timed_steps: int
) -> dict:
    """Seconds per 1000 images and function evaluations of the sampling solve, and of a fixed-step RK4 solve of
    sampling.solver_steps steps beside an adaptive one. A solve is timed whole: an adaptive solver's steps differ."""
    flow = modules["flow"].eval()
    device = next(flow.parameters()).device
    solvers = {sampling.solver: sampling}
    if sampling.solver in ADAPTIVE:
        solvers["rk4"] = sampling.model_copy(update={"solver": "rk4"})
    samplers = {}
    for name, settings in solvers.items():
        z = prior_draw(cfg, len(labels), settings.temperature, torch.Generator().manual_seed(seed), device)
        started = time.perf_counter()
        with torch.no_grad():
            _, evaluations = _solved("timing", flow.generate, z, labels.to(device), sampling_solve(settings))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        label = (
            f"{name}, tolerance {settings.tolerance:g}"
            if name in ADAPTIVE
            else f"{name}, {settings.solver_steps} steps"
        )
        samplers[label] = {
            "steps": evaluations,
            "timed_steps": evaluations,
            "seconds_per_1000": 1000 * seconds / len(labels),
        }
    return {"n_images": len(labels), "device": str(device), "samplers": samplers}
