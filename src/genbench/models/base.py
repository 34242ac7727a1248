"""What a model is to the pipeline: its kind, the contract of each kind, and the settings it reads.

A model is one module, genbench/models/<name>.py, and one line in models/registry.py. The module
declares its KIND, owns the schema of the params.yaml sections it reads (`Params`, and for a
generative model `Sampling`) and provides its kind's functions (the Protocols below). Hooks beyond
the contract are declared in CAPABILITIES, so callers ask the module what it can do instead of
probing for attributes.

Stages reach a model through `module_of(name)`, never through the registry: the registry is read
where every model is needed at once (the params check, the DAG), so registering a model reruns
no stage of another.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from genbench.errors import ConfigError, GenbenchError
from genbench.schema import GenerativeParams, Section

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from genbench.data.captions import CaptionSpec
    from genbench.views import Context, Grid


class StepFailed(GenbenchError):
    """A model's computation that cannot go on (an ODE solve that failed); the training loop names the step."""


class Kind(enum.Enum):
    CLASSIC = "classic"  # scikit-learn or XGBoost on flattened images: models.classic lists them
    CLASSIFIER = "classifier"  # a deep classifier trained by the shared loop; its features are the feature space
    GENERATIVE = "generative"  # a deep generative model trained by the shared loop: models.generative lists them


class Capability(enum.Enum):
    VIEWS = "views"  # generative: figures of how it generates, drawn at sample time
    LIKELIHOOD = "likelihood"  # generative: a likelihood or bound on the test images
    SAMPLER_TIMINGS = "sampler_timings"  # generative: seconds per 1000 images of each of its samplers
    FIGURES = "figures"  # classic: figures of the fitted model (XGBoost's pixel importance)
    FITS_DATA = "fits_data"  # deep: its config also holds what the training images fix (a tokenizer, thresholds)
    PROMPTS = "prompts"  # generative: samples follow text prompts, the captions data/captions.py measures
    CLASSIFIES = "classifies"  # generative: its network also classifies; its accuracy joins the classifier table


class ClassicModel(Protocol):
    KIND: Kind  # Kind.CLASSIC
    Params: type[Section]  # its section classic.<name>
    CAPABILITIES: frozenset[Capability]

    def build(self, settings: Section, seed: int) -> Any: ...  # an unfitted estimator
    def max_train_samples(self, settings: Section) -> int | None: ...  # a stratified cap on the training rows
    def save(self, estimator: Any, model_dir: Any) -> None: ...
    def load(self, model_dir: Any) -> Any: ...


class DeepModel(Protocol):
    """What the shared training loop needs of every deep model (classifier or generative)."""

    KIND: Kind
    Params: type[Section]
    CAPABILITIES: frozenset[Capability]

    def config(self, settings: Section, shape: tuple[int, int, int], n_classes: int) -> dict: ...  # what build() needs
    def build(self, cfg: dict) -> dict[str, nn.Module]: ...  # the networks, untrained
    def recipe(self, modules: dict[str, nn.Module], settings: Section, run: Execution) -> Recipe: ...


class GenerativeModel(DeepModel, Protocol):
    Params: type[GenerativeParams]  # its section generative.<name>; is_conditional() says whether samples follow labels
    Sampling: type[Section]  # its section sampling.<name>: changing it never retrains

    def sample(
        self,
        modules: dict[str, nn.Module],
        cfg: dict,
        labels: torch.Tensor,
        generator: torch.Generator,
        sampling: Section,
    ) -> torch.Tensor: ...  # images in [0, 1], one per label


# The optional hooks, one Protocol each; a module declares them in CAPABILITIES.
class HasViews(Protocol):
    def views(self, modules: dict[str, nn.Module], cfg: dict, sampling: Section, context: Context) -> list[Grid]: ...


