"""The text side of a text-conditioned model: a BPE tokenizer (Hugging Face tokenizers) trained on the
training captions, stored as its JSON in the model's config, and the checks a prompt must pass.

A prompt becomes [BOS] followed by its tokens, padded with [PAD] to the encoder's length; the empty
prompt, [BOS] alone, is the "no text" of classifier-free guidance.
"""

from __future__ import annotations

import torch

from genbench.errors import ConfigError

PAD, BOS, UNK = "[PAD]", "[BOS]", "[UNK]"


def train(captions: list[str], vocab_size: int) -> str:
    """A lower-casing, whitespace-splitting BPE tokenizer of `captions`, as JSON."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, UNK], show_progress=False)
    tokenizer.train_from_iterator(captions, trainer)
    return tokenizer.to_str()


class PromptError(ConfigError):
    """A prompt the tokenizer or the text encoder cannot take."""


class Prompts:
    """Prompts to token ids for a model whose tokenizer JSON, known words and length are `cfg`'s."""

    def __init__(self, tokenizer_json: str, words: list[str], max_tokens: int):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.words = set(words)
        self.max_tokens = max_tokens
        self.pad, self.bos = self.tokenizer.token_to_id(PAD), self.tokenizer.token_to_id(BOS)

    @staticmethod
    def words_of(texts: list[str]) -> list[str]:
        """The words the tokenizer's normaliser and pre-tokenizer make of `texts`, sorted."""
        from tokenizers import normalizers, pre_tokenizers

        split, lower = pre_tokenizers.Whitespace(), normalizers.Lowercase()
        return sorted({word for text in texts for word, _ in split.pre_tokenize_str(lower.normalize_str(text))})

    def check(self, prompt: str) -> None:
        """Raise PromptError naming what is wrong: no words, a word the training captions never used, or more
        tokens than the text encoder reads."""
        words = self.words_of([prompt])
        if not words:
            raise PromptError("--prompt: empty; describe the image, for example 'a thick seven slanted left'")
        unknown = [w for w in words if w not in self.words]
        if unknown:
            raise PromptError(
                f"--prompt: {', '.join(map(repr, unknown))} not in the tokenizer's vocabulary; known words: "
                f"{', '.join(sorted(self.words))}"
            )
        length = 1 + len(self.tokenizer.encode(prompt).ids)
        if length > self.max_tokens:
            raise PromptError(
                f"--prompt: {length} tokens with [BOS]; the text encoder reads at most {self.max_tokens} "
                f"(generative.ldm.max_tokens)"
            )

    def ids(self, texts: list[str]) -> torch.Tensor:
        """(len(texts), max_tokens) token ids; texts are cut to max_tokens (check() refuses longer prompts)."""
        rows = torch.full((len(texts), self.max_tokens), self.pad, dtype=torch.long)
        for i, encoding in enumerate(self.tokenizer.encode_batch(texts)):
            ids = [self.bos, *encoding.ids][: self.max_tokens]
            rows[i, : len(ids)] = torch.tensor(ids)
        return rows

    def null(self, n: int) -> torch.Tensor:
        """The empty prompt, n times."""
        return self.ids([""] * n)

    def tokens(self, text: str) -> list[str]:
        return [BOS, *self.tokenizer.encode(text).tokens][: self.max_tokens]
