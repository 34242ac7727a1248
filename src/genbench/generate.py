"""`genbench generate`: images for a text prompt from a trained model that follows prompts, as one PNG grid.

Not a stage: it reads a trained model (the train stage's output for --dataset, --model and --seed) and
params.yaml's sampling settings, and writes the grid where --out says. The sampling noise is seeded by
--seed, so a command repeated gives the same image.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from genbench.errors import ConfigError

MAX_IMAGES = 1024  # as --n's help in cli.py says
TILE_SIDE = 64  # pixels each image is enlarged to at least (nearest neighbour): 8x8 digits stay visible


def command(args) -> int:
    import torch

    from genbench import artifacts, device, paths, randomness
    from genbench.config import load_params
    from genbench.models import base, deep

    params = load_params(args.params)
    if args.dataset not in params.datasets:
        raise ConfigError(f"--dataset {args.dataset!r}: not in {args.params} datasets ({', '.join(params.datasets)})")
    if args.seed not in params.seeds:
        raise ConfigError(f"--seed {args.seed}: not in {args.params} seeds ({', '.join(map(str, params.seeds))})")
    followers = [m for m in params.models.generative if base.has(base.module_of(m), base.Capability.PROMPTS)]
    if args.model not in followers:
        raise ConfigError(
            f"--model {args.model!r}: not a generative model of {args.params} that follows prompts "
            f"({', '.join(followers) or 'none listed'})"
        )
    if not 1 <= args.n <= MAX_IMAGES:
        raise ConfigError(f"--n {args.n}: must be 1 to {MAX_IMAGES}")
    module = base.module_of(args.model)
    on = device.prepare(params.train.device, params.train.threads)
    modules, cfg = deep.load(args.model, paths.model_dir(args.dataset, args.model, args.seed), on)
    module.check_prompt(cfg, args.prompt)
    generator = randomness.torch_generator(args.seed, f"generate/{args.prompt}")
    with torch.no_grad():
        images = module.sample_prompts(
            modules, cfg, [args.prompt] * args.n, generator, base.sampling(params, args.model)
        )
    out = args.out or Path("reports/generated") / f"{args.dataset}-{args.model}.png"
    artifacts.write_bytes(out, png_grid(images.float().cpu().numpy()))
    print(f"{out}: {args.n} images for {args.prompt!r}")
    return 0


def png_grid(images) -> bytes:
    """Images (N, C, H, W) in [0, 1] tiled in a near-square grid with a one-pixel gap, enlarged to TILE_SIDE."""
    import numpy as np
    from PIL import Image

    n, channels, height, width = images.shape
    scale = max(1, math.ceil(TILE_SIDE / max(height, width)))
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    tile_h, tile_w = height * scale + 1, width * scale + 1
    canvas = np.ones((rows * tile_h + 1, columns * tile_w + 1, channels), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        big = image.transpose(1, 2, 0).repeat(scale, axis=0).repeat(scale, axis=1)
        canvas[1 + r * tile_h : 1 + r * tile_h + height * scale, 1 + c * tile_w : 1 + c * tile_w + width * scale] = big
    pixels = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, "L" if channels == 1 else "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