class HasLikelihood(Protocol):
    def likelihood(
        self,
        modules: dict[str, nn.Module],
        cfg: dict,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
        pixel_max: int,
        evaluate: Section,
    ) -> dict | None: ...  # {kind, note, nats per image}


class HasSamplerTimings(Protocol):
    def sampler_timings(
        self,
        modules: dict[str, nn.Module],
        cfg: dict,
        sampling: Section,
        labels: torch.Tensor,
        seed: int,
        timed_steps: int,
    ) -> dict: ...  # {n_images, device, samplers: {name: {steps, seconds_per_1000}}}


class HasFigures(Protocol):
    def figures(
        self, estimator: Any, image_shape: tuple[int, int, int]
    ) -> dict[str, np.ndarray]: ...  # {name: (H, W) values}


class Classifies(Protocol):
    def classify(self, modules: dict[str, nn.Module], cfg: dict, images: torch.Tensor) -> torch.Tensor: ...  # logits


class FitsData(Protocol):
    def fit_config(
        self,
        cfg: dict,
        settings: Section,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: list[str],
        dataset: str,
        captions: list[str] | None,
        pixel_max: int,
    ) -> dict: ...  # cfg and what the training images (their levels, the captions a dataset brought) fix, as JSON


class HasPrompts(Protocol):
    def caption_spec(self, cfg: dict) -> CaptionSpec: ...  # what its captions say and how they are measured
    def check_prompt(self, cfg: dict, text: str) -> None: ...  # a ConfigError naming what the model cannot take
    def caption_rows(self, cfg: dict, captions: list[str]) -> torch.Tensor: ...  # each given caption's row in cfg

    def sample_prompts(
        self, modules: dict[str, nn.Module], cfg: dict, texts: list[str], generator: torch.Generator, sampling: Section
    ) -> torch.Tensor: ...  # images in [0, 1], one per prompt


HOOKS = {
    Capability.VIEWS: ("views",),
    Capability.LIKELIHOOD: ("likelihood",),
    Capability.SAMPLER_TIMINGS: ("sampler_timings",),
    Capability.FIGURES: ("figures",),
    Capability.FITS_DATA: ("fit_config",),
    Capability.CLASSIFIES: ("classify",),
    Capability.PROMPTS: ("caption_spec", "check_prompt", "caption_rows", "sample_prompts"),
}
REQUIRED = {
    Kind.CLASSIC: ("Params", "build", "max_train_samples", "save", "load"),
    Kind.CLASSIFIER: ("Params", "config", "build", "recipe"),
    Kind.GENERATIVE: ("Params", "Sampling", "config", "build", "recipe", "sample"),
}


class Execution(Protocol):
    """What a recipe's step runs with (train/loop.py makes it): the device, the precision's autocast and
    gradient scaler, and across several ranks DistributedDataParallel and this rank's share of a batch."""

    device: torch.device

    def autocast(self) -> Any: ...
    def backward(self, loss: torch.Tensor) -> None: ...
    def unscale(self, optimizer: torch.optim.Optimizer) -> None: ...
    def step(self, optimizer: torch.optim.Optimizer) -> None: ...
    def parallel(self, module: nn.Module) -> nn.Module: ...  # call the module through this in the step
    def share(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]: ...  # this rank's rows of whole-batch draws
    def gather(self, share: torch.Tensor) -> torch.Tensor: ...  # the whole batch's rows of a share's result, every rank


@dataclass
class Recipe:
    """What a deep model gives the loop. `step(x, y, generator)` runs one optimisation step on the whole
    batch (x, y), drawing its random numbers for the whole batch and computing on its share
    (Execution.share), and returns its losses."""

    modules: dict[str, Any]  # name -> nn.Module
    optimizers: dict[str, Any]  # name -> torch.optim.Optimizer
    step: Callable[..., dict[str, Any]]
    # Anything else with state_dict()/load_state_dict() to checkpoint: EMA weights, LR schedules.
    extra_state: dict[str, Any] = field(default_factory=dict)
    # Keys of step()'s dict that are not losses but counts (an ODE solve's function evaluations): logged apart.
    diagnostics: tuple[str, ...] = ()
    # The training split in another form for the steps from `recode_from_step` on: `recode(images, labels)`
    # returns it, row for row, as step() then takes it (the ldm's latents, encoded once by its frozen
    # autoencoder rather than at every step). The loop calls it once, on reaching that step or on resuming
    # past it. None: the images throughout.
    recode: Callable[[Any, Any], tuple[Any, Any]] | None = None
    recode_from_step: int = 0


