"""torch-fidelity without torchvision.

torch-fidelity's package __init__ imports torchvision for dataset loaders genbench does not use, and the package
registries' torchvision needs a CUDA build of torch. Its Inception-V3 extractor needs torch only, and torchmetrics'
FID and KID import that extractor whenever torch-fidelity is installed. Where torchvision is absent, the package
is entered without its __init__, so both find the extractor's module.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def importable() -> None:
    """Make `torch_fidelity.<module>` importable; nothing where it already is or where torchvision is present."""
    if "torch_fidelity" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None:  # not installed: torchmetrics does without it, and the inception space says so
        return
    package = types.ModuleType("torch_fidelity")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec  # as an imported package has; its loader, which would run the __init__, is not called
    sys.modules["torch_fidelity"] = package
