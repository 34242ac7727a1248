"""train@D-M for the deep models (featurenet, vae, gan, ddpm): the shared loop on the whole training split."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import torch

from genbench import artifacts, paths, records
from genbench.config import Params, canonical_json
from genbench.data import splits
from genbench.models import deep
from genbench.train import distributed, loop, precision


def stage(params: Params, job) -> dict:
    d, m, s = job.dataset, job.model, job.seed
    return run(params, d, m, s, paths.processed_data(d), paths.processed_meta(d), paths.model_dir(d, m, s),
               paths.training_log_dir(d, m, s), paths.checkpoint_dir(d, m, s))


def run(
    params: Params, dataset: str, model: str, seed: int, data_path: Path, meta_path: Path, model_dir: Path, log_dir: Path, scratch: Path,
) -> dict:
    """Train and save the model; returns the run's timings, which stay out of its outputs."""
    from safetensors.torch import save

    module, settings = deep.module_for(model), deep.params_for(params, model)
    world = distributed.current()
    device = loop.resolve_device(params.train.device, world)
    loop.configure_torch(device, params.train.threads)
    execution = loop.Execution(device, precision.Precision(precision.resolve(params.train.precision, device), device), world)
    n_classes = len(records.read(meta_path, records.DatasetMeta).classes)
    arrays = splits.load(data_path, ("train",), n_classes=n_classes)
    # The datasets are small: keep them on the device, in the layout its convolutions run fastest in.
    images = torch.from_numpy(arrays["x_train"]).to(device).contiguous(memory_format=loop.memory_format(device))
    labels = torch.from_numpy(arrays["y_train"]).to(device)

    cfg = module.config(settings, tuple(images.shape[1:]), n_classes)
    torch.manual_seed(seed)
    modules = {name: m.to(device, memory_format=loop.memory_format(device)) for name, m in module.build(cfg).items()}
    distributed.start(world, device)
    try:
        recipe = module.recipe(modules, settings, execution)
        run_id = loop.fingerprint(
            canonical_json(settings), str(seed), str(params.train.threads), device.type,
            artifacts.sha256_of(data_path), *(inspect.getsource(code) for code in (module, loop, precision, distributed)),
        )
        stats = loop.run(
            f"{model} on {dataset}, seed {seed}", recipe, images, labels,
            loop.LoopSettings(settings.steps, settings.batch_size, params.train.checkpoint_every, params.train.log_every, seed),
            scratch, run_id, execution,
        )
    finally:
        distributed.stop(world)
    if not world.is_main:
        return stats

    segments = stats.pop("segments")
    with artifacts.atomic_directory(model_dir) as staging:
        artifacts.write_bytes(staging / paths.WEIGHTS, save(deep.state_of(recipe.modules)))  # in memory first: OS errors stay OSErrors
        artifacts.write_json(staging / paths.MODEL_CONFIG, cfg)
        artifacts.write_json(staging / paths.TRAIN_INFO, {
            "device": device.type, "device_name": loop.device_name(device), "precision": segments[-1]["precision"],
            "processes": world.size, "segments": segments, "steps": settings.steps, "n_train": int(len(labels)),
        })
    with artifacts.atomic_directory(log_dir) as staging:
        shutil.copytree(scratch / "live", staging, dirs_exist_ok=True)
    loop.clear_scratch(scratch)
    return stats
