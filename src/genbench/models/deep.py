"""A deep model's trained weights: saved as safetensors beside the config that builds its networks, and loaded back."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from genbench.device import memory_format
from genbench.errors import DataError
from genbench.models.base import module_of
from genbench.paths import MODEL_CONFIG, WEIGHTS


def state_of(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """All weights as one flat {"<module>.<tensor>": tensor} map, the shape safetensors stores."""
    return {
        f"{name}.{key}": value.detach().cpu().contiguous()
        for name, m in modules.items()
        for key, value in m.state_dict().items()
    }


def load(model: str, model_dir: Path, device: torch.device) -> tuple[dict[str, nn.Module], dict]:
    """The trained modules (in eval mode, on `device`) and their config. safetensors cannot carry code."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config_path, weights_path = model_dir / MODEL_CONFIG, model_dir / WEIGHTS
    try:
        cfg = json.loads(config_path.read_text())
        tensors = load_file(weights_path)
    except FileNotFoundError as e:
        raise DataError(f"{e.filename}: file not found; run the train stage first") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{config_path}: not valid JSON") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"{weights_path}: not a readable safetensors file ({e})") from None
    try:
        modules = module_of(model).build(cfg)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(
            f"{config_path}: these settings do not build a {model} ({type(e).__name__}: {e}); rerun the train stage"
        ) from None
    for name, module in modules.items():
        prefix = f"{name}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state)
        except RuntimeError as e:
            raise DataError(f"{weights_path}: weights do not fit {model}'s {name} ({str(e).splitlines()[0]})") from None
        module.to(device, memory_format=memory_format(device)).eval()
    return modules, cfg
