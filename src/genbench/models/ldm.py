"""ldm: latent diffusion steered by text through cross-attention (Rombach et al., 2022), trained from scratch.

Reads top to bottom: the autoencoder, the text encoder, the latent U-Net with its cross-attention,
the two-phase training step, prompt sampling (DDIM with classifier-free guidance), then the views.

- Autoencoder: KL-regularised (a diagonal Gaussian posterior, a small KL weight), downsampling each
  side by `downsample`. It trains first, for autoencoder_steps, and is then frozen. The training
  split is then encoded once (the posterior's means), not at every diffusion step, and scaled to
  unit spread over the whole split (Rombach et al.'s scale_by_std); the scale is saved with the weights.
- Text: each training image's caption is measured on the image itself (data/captions.py: its
  class and attribute words); a BPE tokenizer trained on those captions (models/tokenizer.py) and a
  small transformer encoder trained with the U-Net, no downloaded weights. Captions whose
  (class, word) pair is held out lose that word in training; each attribute word is also dropped
  with probability p_drop_word, so shorter prompts ("a seven") are in the training distribution.
  A dataset of your own that brings captions trains on them instead, each replaced by its class
  alone ("a circle") with probability p_drop_word.
- Latent U-Net: the residual blocks and noise math it shares with ddpm (models/diffusion.py), and a
  cross-attention layer after every residual block (queries from the latent grid, keys and values
  from the prompt's tokens).
- Classifier-free guidance: the prompt is replaced by the empty one ([BOS] alone) with
  probability p_uncond; sampling mixes eps_uncond + guidance * (eps_cond - eps_uncond), at the noise
  levels of guidance_interval only, and takes eps_cond alone at the others (Kynkaanniemi et al., 2024).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn
from torch.optim.swa_utils import AveragedModel

from genbench.data import captions
from genbench.errors import ConfigError
from genbench.models.base import Capability, Execution, Kind, Recipe
from genbench.models.diffusion import (
    Diffusion,
    GuidedSampling,
    ResBlock,
    SelfAttention,
    ddim_times,
    guided_noise,
    timed_sampler,
    timestep_embedding,
    warmup_ema,
)
from genbench.models.tokenizer import Prompts, train
from genbench.schema import GenerativeParams, PositiveFloat
from genbench.views import Context, Grid, one_per_class

KIND = Kind.GENERATIVE
CAPABILITIES = frozenset({Capability.FITS_DATA, Capability.PROMPTS, Capability.VIEWS, Capability.SAMPLER_TIMINGS})
GROUPS = 8  # group norms in 8 groups: every width is a multiple of 8


def groups_for(channels: int) -> int:
    """Norm groups of two channels at least: a latent grid may be 1x1 (8x8 images at downsample 8), where a
    group of one channel would hold one value, which a group norm cannot normalise in training."""
    return GROUPS if channels >= 2 * GROUPS else channels // 2


ATTENTION_FRAMES = 5


class Params(GenerativeParams):
    """generative.ldm"""

    steps: int = Field(
        3000, ge=2, le=10_000_000, description="optimiser steps in all: the autoencoder's, then the rest"
    )
    autoencoder_steps: int = Field(1000, ge=1, description="the first steps, which train the autoencoder alone")
    lr: PositiveFloat = Field(1e-3, description="learning rate of the U-Net and the text encoder (AdamW)")
    autoencoder_lr: PositiveFloat = Field(1e-3, description="learning rate of the autoencoder (Adam)")
    downsample: Literal[1, 2, 4, 8] = Field(4, description="the autoencoder divides each side by this")
    latent_channels: int = Field(4, ge=1, le=64, description="channels of the latent grid")
    autoencoder_channels: int = Field(32, ge=8, le=512, multiple_of=8, description="the autoencoder's width")
    kl_weight: float = Field(1e-3, ge=0, description="weight of the posterior's KL to N(0, I) in nats per image")
    base_channels: int = Field(64, ge=8, le=512, multiple_of=8, description="the latent U-Net's first width")
    channel_multipliers: list[int] = Field(
        default_factory=lambda: [1, 2], min_length=1, max_length=3, description="its widths, in base_channels"
    )
    blocks_per_level: int = Field(1, ge=1, le=8, description="residual blocks (each with cross-attention) per level")
    text_width: int = Field(64, ge=8, le=1024, multiple_of=8, description="the text encoder's width")
    text_layers: int = Field(2, ge=1, le=12, description="the text encoder's transformer layers")
    max_tokens: int = Field(12, ge=2, le=256, description="the prompt length the text encoder reads, with [BOS]")
    vocab_size: int = Field(128, ge=16, le=50_000, description="the BPE tokenizer's vocabulary at most")
    schedule: Literal["linear", "cosine"] = Field(
        "linear", description="the noise schedule (linear, as Rombach et al.)"
    )
    timesteps: int = Field(1000, ge=2, le=10_000, description="diffusion steps T")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="the U-Net's EMA decay once warmed up (as ddpm's)")
    p_uncond: float = Field(0.1, ge=0, le=1, description="prompt dropout for classifier-free guidance")
    p_drop_word: float = Field(
        0.1,
        ge=0,
        le=1,
        description="each attribute word is dropped with this probability (a dataset's own caption: all but its class)",
    )
    held_out: dict[str, list[Annotated[list[str], Field(min_length=2, max_length=2)]]] = Field(
        default_factory=dict,
        description="by dataset: [class, word] pairs never said together in training (the compositional test)",
    )

    def side_multiple(self) -> int:
        return self.downsample

    @model_validator(mode="after")
    def _diffusion_gets_steps(self) -> Params:
        if self.autoencoder_steps >= self.steps:
            raise ValueError(
                f"autoencoder_steps ({self.autoencoder_steps}) must be below steps ({self.steps}): the diffusion "
                "trains in the steps after them"
            )
        return self


class Sampling(GuidedSampling):
    """sampling.ldm"""

    steps: int = Field(25, ge=1, le=10_000, description="DDIM steps")
    eta: float = Field(0.0, ge=0, le=1, description="DDIM stochasticity: 0 deterministic")


# ---------------------------------------------------------------- the autoencoder


class ConvBlock(nn.Module):
    """A residual block without a time embedding: the autoencoder's."""

    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.GroupNorm(groups_for(channels), channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups_for(channels), channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class Autoencoder(nn.Module):
    def __init__(self, channels: int, width: int, latent_channels: int, downsample: int):
        super().__init__()
        levels = int(math.log2(downsample))
        encoder = [nn.Conv2d(channels, width, 3, padding=1)]
        for _ in range(levels):
            encoder += [ConvBlock(width), nn.Conv2d(width, width, 3, stride=2, padding=1)]
        encoder += [
            ConvBlock(width),
            nn.GroupNorm(groups_for(width), width),
            nn.SiLU(),
            nn.Conv2d(width, 2 * latent_channels, 1),
        ]
        decoder = [nn.Conv2d(latent_channels, width, 3, padding=1), ConvBlock(width)]
        for _ in range(levels):
            decoder += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1)]
            decoder += [ConvBlock(width)]
        decoder += [nn.GroupNorm(groups_for(width), width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1)]
        self.encoder, self.decoder = nn.Sequential(*encoder), nn.Sequential(*decoder)
        self.register_buffer("latent_scale", torch.ones(()))  # set when the diffusion starts; saved with the weights

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's mean and log-variance for images in [0, 1]."""
        mean, log_var = self.encoder(2 * images - 1).chunk(2, dim=1)
        return mean, log_var.clamp(-30, 20)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Pixel logits: the images are sigmoid(logits)."""
        return self.decoder(latents)

    def forward(self, images: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mean, log_var = self.encode(images)
        return self.decode(mean + (0.5 * log_var).exp() * noise), mean, log_var


# ---------------------------------------------------------------- the text encoder and the latent U-Net


class TextEncoder(nn.Module):
    """Token and position embeddings through pre-norm transformer layers: one vector per token."""

    def __init__(self, vocab_size: int, width: int, layers: int, max_tokens: int, pad_id: int):
        super().__init__()
        self.pad_id = pad_id
        self.tokens = nn.Embedding(vocab_size, width)
        self.positions = nn.Parameter(0.02 * torch.randn(max_tokens, width))
        layer = nn.TransformerEncoderLayer(
            width, nhead=4, dim_feedforward=2 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        padding = ids == self.pad_id
        h = self.tokens(ids) + self.positions[: ids.shape[1]]
        return self.norm(self.encoder(h, src_key_padding_mask=padding)), padding


class CrossAttention(nn.Module):
    """Latent positions attend to the prompt's tokens. Written out rather than through
    scaled_dot_product_attention so that the views can read the attention weights (`keep_maps`)."""

    def __init__(self, channels: int, context_width: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups_for(channels), channels)
        self.query = nn.Linear(channels, channels)
        self.key_value = nn.Linear(context_width, 2 * channels)
        self.out = nn.Linear(channels, channels)
        self.keep_maps = False
        self.maps: torch.Tensor | None = None  # (B, H*W, tokens), the heads' mean, when keep_maps

    def forward(self, x: torch.Tensor, context: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(self.norm(x).flatten(2).transpose(1, 2))
        k, v = self.key_value(context).chunk(2, dim=-1)
        q, k, v = (t.reshape(b, -1, self.heads, c // self.heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(c // self.heads)
        weights = scores.masked_fill(padding[:, None, None, :], float("-inf")).softmax(dim=-1)
        if self.keep_maps:
            self.maps = weights.float().mean(dim=1).detach()
        attended = (weights @ v).transpose(1, 2).reshape(b, h * w, c)
        return x + self.out(attended).transpose(1, 2).reshape(b, c, h, w)


class LatentUNet(nn.Module):
    """ddpm's U-Net shape on the latent grid, conditioned on the prompt by cross-attention over its tokens and by
    its pooled vector (the [BOS] position's output) added to the time embedding, as Imagen and SDXL add theirs.
    It upsamples to the size of the skip it joins, so odd latent sides (7 for 28x28 images) work."""

    def __init__(self, latent_channels: int, base: int, multipliers: list[int], blocks: int, context_width: int):
        super().__init__()
        emb_dim = 4 * base
        self.base = base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.pooled_text = nn.Linear(context_width, emb_dim)
        self.conv_in = nn.Conv2d(latent_channels, base, 3, padding=1)
        widths = [base * m for m in multipliers]
        self.down, skip_widths, c = nn.ModuleList(), [base], base
        for level, width in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(c, width, emb_dim, groups_for(min(c, width))))
                self.down.append(CrossAttention(width, context_width))
                c = width
                skip_widths.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # halves each side
                skip_widths.append(c)
        self.mid = nn.ModuleList(
            [
                ResBlock(c, c, emb_dim, groups_for(c)),
                SelfAttention(c, groups_for(c)),
                CrossAttention(c, context_width),
                ResBlock(c, c, emb_dim, groups_for(c)),
            ]
        )
        self.up = nn.ModuleList()
        for width in reversed(widths):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(c + skip_widths.pop(), width, emb_dim, groups_for(width)))
                self.up.append(CrossAttention(width, context_width))
                c = width
        self.conv_out = nn.Sequential(
            nn.GroupNorm(groups_for(c), c), nn.SiLU(), nn.Conv2d(c, latent_channels, 3, padding=1)
        )

    def forward(self, z: torch.Tensor, t: torch.Tensor, context: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.base)) + self.pooled_text(context[:, 0])
        h = self.conv_in(z)
        skips = [h]
        for layer in self.down:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
            elif isinstance(layer, CrossAttention):
                h = layer(h, context, padding)
                skips.append(h)
            else:
                h = layer(h)
                skips.append(h)
        h = self.mid[0](h, emb)
        h = self.mid[2](self.mid[1](h), context, padding)
        h = self.mid[3](h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                skip = skips.pop()
                if h.shape[-2:] != skip.shape[-2:]:
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = layer(torch.cat([h, skip], dim=1), emb)
            else:
                h = layer(h, context, padding)
        return self.conv_out(h)

    def cross_attentions(self) -> list[CrossAttention]:
        return [m for m in self.modules() if isinstance(m, CrossAttention)]


class Denoiser(nn.Module):
    """The text encoder and the latent U-Net: what the diffusion trains, and what its EMA averages."""

    def __init__(self, cfg: dict):
        super().__init__()
        # What the captions mean and how prompts become tokens: plain data, not weights.
        self.spec = captions.CaptionSpec.from_json(cfg["captions"])
        self.given_captions = cfg["given_captions"]
        self.prompts = prompts_of(cfg)
        self.text = TextEncoder(
            cfg["vocab_size"], cfg["text_width"], cfg["text_layers"], cfg["max_tokens"], cfg["pad_id"]
        )
        self.unet = LatentUNet(
            cfg["latent_channels"],
            cfg["base_channels"],
            cfg["channel_multipliers"],
            cfg["blocks_per_level"],
            cfg["text_width"],
        )

    def forward(self, z: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        context, padding = self.text(ids)
        return self.unet(z, t, context, padding)


# ---------------------------------------------------------------- config, captions and the tokenizer


def config(params: Params, shape: tuple[int, int, int], n_classes: int) -> dict:
    return {
        "channels": shape[0],
        "height": shape[1],
        "width": shape[2],
        "n_classes": n_classes,
        **params.model_dump(
            include={
                "downsample",
                "latent_channels",
                "autoencoder_channels",
                "base_channels",
                "channel_multipliers",
                "blocks_per_level",
                "text_width",
                "text_layers",
                "max_tokens",
                "schedule",
                "timesteps",
            }
        ),
    }


def fit_config(
    cfg: dict,
    params: Params,
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: list[str],
    dataset: str,
    given: list[str] | None,
    pixel_max: int,
) -> dict:
    """What the training images fix: the caption spec (the attributes' thresholds, the held-out pairs), the
    captions a dataset brought, and the tokenizer trained on the training captions."""
    key = f"params.yaml: generative.ldm.held_out.{dataset}"
    held_out = [list(pair) for pair in params.held_out.get(dataset, [])]
    if given is not None and held_out:
        raise ConfigError(f"{key}: {dataset} brings its own captions, so no word of them can be held out; remove it")
    try:
        spec = captions.fit(images, labels, classes, held_out) if given is None else captions.given(classes)
    except ConfigError as e:
        raise ConfigError(f"{key}: {e}") from None
    texts = training_texts(spec)
    if given is None:
        said = training_said(spec, images, labels)
        per_image = [texts[i] for i in caption_index(labels.cpu(), said.cpu()).tolist()]
        table = []
    else:
        per_image = [*given, *texts]  # the class alone is a prompt too
        table = sorted(set(given))
    tokenizer_json = train(per_image, params.vocab_size)
    words = Prompts.words_of([*texts, *table])
    prompts = Prompts(tokenizer_json, words, params.max_tokens)
    length = {text: 1 + len(prompts.tokenizer.encode(text).ids) for text in [*texts, *table]}  # with [BOS]
    longest = max(length, key=length.get)
    if length[longest] > params.max_tokens:
        raise ConfigError(
            f"params.yaml: generative.ldm.max_tokens: {params.max_tokens} cannot hold the caption {longest!r} "
            f"({length[longest]} tokens with [BOS])"
        )
    return cfg | {
        "captions": spec.to_json(),
        "given_captions": table,
        "tokenizer": tokenizer_json,
        "words": words,
        "vocab_size": prompts.tokenizer.get_vocab_size(),
        "pad_id": prompts.pad,
    }


def caption_rows(cfg: dict, given: list[str]) -> torch.Tensor:
    """Each of a dataset's own captions as its row in the config's table of them."""
    row = {text: i for i, text in enumerate(cfg["given_captions"])}
    return torch.tensor([row[text] for text in given], dtype=torch.long)


def caption_index(labels: torch.Tensor, said: torch.Tensor) -> torch.Tensor:
    """The row of (class, said) in the table of caption texts: said is a bucket or -1 per attribute, so each
    attribute takes 4 states."""
    index = labels.long()
    for a in range(said.shape[1]):
        index = 4 * index + (said[:, a] + 1)
    return index


def training_texts(spec: captions.CaptionSpec) -> list[str]:
    """The caption of every (class, said) row of caption_index's table."""
    n_attributes = len(spec.attributes)
    texts = []
    for c in range(len(spec.class_words)):
        for code in range(4**n_attributes):
            said = [(code // 4 ** (n_attributes - 1 - a)) % 4 - 1 for a in range(n_attributes)]
            texts.append(spec.text(c, said))
    return texts


def training_said(spec: captions.CaptionSpec, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """What each image's training caption says: its attribute words, less those held out of its class."""
    said = spec.said(spec.buckets(images, labels))
    return torch.where(spec.is_held_out(labels, said), -1, said)


def prompts_of(cfg: dict) -> Prompts:
    return Prompts(cfg["tokenizer"], cfg["words"], cfg["max_tokens"])


def build(cfg: dict) -> dict[str, nn.Module]:
    denoiser = Denoiser(cfg)
    return {
        "autoencoder": Autoencoder(
            cfg["channels"], cfg["autoencoder_channels"], cfg["latent_channels"], cfg["downsample"]
        ),
        "denoiser": denoiser,
        "ema": AveragedModel(denoiser, use_buffers=True),
    }


# ---------------------------------------------------------------- training


class Progress:
    """Steps done, checkpointed with the run: which phase a resumed run is in."""

    def __init__(self) -> None:
        self.done = 0

    def state_dict(self) -> dict:
        return {"done": self.done}

    def load_state_dict(self, state: dict) -> None:
        self.done = int(state["done"])


def per_image(values: torch.Tensor) -> torch.Tensor:
    """Summed over each image, averaged over the batch."""
    return values.float().flatten(1).sum(1).mean()


def recipe(modules: dict[str, nn.Module], params: Params, run: Execution) -> Recipe:
    autoencoder, denoiser, ema = modules["autoencoder"], modules["denoiser"], modules["ema"]
    autoencoder_net, denoiser_net = run.parallel(autoencoder), run.parallel(denoiser)
    ema.multi_avg_fn = warmup_ema(params.ema_decay)
    device = next(denoiser.parameters()).device
    diffusion = Diffusion(params.schedule, params.timesteps).to(device)
    spec, prompts = denoiser.spec, denoiser.prompts
    table = prompts.ids(training_texts(spec)).to(device)
    given_table = prompts.ids(denoiser.given_captions).to(device)
    null = prompts.null(1).to(device)
    n_attributes = len(spec.attributes)
    own_captions = bool(denoiser.given_captions)
    optimizers = {
        "autoencoder": torch.optim.Adam(autoencoder.parameters(), lr=params.autoencoder_lr),
        "denoiser": torch.optim.AdamW(denoiser.parameters(), lr=params.lr, weight_decay=0.0),
    }
    progress = Progress()

    def latent_shape(x: torch.Tensor) -> tuple[int, ...]:
        return (len(x), params.latent_channels, x.shape[2] // params.downsample, x.shape[3] // params.downsample)

    def autoencoder_step(x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        autoencoder.train()
        noise = torch.randn(latent_shape(x), generator=generator)
        x, noise = run.share(x, noise)
        with run.autocast():
            logits, mean, log_var = autoencoder_net(x, noise)
        reconstruction = per_image(F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none"))
        kl = per_image(0.5 * (mean.float() ** 2 + log_var.float().exp() - 1 - log_var.float()))
        optimizer = optimizers["autoencoder"]
        optimizer.zero_grad(set_to_none=True)
        run.backward(reconstruction + params.kl_weight * kl)
        run.unscale(optimizer)
        torch.nn.utils.clip_grad_norm_(autoencoder.parameters(), 1.0)
        run.step(optimizer)
        return {"reconstruction": reconstruction.detach(), "kl": kl.detach()}

    def encoded(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training split as the diffusion steps take it, computed once the autoencoder is frozen: its posterior
        means scaled to unit spread over the whole split (Rombach et al.'s scale_by_std, there on one batch), and
        for measured captions each image's class beside what its caption says."""
        autoencoder.eval()
        with torch.no_grad():
            means = torch.cat([autoencoder.encode(x[i : i + 1024])[0].float() for i in range(0, len(x), 1024)])
        spread = float(means.std())  # NaN for a single value
        autoencoder.latent_scale.fill_(1 / spread if spread > 1e-6 else 1.0)
        if not own_captions:
            y = torch.cat([y.long()[:, None], training_said(spec, x, y).long()], dim=1)
        return means * autoencoder.latent_scale, y

    def diffusion_step(z: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        denoiser.train()
        n = len(z)
        t = torch.randint(params.timesteps, (n,), generator=generator)
        noise = torch.randn(z.shape, generator=generator)
        drop_prompt = torch.rand(n, generator=generator) < params.p_uncond
        drop_word = torch.rand(n, 1 if own_captions else n_attributes, generator=generator) < params.p_drop_word
        z, y, t, noise, drop_prompt, drop_word = run.share(z, y, t, noise, drop_prompt, drop_word)
        if own_captions:  # y: each image's class and its caption's row
            ids = torch.where(drop_word, table[y[:, 0]], given_table[y[:, 1]])  # the class alone, or the caption
        else:  # y: each image's class and the bucket its caption says, or -1, per attribute
            ids = table[caption_index(y[:, 0], torch.where(drop_word, -1, y[:, 1:]))]
        ids = torch.where(drop_prompt[:, None], null, ids)
        with run.autocast():
            predicted = denoiser_net(diffusion.q_sample(z, t, noise), t, ids)
            loss = F.mse_loss(predicted.float(), noise)
        optimizer = optimizers["denoiser"]
        optimizer.zero_grad(set_to_none=True)
        run.backward(loss)
        run.unscale(optimizer)
        torch.nn.utils.clip_grad_norm_(denoiser.parameters(), 1.0)
        run.step(optimizer)
        ema.update_parameters(denoiser)
        return {"mse": loss.detach()}

    def step(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        losses = autoencoder_step(x, generator) if progress.done < params.autoencoder_steps else None
        if losses is None:
            losses = diffusion_step(x, y, generator)
        progress.done += 1
        return losses

    return Recipe(
        modules=dict(modules),
        optimizers=optimizers,
        step=step,
        extra_state={"progress": progress},
        recode=encoded,
        recode_from_step=params.autoencoder_steps,
    )


# ---------------------------------------------------------------- sampling


@torch.no_grad()
def ddim(
    denoiser: Denoiser,
    diffusion: Diffusion,
    start: torch.Tensor,
    ids: torch.Tensor,
    generator: torch.Generator,
    sampling: Sampling,
    on_step=None,
    first_steps: int | None = None,
) -> torch.Tensor:
    """DDIM (Song et al., 2021) from the latent noise `start`; the x0 estimate is not clipped, as latents have no
    fixed range. `on_step(k, z, x0)` sees each step's latent and x0 estimate; `first_steps` stops early, for timing."""
    z = start
    null = denoiser.prompts.null(len(z)).to(z.device)
    times = ddim_times(diffusion.timesteps, sampling.steps)
    for i, t in enumerate(times[:first_steps]):
        t_prev = times[i + 1] if i + 1 < len(times) else -1
        ab = diffusion.alpha_bar[t]
        ab_prev = diffusion.alpha_bar[t_prev] if t_prev >= 0 else diffusion.alpha_bar_prev[0]
        at_t = torch.full((len(z),), t, device=z.device)
        eps = guided_noise(denoiser, z, at_t, ids, null, sampling.guidance_at(t, diffusion.timesteps))
        x0 = (z - (1 - ab).sqrt() * eps) / ab.sqrt()
        sigma = sampling.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        z = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        if sampling.eta > 0 and t_prev >= 0:
            z = z + sigma * torch.randn(z.shape, generator=generator).to(z.device)
        if on_step:
            on_step(i + 1, z, x0)
    return z


def _parts(modules: dict[str, nn.Module], cfg: dict) -> tuple[Denoiser, Autoencoder, Diffusion]:
    denoiser, autoencoder = modules["ema"].module.eval(), modules["autoencoder"].eval()
    device = next(denoiser.parameters()).device
    return denoiser, autoencoder, Diffusion(cfg["schedule"], cfg["timesteps"]).to(device)


def latent_noise(cfg: dict, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    side = cfg["downsample"]
    shape = (n, cfg["latent_channels"], cfg["height"] // side, cfg["width"] // side)
    return torch.randn(shape, generator=generator).to(device)


@torch.no_grad()
def decode(autoencoder: Autoencoder, latents: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(autoencoder.decode(latents / autoencoder.latent_scale).float())


@torch.no_grad()
def reconstruct(autoencoder: Autoencoder, images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] through the frozen autoencoder: the posterior's mean, decoded."""
    return decode(autoencoder, autoencoder.encode(images)[0] * autoencoder.latent_scale)


def sample_prompts(
    modules: dict[str, nn.Module],
    cfg: dict,
    texts: list[str],
    generator: torch.Generator,
    sampling: Sampling,
    first_steps: int | None = None,
) -> torch.Tensor:
    """Images in [0, 1], one per prompt, from the EMA weights."""
    denoiser, autoencoder, diffusion = _parts(modules, cfg)
    device = next(denoiser.parameters()).device
    ids = denoiser.prompts.ids(texts).to(device)
    start = latent_noise(cfg, len(texts), generator, device)
    return decode(autoencoder, ddim(denoiser, diffusion, start, ids, generator, sampling, first_steps=first_steps))


def sample(
    modules: dict[str, nn.Module], cfg: dict, labels: torch.Tensor, generator: torch.Generator, sampling: Sampling
) -> torch.Tensor:
    """Images for classes: the prompt is the class alone ("a seven")."""
    spec = caption_spec(cfg)
    texts = [spec.text(int(label), [-1] * len(spec.attributes)) for label in labels.tolist()]
    return sample_prompts(modules, cfg, texts, generator, sampling)


def caption_spec(cfg: dict) -> captions.CaptionSpec:
    return captions.CaptionSpec.from_json(cfg["captions"])


def check_prompt(cfg: dict, text: str) -> None:
    """Raise a PromptError (one line) for a prompt the tokenizer or the text encoder cannot take."""
    prompts_of(cfg).check(text)


# ---------------------------------------------------------------- views and timings


def view_prompts(denoiser: Denoiser, n: int) -> list[str]:
    """Prompts for the figures: each held-out pair first, then classes in turn with their attributes' words
    cycling through low and high; for a dataset that brought its captions, n of them spread over their table."""
    spec, given = denoiser.spec, denoiser.given_captions
    if given:
        return [given[i] for i in np.linspace(0, len(given) - 1, min(n, len(given))).round().astype(int).tolist()]
    texts = []
    for c, a, b in spec.held_out:
        said = [-1] * len(spec.attributes)
        said[a] = b
        texts.append(spec.text(c, said))
    c = 0
    while len(texts) < n and c < len(spec.class_words):
        texts.append(spec.text(c, [2 * ((c + a) % 2) for a in range(len(spec.attributes))]))
        c += 1
    return texts[:n]


def views(modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, context: Context) -> list[Grid]:
    return [
        _prompt_grid(modules, cfg, sampling, context),
        _attention_grid(modules, cfg, sampling, context),
        _reconstructions(modules, context),
    ]


def _prompt_grid(modules, cfg, sampling: Sampling, context: Context, columns: int = 6) -> Grid:
    """Prompts (rows) by start noise (columns): each column shares its noise, so the prompt alone changes down it."""
    denoiser, autoencoder, diffusion = _parts(modules, cfg)
    texts = view_prompts(denoiser, 6)
    ids = denoiser.prompts.ids(texts).to(context.device)
    grid = []
    for _ in range(columns):
        start = latent_noise(cfg, 1, context.generator, context.device).expand(len(texts), -1, -1, -1)
        grid.append(decode(autoencoder, ddim(denoiser, diffusion, start, ids, context.generator, sampling)).cpu())
    held = len(denoiser.spec.held_out)
    return Grid(
        "prompts",
        torch.stack(grid, dim=1).numpy(),
        [f"{text} (held out)" if i < held else text for i, text in enumerate(texts)],
        column_labels=[str(j) for j in range(columns)],
        x_label="start noise (shared down each column)",
        title=f"ldm: prompts by start noise, {context.dataset}",
        alt=f"Latent diffusion samples for several prompts on {context.dataset}",
        caption=f"ldm: one row per prompt, one column per start noise ({sampling.steps} DDIM steps, guidance "
        f"{sampling.guidance} where t / T is in {sampling.guidance_interval}). Rows marked held out name a (class, "
        "word) pair no training caption said together.",
    )


def _attention_grid(modules, cfg, sampling: Sampling, context: Context) -> Grid:
    """Where each token of one prompt is attended to over the latent grid, during sampling: the conditional
    half's attention weights, averaged over heads and the cross-attention layers at the latent's own size."""
    denoiser, autoencoder, diffusion = _parts(modules, cfg)
    text = view_prompts(denoiser, 1 + len(denoiser.spec.held_out))[-1]
    tokens = denoiser.prompts.tokens(text)
    ids = denoiser.prompts.ids([text]).to(context.device)
    start = latent_noise(cfg, 1, context.generator, context.device)
    h, w = start.shape[-2:]
    layers = denoiser.unet.cross_attentions()
    frames = sorted({round(k) for k in np.linspace(1, sampling.steps, ATTENTION_FRAMES)})
    kept_images, kept_maps = [], []

    def keep(k: int, z: torch.Tensor, x0: torch.Tensor) -> None:
        if k not in frames:
            return
        maps = [m.maps[:1] for m in layers if m.maps is not None and m.maps.shape[1] == h * w]
        attention = torch.stack(maps).mean(0)[0, :, : len(tokens)].T.reshape(len(tokens), 1, h, w)  # token, 1, h, w
        attention = attention / attention.flatten(1).amax(1).clamp(min=1e-12)[:, None, None, None]
        size = (cfg["height"], cfg["width"])
        kept_maps.append(F.interpolate(attention, size=size, mode="nearest").expand(-1, cfg["channels"], -1, -1).cpu())
        kept_images.append(decode(autoencoder, x0).cpu())

    for layer in layers:
        layer.keep_maps = True
    try:
        ddim(denoiser, diffusion, start, ids, context.generator, sampling, on_step=keep)
    finally:
        for layer in layers:
            layer.keep_maps, layer.maps = False, None
    images = torch.cat([torch.stack(kept_images, dim=1), torch.stack(kept_maps, dim=1)], dim=0)
    return Grid(
        "cross-attention",
        images.clamp(0, 1).numpy(),
        ["x0 estimate", *tokens],
        column_labels=[str(k) for k in frames],
        x_label="DDIM steps done",
        title=f"ldm: cross-attention of {text!r}, {context.dataset}",
        alt=f"Cross-attention maps of each token of a prompt during sampling on {context.dataset}",
        caption=f"ldm: the prompt {text!r}. Top row: the image the sampler's x0 estimate decodes to. Below, one row "
        f"per token: the attention the {h}x{w} latent grid pays it (heads and the layers at that size averaged, each "
        f"map scaled to its own maximum), after each number of the {sampling.steps} DDIM steps.",
    )


@torch.no_grad()
def _reconstructions(modules, context: Context) -> Grid:
    """Test images through the frozen autoencoder (the posterior's mean), and its error over the test split."""
    autoencoder = modules["autoencoder"].eval()
    x_test, y_test = context.test_split()
    errors = []
    for i in range(0, len(x_test), 512):
        x = torch.from_numpy(x_test[i : i + 512]).to(context.device)
        errors.append(((reconstruct(autoencoder, x) - x) ** 2).flatten(1))
    per_image = torch.cat(errors).mean(1).double().cpu()
    half = 1.96 * per_image.std().item() / math.sqrt(len(per_image)) if len(per_image) > 1 else float("nan")
    chosen = torch.from_numpy(one_per_class(x_test, y_test, len(context.classes))).to(context.device)
    rebuilt = reconstruct(autoencoder, chosen)
    mse = per_image.mean().item()
    return Grid(
        "reconstructions",
        torch.stack([chosen.cpu(), rebuilt.cpu()]).numpy(),
        ["test image", "reconstruction"],
        column_labels=list(context.classes),
        x_label="class",
        title=f"ldm: autoencoder reconstructions, {context.dataset}",
        alt=f"Test images and their reconstructions by the latent diffusion model's autoencoder on {context.dataset}",
        caption=f"ldm's autoencoder: one test image per class and its reconstruction through the latent grid. Mean "
        f"squared error per pixel over the {len(per_image)} test images: {mse:.5f} ± {half:.5f} (95% t-interval).",
    )


def sampler_timings(
    modules: dict[str, nn.Module], cfg: dict, sampling: Sampling, labels: torch.Tensor, seed: int, timed_steps: int
) -> dict:
    """Seconds per 1000 images of DDIM at sampling.steps, the decoder included (diffusion.timed_sampler)."""
    device = next(modules["ema"].parameters()).device
    spec = caption_spec(cfg)
    texts = [spec.text(int(label), [-1] * len(spec.attributes)) for label in labels.tolist()]

    def draw(first_steps: int, settings: Sampling) -> torch.Tensor:
        return sample_prompts(modules, cfg, texts, torch.Generator().manual_seed(seed), settings, first_steps)

    times = ddim_times(cfg["timesteps"], sampling.steps)
    ddim_timing = timed_sampler(draw, sampling, times, cfg["timesteps"], timed_steps, len(labels), device)
    return {"n_images": len(labels), "device": str(device), "samplers": {"ddim": ddim_timing}}
