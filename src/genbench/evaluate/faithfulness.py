"""Prompt faithfulness: does a sample show what its prompt asked for?

Each sample was drawn for the caption of a compared test image (sample.py). The class asked for is
checked by the featurenet, each attribute word by the same function that captioned the real image
(data/captions.py), on the same per-class thresholds. Rates come with Wilson intervals, for the
prompts whose (class, word) pairs the training captions said ("seen") and for those holding a pair
held out of them ("held out"). Two rows of real test images frame them: each with its own caption
(the class by the featurenet; its attributes match by construction) and each with the caption of
another test image of its class, which is what a model that draws the right class but ignores the
attribute words would score. Of captions a dataset brought (data/own.py) only the class is checked.
"""

from __future__ import annotations

import numpy as np
import torch

from genbench import randomness
from genbench.data.captions import CaptionSpec
from genbench.evaluate import intervals


def measure(
    spec: CaptionSpec,
    samples: np.ndarray,
    labels: np.ndarray,
    said: np.ndarray,
    predicted: np.ndarray,
    real: np.ndarray,
    real_labels: np.ndarray,
    real_predicted: np.ndarray,
    seed: int,
) -> dict:
    """`samples` drawn for (`labels`, `said`); `predicted`: the featurenet's classes of them; `real`: the compared
    test images and their labels and predicted classes."""
    labels_t, said_t = torch.from_numpy(labels), torch.from_numpy(said)
    shown = spec.buckets(torch.from_numpy(samples), labels_t).numpy()
    held = spec.is_held_out(labels_t, said_t).numpy().any(axis=1)
    result = {
        "captions": "given" if spec.given else "measured",
        "attributes": list(spec.attributes),
        "held_out_pairs": spec.word_pairs(),
        "seen": _rates(spec, predicted == labels, shown, said, ~held),
        "held_out": _rates(spec, predicted == labels, shown, said, held) if held.any() else None,
    }
    real_said = spec.said(spec.buckets(torch.from_numpy(real), torch.from_numpy(real_labels))).numpy()
    real_correct = real_predicted == real_labels
    everyone = np.ones(len(real), dtype=bool)
    result["real_own_captions"] = _rates(spec, real_correct, np.maximum(real_said, 0), real_said, everyone)
    result["real_other_captions"] = None
    if not spec.given:  # of the class alone, another caption of it scores what its own does
        other = _same_class_permutation(real_labels, randomness.seed_of(seed, "faithfulness/other-captions"))
        result["real_other_captions"] = _rates(spec, real_correct, np.maximum(real_said, 0), real_said[other], everyone)
    return result


def _rates(spec: CaptionSpec, class_hit: np.ndarray, shown: np.ndarray, said: np.ndarray, rows: np.ndarray) -> dict:
    """Per "class", each attribute (over the prompts naming it) and "all" (the class and every word named)."""
    asked = said >= 0
    hit = shown == said
    out = {"class": _rate(class_hit[rows])}
    for a, name in enumerate(spec.attributes):
        out[name] = _rate(hit[rows & asked[:, a], a])
    out["all"] = _rate((class_hit & np.all(hit | ~asked, axis=1))[rows])
    return out


def _rate(hits: np.ndarray) -> dict:
    n, k = len(hits), int(np.sum(hits))
    return {"rate": k / n if n else float("nan"), "rate_interval": intervals.wilson(k, n) if n else [0.0, 1.0], "n": n}


def _same_class_permutation(labels: np.ndarray, seed: int) -> np.ndarray:
    """For each image, another image of its class (a seeded derangement within each class where it has two)."""
    rng = np.random.default_rng(seed)
    other = np.arange(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) > 1:
            other[members] = _derange(members, rng)
    return other


def _derange(members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    order = members[rng.permutation(len(members))]
    shifted = np.roll(order, 1)  # each image in the shuffled order takes the previous one's caption
    mapping = dict(zip(order.tolist(), shifted.tolist()))
    return np.array([mapping[m] for m in members.tolist()])
