"""Captions of images, measured on the images themselves: the class's name and attribute words.

An attribute is a deterministic function of one image (ink mass, slant, brightness, warmth), bucketed
into thirds by the training images of the same class, so "a thick one" means thick for a one. The
outer thirds get a word ("thin", "thick"); the middle third none, so a caption names an attribute
only where the image shows it clearly. Grey images are described by stroke thickness and slant,
colour images by brightness and hue.

A caption spec (`CaptionSpec`) holds what the words mean: the class words, the attributes' names and
their per-class thresholds, and the (class, word) pairs held out of the training captions, which the
compositional test asks for. It is plain JSON, stored in a model's config. A dataset of your own that
brings its captions (data/own.py) gets a spec of class words alone, `given`: its words are its own,
so nothing but the class can be measured of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from genbench.errors import ConfigError

CHUNK = 4096  # images measured at once: a whole MNIST split's moments at once would take gigabytes
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Attribute:
    name: str
    words: tuple[str | None, str | None, str | None]  # for the low, middle and high third; None: not said
    before_class: bool  # "a thick seven" against "a seven slanted left"
    measure: Callable[[torch.Tensor], torch.Tensor]  # images (N, C, H, W) in [0, 1] -> one value per image


def ink_mass(images: torch.Tensor) -> torch.Tensor:
    """Stroke thickness: the mean ink per pixel."""
    return images.float().mean(dim=(1, 2, 3))


def slant(images: torch.Tensor) -> torch.Tensor:
    """The shear of the ink from its second-order central moments, -mu11 / mu02: positive where the
    top of the stroke leans right (rows count downwards)."""
    ink = images.float().mean(dim=1)
    height, width = ink.shape[-2:]
    rows = torch.arange(height, dtype=torch.float32, device=ink.device)[:, None]
    columns = torch.arange(width, dtype=torch.float32, device=ink.device)[None, :]
    mass = ink.sum(dim=(1, 2)).clamp(min=1e-6)
    row_mean = (ink * rows).sum(dim=(1, 2)) / mass
    column_mean = (ink * columns).sum(dim=(1, 2)) / mass
    dr = rows - row_mean[:, None, None]
    dc = columns - column_mean[:, None, None]
    mu11 = (ink * dr * dc).sum(dim=(1, 2))
    mu02 = (ink * dr**2).sum(dim=(1, 2)).clamp(min=1e-6)
    return -mu11 / mu02


def brightness(images: torch.Tensor) -> torch.Tensor:
    """Mean luminance (ITU-R BT.601 weights)."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device)
    return (images.float() * weights[None, :, None, None]).sum(dim=1).mean(dim=(1, 2))


def warmth(images: torch.Tensor) -> torch.Tensor:
    """The dominant hue on the red-blue axis: mean red minus mean blue."""
    return images[:, 0].float().mean(dim=(1, 2)) - images[:, 2].float().mean(dim=(1, 2))


GREY = (
    Attribute("thickness", ("thin", None, "thick"), True, ink_mass),
    Attribute("slant", ("slanted left", None, "slanted right"), False, slant),
)
COLOUR = (
    Attribute("brightness", ("dark", None, "bright"), True, brightness),
    Attribute("hue", ("bluish", None, "reddish"), True, warmth),
)


def measured(attribute: Attribute, images: torch.Tensor) -> torch.Tensor:
    """The attribute of every image, CHUNK images at a time."""
    return torch.cat([attribute.measure(images[i : i + CHUNK]) for i in range(0, len(images), CHUNK)])


def attributes_of(channels: int) -> tuple[Attribute, ...]:
    return GREY if channels == 1 else COLOUR


def class_word(name: str) -> str:
    """A class name as a caption says it: digits spelled out ("7" -> "seven"), the rest lower case."""
    return NUMBER_WORDS[int(name)] if name.isdigit() and len(name) == 1 else name.lower().replace("_", " ")


