"""How close generated images sit to the training images, against held-out real ones.

For each image, is its nearest neighbour in featurenet space a training image or a test image
(both sets at the same size)? Real held-out images are as close to either: about half choose the
training set. A model that copies its training images moves that share towards 1. The report
reads a model's share against the same share of the validation images (the floor row).
"""

from __future__ import annotations

import numpy as np
import torch

from genbench.evaluate import intervals


def measure(images: torch.Tensor, test: torch.Tensor, train: torch.Tensor) -> dict:
    """`images`, `test`, `train`: feature sets; train and test of equal size."""
    assert len(train) == len(test), "the share is only meaningful with the two neighbour sets at equal size"
    closer_to_train = _nearest(images, train) < _nearest(images, test)
    return {
        "closer_to_train": float(closer_to_train.mean()),
        "closer_to_train_interval": intervals.wilson(int(closer_to_train.sum()), len(closer_to_train)),
        "n_images": len(images),
    }


def _nearest(points: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """Distance from each point to its nearest reference point, in blocks of 1024 rows."""
    return torch.cat(
        [
            torch.cdist(points[i : i + 1024].double(), reference.double()).min(dim=1).values
            for i in range(0, len(points), 1024)
        ]
    ).numpy()
