"""The AVFF model: ViT face stream + Wav2Vec2 (or mel-transformer) audio stream, per-time-slice tokens,
cross-modal A2V/V2A networks, decoders for the self-supervised stage, and the seed's attention fusion
with a classifier head.

Data flow for a batch of aligned clips (frames ``[B, F, 3, S, S]`` normalised, waveforms ``[B, N]``):

    frames -> ViT per frame (CLS) -> 768->dim -> mean over each slice's frames -> v_slices [B, K, dim]
    wave   -> Wav2Vec2 / mel transformer -> 768->dim -> pooled to K slices     -> a_slices [B, K, dim]
    slices -> temporal encoder per modality (only over visible slices in stage 1) -> v, a [B, K, dim]

Stage 1: complementary masks hide half the slices from each stream; A2V predicts the visual tokens
of the slices vision could not see from the audio tokens of those same slices (V2A likewise); each
decoder gets its own visible tokens plus the cross-modal predictions and reconstructs the masked
slices of its input (mel patches; downsampled face frames). InfoNCE ties the pooled v and a together.
Stage 2: fused = MLP([v, MHA(v over a)]) (the seed's fusion); the classifier sees the pooled fused
tokens and the pooled cross-modal disagreements |v - A2V(a)|, |a - V2A(v)| (what stage 1 learned
to predict on real videos).
The model reads no files: weights folders are opened by :func:`build_model` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vocalens.avff.config import AVFFConfig
from vocalens.avff.losses import info_nce, masked_mse, normalize_patches, slice_info_nce
from vocalens.avff.preprocess import clip_log_mel
from vocalens.errors import UserError


def pool_slices(x: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, T, D]`` -> ``[B, k, D]``: mean over k contiguous equal(ish) time ranges."""
    return F.adaptive_avg_pool1d(x.transpose(1, 2), k).transpose(1, 2)


def laplacian_magnitude(frames: torch.Tensor) -> torch.Tensor:
    """``|Laplacian|`` (4-neighbour) of every channel of ``[..., C, H, W]`` images, replicate padding,
    same shape. Shifted slices of one padded copy: ~6x faster on CPU than a 1-channel conv2d."""
    shape = frames.shape
    x = frames.reshape(-1, *shape[-2:])
    p = F.pad(x.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    lap = 4 * x - p[:, :-2, 1:-1] - p[:, 2:, 1:-1] - p[:, 1:-1, :-2] - p[:, 1:-1, 2:]
    return lap.abs().reshape(shape)


def _mean_max(tokens: torch.Tensor) -> torch.Tensor:
    """``[B, K, D]`` -> ``[B, 2D]``: mean and max over the K slices (a short fake part is not averaged away)."""
    return torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1)


