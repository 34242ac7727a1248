"""sample@D-M: N images from a trained generative model, with their labels, and the figures it shows of itself.

samples.npz holds the images and the labels they were drawn for (-1: none): for a conditional
model, the classes of the test images they will be compared with (evaluate/protocol.py). A model
that follows prompts draws for those images' captions (data/captions.py), stored beside them with
what each says of every attribute. views.npz holds the grids the model's views() returns
(genbench/views.py), empty for a model without any.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, device, gpus, paths, randomness, records, views
from genbench.config import Params
from genbench.data import captions, splits
from genbench.errors import DataError
from genbench.evaluate import protocol
from genbench.models import base, deep


def stage(params: Params, io) -> dict:
    files = (io.input("weights").parent, io.input("data"), io.input("meta"), io.output("samples").parent)
    return run(params, io.dataset, io.model, io.seed, *files) | gpus.record()


def run(
    params: Params,
    dataset: str,
    model: str,
    seed: int,
    model_dir: Path,
    data_path: Path,
    meta_path: Path,
    out_dir: Path,
) -> dict:
    """Draw and save the samples; returns the sampling time, which stays out of the outputs."""
    on = device.prepare(params.train.device, params.train.threads)
    meta = records.read(meta_path, records.DatasetMeta)
    classes = meta.classes
    arrays = splits.load(data_path, ("val", "test"), n_classes=len(classes))
    module = base.module_of(model)
    modules, cfg = deep.load(model, model_dir, on)
    sampling = base.sampling(params, model, module)
    n = params.evaluate.n_samples
    conditional = base.settings(params, model, module).is_conditional()
    labels = torch.from_numpy(protocol.sample_labels(params, arrays, conditional))
    prompts = _prompts(params, arrays, data_path, module, cfg) if base.has(module, base.Capability.PROMPTS) else {}

    generator = randomness.torch_generator(seed, "samples")
    start = time.perf_counter()
    chunk = device.images_per_call(on, *arrays["x_test"].shape[-2:])

    def draw(i: int) -> torch.Tensor:
        if prompts:
            texts = prompts["prompts"][i : i + chunk].tolist()
            return module.sample_prompts(modules, cfg, texts, generator, sampling)
        return module.sample(modules, cfg, labels[i : i + chunk].clamp(min=0), generator, sampling)

    chunks = [draw(i).float().cpu() for i in range(0, n, chunk)]
    seconds = time.perf_counter() - start
    images = protocol.on_pixel_levels(torch.cat(chunks).numpy(), meta.pixel_max)

    def test_split() -> tuple[np.ndarray, np.ndarray]:
        return arrays["x_test"], arrays["y_test"]

    context = views.Context(dataset, classes, on, randomness.torch_generator(seed, "views"), test_split)
    grids = module.views(modules, cfg, sampling, context) if base.has(module, base.Capability.VIEWS) else []
    with artifacts.atomic_directory(out_dir) as staging:
        artifacts.save_npz(staging / paths.SAMPLES, {"x": images, "y": labels.numpy().astype(np.int64)} | prompts)
        views.save(staging / paths.VIEWS, grids)
        artifacts.write_json(
            staging / paths.SAMPLE_INFO, {"n_samples": n, "conditional": conditional, "device": str(on)}
        )
    return {"seconds_per_1000": 1000 * seconds / n}


def _prompts(params: Params, arrays: dict, data_path: Path, module, cfg: dict) -> dict[str, np.ndarray]:
    """For a model that follows prompts: the captions of the compared test images, in the order of the labels
    (protocol.sample_labels), and what each says of every attribute (a bucket, or -1: not said). A dataset that
    brought its own captions has them, and no attribute measured."""
    spec = module.caption_spec(cfg)
    chosen = protocol.test_choice(params, arrays)
    own = splits.captions(data_path, "test")
    if spec.given and own is None:
        raise DataError(f"{data_path}: no captions, but the model trained on the dataset's own; train it again")
    texts, said = captions.prompts_for(
        spec,
        torch.from_numpy(arrays["x_test"][chosen]),
        torch.from_numpy(arrays["y_test"][chosen]),
        [own[i] for i in chosen.tolist()] if spec.given else None,
    )
    said = said.numpy()
    n = params.evaluate.n_samples
    return {"prompts": np.resize(np.array(texts), n), "said": np.resize(said, (n, said.shape[1])).astype(np.int64)}
