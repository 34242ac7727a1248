"""The code keeps ruff's format and lint rules, and the docs build strictly with their generated pages."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT, VENV_BIN


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_ruff_format_and_lint():
    formatted = run(str(VENV_BIN / "ruff"), "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    linted = run(str(VENV_BIN / "ruff"), "check", ".")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_docs_build_strictly_with_every_params_key_and_the_reach_of_every_file(tmp_path):
    built = run(sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"))
    assert built.returncode == 0, built.stderr
    params_page = (tmp_path / "site" / "params" / "index.html").read_text()
    for key in (
        "classic.svm.C",
        "generative.ddpm.channel_multipliers",
        "sampling.ddpm.guidance",
        "featurenet.feature_dim",
        "evaluate.bound_timesteps",
        "own_datasets.&lt;name&gt;.fit",
        "train.processes",
    ):
        assert f"<code>{key}</code>" in params_page, key
    architecture = (tmp_path / "site" / "architecture" / "index.html").read_text()
    reach = dict(re.findall(r"<td><code>([\w/.]+\.py)</code></td>\s*<td[^>]*>(\d+)</td>", architecture))
    assert reach["train/loop.py"] == "28", "the deep models' training (7 models, 3 seeds) and tuning (7 models)"
    assert reach["models/registry.py"] == reach["validate.py"] == "0"
    readme_lines = len((ROOT / "README.md").read_text().splitlines())
    assert readme_lines <= 200, f"README.md has {readme_lines} lines; the rest belongs in docs/"