def _transformer(dim: int, heads: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class VisualEncoder(nn.Module):
    """transformers ViTModel on each face crop; its CLS token (or mean patch token) projected 768 -> dim."""

    def __init__(self, cfg: AVFFConfig, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Linear(backbone.config.hidden_size, cfg.dim)
        self.temporal_delta, self.highpass, self.pool = cfg.temporal_delta, cfg.highpass, cfg.visual_pool

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # [B, F, 3, S, S] -> [B, F, dim]
        b, f = frames.shape[:2]
        parts = [frames]
        if self.temporal_delta:  # + each frame minus the clip's mean frame (motion, local change)
            parts.append(frames - frames.mean(1, keepdim=True))
        if self.highpass:  # + fine-detail magnitude (a softened, pasted mouth has less)
            parts.append(laplacian_magnitude(frames))
        frames = torch.cat(parts, dim=2) if len(parts) > 1 else frames
        hidden = self.backbone(pixel_values=frames.flatten(0, 1)).last_hidden_state
        out = hidden[:, 0] if self.pool == "cls" else hidden[:, 1:].mean(1)
        return self.proj(out).view(b, f, -1)


class Wav2Vec2AudioEncoder(nn.Module):
    """transformers Wav2Vec2Model on the raw 16 kHz waveform (per-clip zero mean, unit variance as its
    feature extractor does), hidden states projected 768 -> dim; ~50 tokens/s."""

    def __init__(self, cfg: AVFFConfig, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Linear(backbone.config.hidden_size, cfg.dim)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, Ta, dim]
        x = (wave - wave.mean(-1, keepdim=True)) / (wave.std(-1, keepdim=True) + 1e-5)
        return self.proj(self.backbone(x).last_hidden_state)


class MelAudioEncoder(nn.Module):
    """A light transformer over log-mel frames (n_fft/hop/n_mels from the config), per-clip standardised."""

    def __init__(self, cfg: AVFFConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.n_mels * (2 if cfg.temporal_delta else 1), cfg.mel_hidden)
        self.pos = nn.Parameter(torch.zeros(1, cfg.mel_frames, cfg.mel_hidden))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.encoder = _transformer(cfg.mel_hidden, cfg.mel_heads, cfg.mel_layers, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.mel_hidden)
        self.proj = nn.Linear(cfg.mel_hidden, cfg.dim)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, mel_frames, dim]
        c = self.cfg
        mel = clip_log_mel(wave.float(), c.n_fft, c.hop_length, c.n_mels, c.mel_frames, c.sample_rate)
        mel = (mel - mel.mean((1, 2), keepdim=True)) / (mel.std((1, 2), keepdim=True) + 1e-5)
        if c.temporal_delta:  # + each frame minus the clip's mean spectrum (timbre out, changes in)
            mel = torch.cat([mel, mel - mel.mean(2, keepdim=True)], dim=1)
        x = self.embed(mel.transpose(1, 2).to(self.embed.weight.dtype)) + self.pos[:, : mel.shape[-1]]
        return self.proj(self.norm(self.encoder(x)))


class SliceTransformer(nn.Module):
    """Transformer over the K slice tokens with learned slice positions; attends only to ``visible``
    slices when a mask is given (hidden slices are never read). Used as the per-modality temporal
    encoder and as the A2V / V2A cross-modal networks."""

    def __init__(self, k: int, dim: int, heads: int, layers: int, dropout: float, out_dim: int | None = None):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, k, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.encoder = _transformer(dim, heads, layers, dropout)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim) if out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        pad = None if visible is None else ~visible
        return self.out(self.norm(self.encoder(x + self.pos, src_key_padding_mask=pad)))


class Decoder(nn.Module):
    """Stage-1 decoder: K slice tokens (own visible + cross-modal predictions) -> reconstruction per slice."""

    def __init__(self, k: int, dim: int, dec_dim: int, heads: int, layers: int, target_dim: int, dropout: float):
        super().__init__()
        self.inp = nn.Linear(dim, dec_dim)
        self.body = SliceTransformer(
            k, dec_dim, heads if dec_dim % heads == 0 else 1, layers, dropout, out_dim=target_dim
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.inp(x))