def module_of(name: str) -> ModuleType:
    """The module of a model listed in params.yaml (the params check has made sure it is registered)."""
    module = importlib.import_module(f"{__package__}.{name}")
    problem = contract_problem(module)
    if problem:
        raise ConfigError(f"model {name}: {problem}")
    return module


def contract_problem(module: ModuleType) -> str | None:
    """Why a module does not keep its kind's contract, or None."""
    kind = getattr(module, "KIND", None)
    if not isinstance(kind, Kind):
        return f"{module.__name__} declares no KIND (a models.base.Kind)"
    needed = [*REQUIRED[kind], *(hook for c in getattr(module, "CAPABILITIES", ()) for hook in HOOKS[c])]
    missing = [name for name in needed if not hasattr(module, name)]
    return (
        f"{module.__name__} lacks {', '.join(missing)}, which a {kind.value} model with its capabilities provides"
        if missing
        else None
    )


def has(module: ModuleType, capability: Capability) -> bool:
    return capability in module.CAPABILITIES


def config_for(
    module: ModuleType,
    settings: Section,
    images,
    labels,
    classes: list[str],
    dataset: str,
    captions: list[str] | None,
    pixel_max: int,
) -> dict:
    """What build() needs of a deep model trained on `images` (N, C, H, W) on pixel_max + 1 levels, `labels` and,
    where the dataset brought its own, `captions`."""
    cfg = module.config(settings, tuple(images.shape[1:]), len(classes))
    if has(module, Capability.FITS_DATA):
        cfg = module.fit_config(cfg, settings, images, labels, classes, dataset, captions, pixel_max)
    return cfg


def training_labels(module: ModuleType, cfg: dict, labels: torch.Tensor, captions: list[str] | None) -> torch.Tensor:
    """What the training loop draws with each image: its label, and for a model that follows prompts on a dataset
    that brought captions, the row of its caption too, as (N, 2)."""
    if captions is None or not has(module, Capability.PROMPTS):
        return labels
    import torch

    return torch.stack([labels, module.caption_rows(cfg, captions).to(labels.device)], dim=1)


def training_section(name: str, kind: Kind) -> str:
    """The params.yaml key a model's training reads."""
    return {Kind.CLASSIC: f"classic.{name}", Kind.CLASSIFIER: name, Kind.GENERATIVE: f"generative.{name}"}[kind]


def settings(params, name: str, module: ModuleType | None = None) -> Section:
    """A model's training settings, validated by its own schema (the params check has seen them whole)."""
    module = module or module_of(name)
    key = training_section(name, module.KIND)
    return validated(module.Params, params.section(key), key)


def sampling(params, name: str, module: ModuleType | None = None) -> Section:
    """A generative model's sampling settings: sampling.<name>."""
    module = module or module_of(name)
    return validated(module.Sampling, params.section(f"sampling.{name}"), f"sampling.{name}")


def validated(schema: type[Section], raw: dict | Section, key: str) -> Section:
    """`raw` (a section as given, or one validated whole by genbench/validate.py) by `schema`."""
    from pydantic import ValidationError

    if isinstance(raw, schema):
        return raw
    if isinstance(raw, Section):
        raw = raw.model_dump()
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join([key, *map(str, first["loc"])])
        raise ConfigError(f"params.yaml: {where}: {first['msg']}") from None
