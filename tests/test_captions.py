"""Captions measured on the images, the tokenizer trained on them, and prompt faithfulness."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from genbench.data import captions
from genbench.errors import ConfigError
from genbench.evaluate import faithfulness
from genbench.models.tokenizer import PromptError, Prompts, train


def stroke(shear: float, width: int = 1, side: int = 16) -> torch.Tensor:
    """A grey image of one vertical stroke whose top is shifted right by `shear` pixels per row above the middle."""
    image = torch.zeros(1, side, side)
    for row in range(2, side - 2):
        column = round(side / 2 + shear * (side / 2 - row))
        image[0, row, column : column + width] = 1.0
    return image


def test_slant_and_thickness_read_the_stroke():
    upright, right, left = (stroke(s)[None] for s in (0.0, 0.4, -0.4))
    assert abs(float(captions.slant(upright))) < 1e-6
    assert float(captions.slant(right)) > 0.3 and float(captions.slant(left)) < -0.3
    assert float(captions.ink_mass(stroke(0, width=3)[None])) == pytest.approx(3 * float(captions.ink_mass(upright)))


def test_colour_attributes():
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1
    blue = torch.zeros(1, 3, 4, 4)
    blue[:, 2] = 1
    assert float(captions.warmth(red)) == 1 and float(captions.warmth(blue)) == -1
    assert float(captions.brightness(torch.ones(1, 3, 4, 4))) == pytest.approx(1.0)
    assert captions.attributes_of(3) == captions.COLOUR and captions.attributes_of(1) == captions.GREY


def strokes(n_per_class: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of strokes of every slant and thickness: class 1's are all thicker than class 0's."""
    images, labels = [], []
    rng = np.random.default_rng(0)
    for label in (0, 1):
        for _ in range(n_per_class):
            images.append(stroke(float(rng.uniform(-0.5, 0.5)), width=int(rng.integers(1, 5)) + 2 * label))
            labels.append(label)
    return torch.stack(images), torch.tensor(labels)


def test_thirds_are_per_class_and_the_middle_third_goes_unsaid():
    images, labels = strokes()
    spec = captions.fit(images, labels, ["0", "7"], [["7", "thick"]])
    assert spec.class_words == ["zero", "seven"]
    buckets = spec.buckets(images, labels)
    for label in (0, 1):  # each class is split into its own thirds, though class 1 is thicker throughout
        counts = np.bincount(buckets[labels == label, 1].numpy(), minlength=3)  # slant: continuous, so even thirds
        assert counts.min() >= 8, counts
    said = spec.said(buckets)
    assert ((buckets == 1) == (said == -1)).all(), "the middle third has no word"
    assert spec.text(1, [2, 0]) == "a thick seven slanted left" and spec.text(0, [-1, -1]) == "a zero"
    assert spec.held_out == [[1, 0, 2]] and spec.word_pairs() == ["thick seven"]
    held = spec.is_held_out(labels, said)
    assert (held[:, 0] == ((labels == 1) & (said[:, 0] == 2))).all() and not held[:, 1].any()
    assert captions.CaptionSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "pair, says",
    [(["8", "thick"], "class '8' is not one of the dataset's (0, 7)"), (["7", "purple"], "word 'purple' is not")],
)
def test_a_held_out_pair_the_data_cannot_have_is_refused(pair, says):
    images, labels = strokes(5)
    with pytest.raises(ConfigError, match=re.escape(says)):
        captions.fit(images, labels, ["0", "7"], [pair])


def test_the_tokenizer_is_trained_reproducibly_and_checks_prompts():
    texts = ["a thick seven slanted left", "a thin zero", "a seven slanted right", "a zero"] * 20
    tokenizer_json = train(texts, 64)
    assert train(texts, 64) == tokenizer_json, "the same captions give the same tokenizer"
    prompts = Prompts(tokenizer_json, Prompts.words_of(texts), 8)
    ids = prompts.ids(["a thin zero", ""])
    assert ids.shape == (2, 8) and (ids[:, 0] == prompts.bos).all()
    assert (ids[1, 1:] == prompts.pad).all() and torch.equal(ids[1:], prompts.null(1))
    assert prompts.tokens("A Thin Zero") == ["[BOS]", "a", "thin", "zero"]
    prompts.check("a thick zero slanted left")  # an unseen combination of known words is a fair prompt
    for prompt, says in (
        ("", "empty"),
        ("a purple seven", "'purple' not in the tokenizer's vocabulary"),
        ("a thick thin seven slanted left slanted left", r"9 tokens with \[BOS\]; the text encoder reads at most 8"),
    ):
        with pytest.raises(PromptError, match=says):
            prompts.check(prompt)


def test_faithfulness_of_real_images_and_of_images_for_other_captions():
    images, labels = strokes()
    spec = captions.fit(images, labels, ["0", "7"], [["7", "thick"]])
    said = spec.said(spec.buckets(images, labels)).numpy()
    y, x = labels.numpy(), images.numpy()
    correct = y.copy()
    own = faithfulness.measure(spec, x, y, said, correct, x, y, correct, seed=0)
    for group in ("seen", "real_own_captions"):
        assert own[group]["all"]["rate"] == 1.0, "images with their own captions show every word"
    assert own["held_out"]["thickness"]["n"] == int(((y == 1) & (said[:, 0] == 2)).sum())
    assert own["real_other_captions"]["class"]["rate"] == 1.0
    assert own["real_other_captions"]["all"]["rate"] < 0.8, "another image's words mostly miss"

    flipped = np.where(said >= 0, 2 - said, -1)  # every word asked for is the opposite third
    wrong = faithfulness.measure(spec, x, y, flipped, 1 - correct, x, y, correct, seed=0)
    assert wrong["seen"]["class"]["rate"] == 0.0 and wrong["seen"]["slant"]["rate"] == 0.0
    low, high = wrong["seen"]["slant"]["rate_interval"]
    assert low == 0.0 and 0 < high < 0.2
