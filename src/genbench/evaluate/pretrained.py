"""The feature spaces' network weights: their registry, and the check evaluation makes before it reads one.

Weights are inputs like the datasets: the pretrained stage (fetch_pretrained.py) puts them into
data/pretrained/, and evaluation only reads them (`verified`): nothing is fetched while a model is scored.
GENBENCH_PRETRAINED_REGISTRY may name a JSON file of entries of your own ({"inception": {"name": ...,
"sha256": ..., "size": ..., "urls": [...]}}: weights you converted yourself), which take the place of the
built-in ones. Nothing here imports the datasets' code, so a new dataset reruns no evaluation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from genbench import artifacts
from genbench.errors import DataError


@dataclass(frozen=True)
class Pretrained:
    name: str  # the file's name in data/pretrained/
    sha256: str
    size: int  # bytes
    urls: tuple[str, ...]  # each serves the official bytes
    what: str  # for the page: the network and where its weights come from


REGISTRY: dict[str, Pretrained] = {
    # torch-fidelity's conversion of the TensorFlow Inception-V3 (2015-12-05) that the original FID code
    # uses; pytorch-fid serves the same bytes under another name.
    "inception": Pretrained(
        "weights-inception-2015-12-05-6726825d.pth",
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        95_628_359,
        (
            "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        ),
        "Inception-V3 of TensorFlow's FID code (2015-12-05), as torch-fidelity 0.4 ports it",
    ),
    # The backbone torch.hub's dinov2_vits14 loads (and dgm-eval through it), without registers.
    "dinov2": Pretrained(
        "dinov2_vits14_pretrain.pth",
        "b938bf1bc15cd2ec0feacfe3a1bb553fe8ea9ca46a7e1d8d00217f29aef60cd9",
        88_283_115,
        ("https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth",),
        "DINOv2 ViT-S/14 (Oquab et al. 2023), the official backbone weights",
    ),
}


REGISTRY_VARIABLE = "GENBENCH_PRETRAINED_REGISTRY"


def entry(space: str) -> Pretrained:
    """`space`'s registry entry: from GENBENCH_PRETRAINED_REGISTRY's file where it names the space."""
    path = os.environ.get(REGISTRY_VARIABLE, "").strip()
    if not path:
        return REGISTRY[space]
    try:
        own = json.loads(Path(path).read_text(encoding="utf-8"))
        if space not in own:
            return REGISTRY[space]
        found = own[space]
        return Pretrained(
            str(found["name"]),
            str(found["sha256"]),
            int(found["size"]),
            tuple(str(url) for url in found.get("urls", ())),
            str(found.get("what", f"{REGISTRY[space].what}, with weights registered in {path}")),
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise DataError(
            f"{path} ({REGISTRY_VARIABLE}): not a JSON object of {{space: {{name, sha256, size, urls}}}} ({e})"
        ) from None


def needing_weights(spaces: list[str]) -> list[str]:
    """The spaces among `spaces` whose network comes from a file (the featurenet is trained here)."""
    return [space for space in spaces if space in REGISTRY]


def verified(folder: Path, space: str) -> Path:
    """The path of `space`'s weights in `folder`, after checking its sha256; one line where it is missing or wrong."""
    registered = entry(space)
    path = folder / registered.name
    if not path.is_file():
        raise DataError(
            f"{path}: not found; the {space} feature space needs it (sha256 {registered.sha256}, {registered.size} "
            f"bytes): run `genbench pretrained` or put the file there by hand"
        )
    problem = mismatch(path, registered)
    if problem:
        raise DataError(f"{problem}; delete it and run `genbench pretrained`")
    return path


def mismatch(path: Path, registered: Pretrained) -> str | None:
    """None when `path` holds the registered bytes; else one sentence naming both sha256."""
    actual = artifacts.sha256_of(path)
    if actual == registered.sha256:
        return None
    return f"{path}: expected sha256 {registered.sha256}; found {actual}"
