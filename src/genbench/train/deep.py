"""train@D-M for the deep models (the featurenet and the generative ones): the shared loop on the whole training
split, with the settings tune@D-M chose (or params.yaml's, as that file holds them without a search)."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import torch

from genbench import artifacts, device, gpus, paths, records
from genbench.config import Params, canonical_json
from genbench.data import splits
from genbench.errors import GenbenchError
from genbench.models import base, deep
from genbench.train import distributed, loop, precision


def stage(params: Params, io) -> dict | int:
    """Train on this process, or with train.processes > 1 start the ranks that do and return their exit
    code (the main rank writes the timing record)."""
    if distributed.must_launch(params.train.processes):
        return distributed.launch(params.train.processes, list(io.argv))
    world = distributed.current()
    try:
        figures = run(
            params,
            io.dataset,
            io.model,
            io.seed,
            io.input("data"),
            io.input("meta"),
            io.input("settings"),
            io.output("weights").parent,
            io.output("summary").parent,  # dvclive's folder: its summary and its curves
            paths.checkpoint_dir(io.dataset, io.model, io.seed),  # scratch space, not an output
        )
    except GenbenchError as e:
        e.quiet = not world.is_main  # every rank meets the same error; one says it
        raise
    return figures | gpus.record() if world.is_main else 0


def run(
    params: Params,
    dataset: str,
    model: str,
    seed: int,
    data_path: Path,
    meta_path: Path,
    settings_path: Path,
    model_dir: Path,
    log_dir: Path,
    scratch: Path,
) -> dict:
    """Train and save the model; returns the run's timings, which stay out of its outputs."""
    from safetensors.torch import save

    module = base.module_of(model)
    tuned = records.read(settings_path, records.TunedSettings)
    settings = records.validate(settings_path, tuned.settings, module.Params)
    world = distributed.current()
    on = device.resolve(params.train.device, world.local_rank if world.size > 1 else None)
    device.configure_torch(on, params.train.threads)
    execution = loop.Execution(on, precision.Precision(precision.resolve(params.train.precision, on), on), world)
    meta = records.read(meta_path, records.DatasetMeta)
    classes = meta.classes
    arrays = splits.load(data_path, ("train",), n_classes=len(classes))
    # The datasets are small: keep them on the device, in the layout its convolutions run fastest in.
    images = torch.from_numpy(arrays["x_train"]).to(on).contiguous(memory_format=device.memory_format(on))
    labels = torch.from_numpy(arrays["y_train"]).to(on)
    captions = splits.captions(data_path, "train")

    cfg = base.config_for(module, settings, images, labels, classes, dataset, captions, meta.pixel_max)
    labels = base.training_labels(module, cfg, labels, captions)
    run_id = loop.fingerprint(
        canonical_json(settings),
        str(seed),
        str(params.train.threads),
        on.type,
        artifacts.sha256_of(data_path),
        *(inspect.getsource(code) for code in (module, loop, precision, distributed)),
    )
    schedule = loop.LoopSettings(
        settings.steps, settings.batch_size, params.train.checkpoint_every, params.train.log_every, seed
    )
    recipe, stats = fit(
        module,
        settings,
        cfg,
        images,
        labels,
        schedule,
        execution,
        scratch,
        run_id,
        f"{model} on {dataset}, seed {seed}",
    )
    if not world.is_main:
        return stats

    segments = stats.pop("segments")
    with artifacts.atomic_directory(model_dir) as staging:
        artifacts.write_bytes(
            staging / paths.WEIGHTS, save(deep.state_of(recipe.modules))
        )  # in memory first: OS errors stay OSErrors
        artifacts.write_json(staging / paths.MODEL_CONFIG, cfg)
        artifacts.write_json(
            staging / paths.TRAIN_INFO,
            {
                "device": on.type,
                "device_name": device.name_of(on),
                "precision": segments[-1]["precision"],
                "processes": world.size,
                "segments": segments,
                "steps": settings.steps,
                "n_train": int(len(labels)),
            },
        )
    with artifacts.atomic_directory(log_dir) as staging:
        shutil.copytree(scratch / "live", staging, dirs_exist_ok=True)
    loop.clear_scratch(scratch)
    return stats


def fit(
    module,
    settings,
    cfg: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    schedule: loop.LoopSettings,
    execution: loop.Execution,
    scratch: Path,
    run_id: str,
    name: str,
    check=None,
) -> tuple:
    """The model built from `cfg` (seeded by schedule.seed) and trained by the shared loop: (its recipe, the loop's
    figures). `check(step, modules)`: see loop.run."""
    torch.manual_seed(schedule.seed)
    on = execution.device
    modules = {key: m.to(on, memory_format=device.memory_format(on)) for key, m in module.build(cfg).items()}
    distributed.start(execution.world, on)
    try:
        recipe = module.recipe(modules, settings, execution)
        stats = loop.run(name, recipe, images, labels, schedule, scratch, run_id, execution, check)
    finally:
        distributed.stop(execution.world)
    return recipe, stats
