"""The device the deep-model tests run on: the CPU, or the one GENBENCH_TEST_DEVICE names (`cuda` on a GPU machine).
Inputs are made on the CPU as the pipeline makes them, then moved, so both devices see the same numbers."""

import os

import torch

DEVICE = torch.device(os.environ.get("GENBENCH_TEST_DEVICE", "cpu"))
