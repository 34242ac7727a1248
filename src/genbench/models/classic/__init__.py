"""Classic baselines on flattened images: one module per model, each with build, save and load.

Each model has its own source file so that DVC and Snakemake rerun only the stages
of the model whose code changed.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def module_for(model: str) -> ModuleType:
    return importlib.import_module(f"genbench.models.classic.{model}")