@dataclass(frozen=True)
class CaptionSpec:
    class_words: list[str]
    attributes: list[str]  # names, in caption order of the channel kind's attributes
    thresholds: list[list[list[float]]]  # [attribute][class] -> [low/middle edge, middle/high edge]
    held_out: list[list[int]]  # [class, attribute, bucket]: words never said of that class in training
    given: bool = False  # the dataset brought its own captions; no attribute is measured

    def to_json(self) -> dict:
        return {
            "class_words": self.class_words,
            "attributes": self.attributes,
            "thresholds": self.thresholds,
            "held_out": self.held_out,
            "given": self.given,
        }

    @classmethod
    def from_json(cls, raw: dict) -> CaptionSpec:
        return cls(raw["class_words"], raw["attributes"], raw["thresholds"], raw["held_out"], raw["given"])

    def definitions(self) -> tuple[Attribute, ...]:
        known = {a.name: a for a in (*GREY, *COLOUR)}
        return tuple(known[name] for name in self.attributes)

    def buckets(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N, attributes) of 0, 1, 2: the third of its class each image's attribute falls in."""
        if not self.attributes:
            return torch.zeros((len(images), 0), dtype=torch.long, device=images.device)
        edges = torch.tensor(self.thresholds, dtype=torch.float32, device=images.device)  # (A, classes, 2)
        columns = []
        for a, attribute in enumerate(self.definitions()):
            values = measured(attribute, images)
            low, high = edges[a, labels.long(), 0], edges[a, labels.long(), 1]
            columns.append((values > low).long() + (values > high).long())
        return torch.stack(columns, dim=1)

    def said(self, buckets: torch.Tensor) -> torch.Tensor:
        """(N, attributes): the bucket where its word is said, -1 where the caption leaves it out."""
        if not self.attributes:
            return buckets
        unsaid = torch.tensor(
            [[word is None for word in a.words] for a in self.definitions()], device=buckets.device
        )  # (A, 3)
        attribute = torch.arange(buckets.shape[1], device=buckets.device)[None, :]
        return torch.where(unsaid[attribute, buckets], -1, buckets)

    def is_held_out(self, labels: torch.Tensor, said: torch.Tensor) -> torch.Tensor:
        """(N, attributes): whether each said word is one held out of its class's training captions."""
        held = torch.zeros_like(said, dtype=torch.bool)
        for c, a, b in self.held_out:
            held[:, a] |= (labels == c) & (said[:, a] == b)
        return held

    def text(self, label: int, said: list[int]) -> str:
        """The caption: "a thick seven slanted left"; `said` holds a bucket or -1 per attribute."""
        before, after = [], []
        for attribute, bucket in zip(self.definitions(), said):
            if bucket >= 0 and attribute.words[bucket]:
                (before if attribute.before_class else after).append(attribute.words[bucket])
        return " ".join(["a", *before, self.class_words[label], *after])

    def word_pairs(self) -> list[str]:
        """The held-out pairs as captions say them: "thick seven", "two slanted left"."""
        pairs = []
        for c, a, b in self.held_out:
            said = [-1] * len(self.attributes)
            said[a] = b
            pairs.append(self.text(c, said).removeprefix("a "))
        return pairs


def fit(images: torch.Tensor, labels: torch.Tensor, classes: list[str], held_out: list[list[str]]) -> CaptionSpec:
    """The caption spec of a training split: each attribute's per-class terciles, and the held-out
    pairs, given as [class name, word], checked against the classes and the words."""
    definitions = attributes_of(images.shape[1])
    thresholds = []
    for attribute in definitions:
        values = measured(attribute, images).cpu()
        per_class = []
        for c in range(len(classes)):
            mine = values[labels.cpu() == c]
            edges = torch.quantile(mine, torch.tensor([1 / 3, 2 / 3])) if len(mine) else torch.zeros(2)
            per_class.append([float(e) for e in edges])
        thresholds.append(per_class)
    pairs = []
    for class_name, word in held_out:
        if class_name not in classes:
            raise ConfigError(f"class {class_name!r} is not one of the dataset's ({', '.join(classes)})")
        found = [(a, b) for a, attribute in enumerate(definitions) for b, w in enumerate(attribute.words) if w == word]
        if not found:
            words = [w for a in definitions for w in a.words if w]
            raise ConfigError(f"word {word!r} is not an attribute word of these images ({', '.join(words)})")
        pairs.append([classes.index(class_name), *found[0]])
    return CaptionSpec([class_word(c) for c in classes], [a.name for a in definitions], thresholds, pairs)


def given(classes: list[str]) -> CaptionSpec:
    """The spec of a dataset that brought its own captions: its class words, no measured attribute."""
    return CaptionSpec([class_word(c) for c in classes], [], [], [], given=True)


def prompts_for(
    spec: CaptionSpec, images: torch.Tensor, labels: torch.Tensor, own: list[str] | None
) -> tuple[list[str], torch.Tensor]:
    """Each image's caption as a prompt, and what it says of each attribute (a bucket, or -1: not said): the
    dataset's own caption (`own`, one per image) for a spec that is `given`, else its class and measured words."""
    said = spec.said(spec.buckets(images, labels))
    if spec.given:
        if own is None:
            raise ValueError("a given spec needs the images' own captions")
        return list(own), said
    return [spec.text(int(label), row) for label, row in zip(labels.tolist(), said.tolist())], said