class CrossModalFusion(nn.Module):
    """The seed's fusion: multi-head attention of visual tokens over audio tokens, concatenation, MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.fusion_mlp = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        attn, _ = self.attention(visual, audio, audio, need_weights=False)
        return self.fusion_mlp(torch.cat([visual, attn], dim=-1))


class AVFFModel(nn.Module):
    def __init__(self, cfg: AVFFConfig, visual_backbone: nn.Module, audio_backbone: nn.Module | None):
        super().__init__()
        self.cfg = cfg
        k, d = cfg.num_slices, cfg.dim
        self.visual = VisualEncoder(cfg, visual_backbone)
        self.audio = (
            Wav2Vec2AudioEncoder(cfg, audio_backbone) if cfg.audio_encoder == "wav2vec2" else MelAudioEncoder(cfg)
        )
        self.visual_context = SliceTransformer(k, d, cfg.heads, cfg.temporal_layers, cfg.dropout)
        self.audio_context = SliceTransformer(k, d, cfg.heads, cfg.temporal_layers, cfg.dropout)
        self.a2v = SliceTransformer(k, d, cfg.heads, cfg.cross_layers, cfg.dropout, out_dim=d)
        self.v2a = SliceTransformer(k, d, cfg.heads, cfg.cross_layers, cfg.dropout, out_dim=d)
        self.visual_decoder = Decoder(
            k,
            d,
            cfg.decoder_dim,
            cfg.heads,
            cfg.decoder_layers,
            cfg.frames_per_slice * 3 * cfg.target_size**2,
            cfg.dropout,
        )
        self.audio_decoder = Decoder(
            k, d, cfg.decoder_dim, cfg.heads, cfg.decoder_layers, cfg.n_mels * (cfg.mel_frames // k), cfg.dropout
        )
        self.fusion = CrossModalFusion(d, cfg.heads)
        n_in = 3 * d if cfg.head == "mean" else 2 * (3 * d + 1)
        self.classifier = nn.Sequential(
            nn.LayerNorm(n_in), nn.Linear(n_in, d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(d, 1)
        )
        # + a linear logit per stream on its own slice tokens (mean and max over slices), added to the
        # joint one: a short path from each encoder to the loss, so neither waits for the fusion to
        # become informative (measured: docs/avff.md, "stream heads")
        self.stream_heads = nn.ModuleList([nn.Linear(2 * d, 1), nn.Linear(2 * d, 1)]) if cfg.stream_heads else None

    # -- groups of parameters, so a stage can freeze what it does not train ----------------------
    def encoder_modules(self) -> list[nn.Module]:
        return [self.visual, self.audio, self.visual_context, self.audio_context, self.a2v, self.v2a]

    def head_modules(self) -> list[nn.Module]:
        return [self.fusion, self.classifier] + ([self.stream_heads] if self.stream_heads is not None else [])

    def set_stage(self, stage: str, freeze_encoders: bool = False) -> None:
        """'pretrain': encoders, cross-modal nets, decoders train; fusion/classifier frozen.
        'classify': fusion + classifier train; encoders too unless ``freeze_encoders``; decoders frozen.
        (Frozen parameters take no gradient, so DDP needs no unused-parameter search.)"""
        train = {
            "pretrain": self.encoder_modules() + [self.visual_decoder, self.audio_decoder],
            "classify": ([] if freeze_encoders else self.encoder_modules()) + self.head_modules(),
        }[stage]
        for p in self.parameters():
            p.requires_grad_(False)
        for m in train:
            for p in m.parameters():
                p.requires_grad_(True)
        for name, p in self.named_parameters():
            if name.endswith("masked_spec_embed"):  # Wav2Vec2's SpecAugment token: unused (augmentation off)
                p.requires_grad_(False)

    # -- building blocks ------------------------------------------------------------------------
    def slice_tokens(self, frames: torch.Tensor, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-slice tokens before temporal context: ``([B, K, dim], [B, K, dim])``."""
        k = self.cfg.num_slices
        v = self.visual(frames)
        v = v.view(v.shape[0], k, -1, v.shape[-1]).mean(2)
        a = pool_slices(self.audio(wave), k)
        return v, a

    def contextual(self, v_slices, a_slices, v_visible=None, a_visible=None):
        return self.visual_context(v_slices, v_visible), self.audio_context(a_slices, a_visible)

    def visual_targets(self, frames: torch.Tensor) -> torch.Tensor:
        """Masked-slice targets for vision: each slice's frames at ``target_size`` px, ``[B, K, P]``."""
        c = self.cfg
        b, f = frames.shape[:2]
        small = F.adaptive_avg_pool2d(frames.flatten(0, 1).float(), c.target_size)
        return normalize_patches(small.reshape(b, c.num_slices, -1))

    def audio_targets(self, wave: torch.Tensor) -> torch.Tensor:
        """Masked-slice targets for audio: each slice's log-mel patch, ``[B, K, n_mels * mel_frames / K]``."""
        c = self.cfg
        mel = clip_log_mel(wave.float(), c.n_fft, c.hop_length, c.n_mels, c.mel_frames, c.sample_rate)
        b = mel.shape[0]
        patches = mel.view(b, c.n_mels, c.num_slices, -1).permute(0, 2, 1, 3).reshape(b, c.num_slices, -1)
        return normalize_patches(patches)

    # -- the two stages -------------------------------------------------------------------------
    def pretrain_losses(
        self, frames, wave, v_visible: torch.Tensor, wave_shift: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        c = self.cfg
        a_visible = ~v_visible
        v_slices, a_slices = self.slice_tokens(frames, wave)
        v_vis, a_vis = self.contextual(v_slices, a_slices, v_visible, a_visible)
        v_from_a = self.a2v(a_vis, a_visible)  # meaningful where audio is visible = where vision is masked
        a_from_v = self.v2a(v_vis, v_visible)
        v_full = torch.where(v_visible[..., None], v_vis, v_from_a)
        a_full = torch.where(a_visible[..., None], a_vis, a_from_v)
        rec_v = masked_mse(self.visual_decoder(v_full), self.visual_targets(frames), ~v_visible)
        rec_a = masked_mse(self.audio_decoder(a_full), self.audio_targets(wave), ~a_visible)
        v_all, a_all = self.contextual(v_slices, a_slices)  # unmasked context for the global embeddings
        neg = None
        if wave_shift is not None:  # same clip's face, same voice, audio from another time: sync negatives
            neg = self.audio_context(pool_slices(self.audio(wave_shift), c.num_slices))
        if frames.shape[0] == 1 and neg is None:
            nce = rec_v * 0
        elif c.contrastive == "slice":
            nce = slice_info_nce(v_all, a_all, c.temperature, neg)
        else:
            nce = info_nce(v_all.mean(1), a_all.mean(1), c.temperature, None if neg is None else neg.mean(1))
        loss = c.rec_weight * (rec_v + rec_a) + c.contrastive_weight * nce
        return {
            "loss": loss,
            "rec_visual": rec_v.detach(),
            "rec_audio": rec_a.detach(),
            "contrastive": nce.detach(),
            "visual_embedding": v_all.mean(1).detach(),
            "audio_embedding": a_all.mean(1).detach(),
        }

    def embed(self, frames, wave) -> torch.Tensor:
        """Clip embedding the classifier reads: ``[B, 3*dim]`` (head 'mean') or ``[B, 2*(3*dim+1)]`` ('slices')."""
        return self._joint_embedding(*self.contextual(*self.slice_tokens(frames, wave)))

    def _joint_embedding(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        fused = self.fusion(v, a)
        dv = (v - self.a2v(a)).abs()
        da = (a - self.v2a(v)).abs()
        if self.cfg.head == "mean":
            return torch.cat([fused.mean(1), dv.mean(1), da.mean(1)], dim=-1)
        sync = self.sync_scores(v, a).unsqueeze(-1).to(v.dtype)  # [B, K, 1]
        return _mean_max(torch.cat([fused, dv, da, sync], dim=-1))

    def sync_scores(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Per-slice lip-sync score ``[B, K]``: cosine of the contextual face and audio tokens, the
        similarity the slice InfoNCE of stage 1 raises for aligned pairs and lowers for shifted audio."""
        return F.cosine_similarity(v.float(), a.float(), dim=-1)

    def classify(self, frames, wave) -> torch.Tensor:
        """Real/fake logits ``[B]``: the joint classifier's, plus the per-stream ones with ``stream_heads``."""
        v_slices, a_slices = self.slice_tokens(frames, wave)
        logits = self.classifier(self._joint_embedding(*self.contextual(v_slices, a_slices))).squeeze(-1)
        if self.stream_heads is not None:
            for head, tokens in zip(self.stream_heads, (v_slices, a_slices)):
                logits = logits + head(_mean_max(tokens)).squeeze(-1)
        return logits

    def forward(self, frames, wave, v_visible: torch.Tensor | None = None, wave_shift: torch.Tensor | None = None):
        """Stage 2 (no mask): real/fake logits ``[B]``. Stage 1 (``v_visible`` given): the loss dict
        (``wave_shift``: time-shifted audio of the same clips, extra contrastive negatives).
        One forward for both so DDP's gradient hooks run in either stage."""
        if v_visible is not None:
            return self.pretrain_losses(frames, wave, v_visible, wave_shift)
        return self.classify(frames, wave)


# -- construction: the only place that opens weights folders -------------------------------------
def _check_folder(folder: str, what: str) -> Path:
    p = Path(folder)
    if not (p / "config.json").is_file():
        raise UserError(
            f"{p}: no {what} weights here (expected a folder written by save_pretrained with "
            f"config.json); nothing is downloaded, so copy the model folder there first"
        )
    return p


def vit_backbone(cfg: AVFFConfig, load_weights: bool = True) -> nn.Module:
    from transformers import ViTConfig, ViTModel

    if cfg.visual_weights and load_weights:
        return ViTModel.from_pretrained(str(_check_folder(cfg.visual_weights, "ViT")), add_pooling_layer=False)
    if cfg.visual_weights:  # architecture from the folder, weights come from a checkpoint next
        return ViTModel(
            ViTConfig.from_pretrained(str(_check_folder(cfg.visual_weights, "ViT"))), add_pooling_layer=False
        )
    conf = ViTConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        num_channels=cfg.visual_channels,
        hidden_size=cfg.vit_hidden,
        num_hidden_layers=cfg.vit_layers,
        num_attention_heads=cfg.vit_heads,
        intermediate_size=4 * cfg.vit_hidden,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return ViTModel(conf, add_pooling_layer=False)


def wav2vec2_backbone(cfg: AVFFConfig, load_weights: bool = True) -> nn.Module:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    no_aug = dict(apply_spec_augment=False, layerdrop=0.0)
    if cfg.audio_weights:
        folder = str(_check_folder(cfg.audio_weights, "Wav2Vec2"))
        if load_weights:
            return Wav2Vec2Model.from_pretrained(folder, **no_aug)
        conf = Wav2Vec2Config.from_pretrained(folder)
        for k, v in no_aug.items():
            setattr(conf, k, v)
        return Wav2Vec2Model(conf)
    conf = Wav2Vec2Config(
        hidden_size=cfg.w2v_hidden,
        num_hidden_layers=cfg.w2v_layers,
        num_attention_heads=cfg.w2v_heads,
        intermediate_size=4 * cfg.w2v_hidden,
        conv_dim=tuple(cfg.w2v_conv_dim),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        **no_aug,
    )
    return Wav2Vec2Model(conf)


def backbone_configs(model: AVFFModel) -> dict:
    """The transformers configs of the backbones as plain JSON types (stored in checkpoints so a
    checkpoint rebuilds without the weights folders it was started from)."""
    out = {"vit": json.loads(model.visual.backbone.config.to_json_string())}
    if model.cfg.audio_encoder == "wav2vec2":
        out["wav2vec2"] = json.loads(model.audio.backbone.config.to_json_string())
    return out


def build_model(cfg: AVFFConfig, load_weights: bool = True, backbones: dict | None = None) -> AVFFModel:
    """Fresh model from a config; encoder weights from the config's local folders when set.
    ``backbones`` (from :func:`backbone_configs`) rebuilds a checkpoint's architecture with no folder."""
    cfg.validate()
    if backbones is not None:
        from transformers import ViTConfig, ViTModel, Wav2Vec2Config, Wav2Vec2Model

        vb = ViTModel(ViTConfig.from_dict(backbones["vit"]), add_pooling_layer=False)
        ab = Wav2Vec2Model(Wav2Vec2Config.from_dict(backbones["wav2vec2"])) if "wav2vec2" in backbones else None
        return AVFFModel(cfg, vb, ab)
    vb = vit_backbone(cfg, load_weights)
    if vb.config.image_size != cfg.image_size:
        raise UserError(
            f"{cfg.visual_weights}: ViT expects {vb.config.image_size} px images but the preset "
            f"uses image_size={cfg.image_size}; pass --image_size {vb.config.image_size}"
        )
    if vb.config.num_channels != cfg.visual_channels:
        raise UserError(
            f"{cfg.visual_weights}: ViT takes {vb.config.num_channels} input channels but "
            f"temporal_delta={cfg.temporal_delta}, highpass={cfg.highpass} need {cfg.visual_channels}"
        )
    ab = wav2vec2_backbone(cfg, load_weights) if cfg.audio_encoder == "wav2vec2" else None
    return AVFFModel(cfg, vb, ab)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_summary(model: AVFFModel) -> str:
    parts = {
        "visual": model.visual,
        "audio": model.audio,
        "context+cross": nn.ModuleList([model.visual_context, model.audio_context, model.a2v, model.v2a]),
        "decoders": nn.ModuleList([model.visual_decoder, model.audio_decoder]),
        "fusion+classifier": nn.ModuleList(model.head_modules()),
    }
    return ", ".join(f"{k} {count_parameters(m) / 1e6:.2f}M" for k, m in parts.items())
