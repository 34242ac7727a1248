"""How far genbench's DINOv2 features (evaluate/dinov2.py: the official checkpoint renamed into transformers'
Dinov2Model, position embeddings resampled as DINOv2 does it) are from DINOv2's own code on the same
checkpoint, and how far transformers' own resampling of the position embeddings would put them.

DINOv2's code is no dependency of genbench (it is not on the package registries): give a checkout of
facebookresearch/dinov2. The checkpoint is the official ViT-S/14 file where it is given, else one made here
with random values in its format (tests/made_weights.py).

Usage: python bench/dinov2_equivalence.py DINOV2_CHECKOUT [--weights dinov2_vits14_pretrain.pth] [--images 8]
           [--out bench/dinov2_equivalence.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from genbench.evaluate import dinov2  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(args.checkout))
    import made_weights
    from dinov2.hub.backbones import dinov2_vits14

    with tempfile.TemporaryDirectory() as folder:
        weights = args.weights or made_weights.dinov2(Path(folder))
        state = torch.load(weights, map_location="cpu", weights_only=True)
    official = dinov2_vits14(pretrained=False).eval()
    official.load_state_dict(state, strict=True)
    ours = dinov2.network(state, 224)
    # transformers resampling the 37 x 37 position embeddings itself, on every call:
    unresampled = dinov2.network(state, 518)
    x = torch.randn(args.images, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = official(x)
        differences = {
            "genbench": (ours(pixel_values=x).pooler_output - reference).abs().max().item(),
            "transformers_resampling": (unresampled(pixel_values=x).pooler_output - reference).abs().max().item(),
        }
    result = {
        "weights": str(args.weights) if args.weights else "made here (random, official format)",
        "images": args.images,
        "input": "224 x 224, standard normal",
        "max_abs_difference_from_official": differences,
        "official_feature_std": reference.std().item(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
