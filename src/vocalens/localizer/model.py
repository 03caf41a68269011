"""The VOCA-Lens localizer: per-frame fake logits from per-frame visual and audio features.

visual [B,T,Dv], audio [B,T,Da] (already on the video frames), mask [B,T] (True = real frame)
  -> projections to d_model (Linear, then a residual temporal convolution over ``conv_kernel`` frames,
     then LayerNorm): each frame's vector describes its neighbourhood's dynamics (mouth motion, sound
     onsets, the few-frame lag of the mouth behind the sound), so the per-frame similarity compares
     local dynamics rather than two single frames; ``conv_kernel=1`` is the seed's per-frame Linear
  -> similarity = cos(v, a) per frame, in [-1, 1]               (the explicit audio-visual sync signal)
  -> cross-modal attention, v attends to a and a attends to v (residual + LayerNorm), fused by mean;
     ``cross_attn=False``: fused = (v + a) / 2
  -> + sinusoidal positions -> temporal Transformer encoder (pre-norm, GELU)
  -> frame classifier on cat[encoded, similarity] (d_model + 1) -> frame_logits [B,T]
     ``sync_residual=N``: + w * masked_box_N(-cos(visual_raw, audio_raw)) + c (learned w, c; 0 at init)
  -> video head on [masked mean, masked max] of the encoded frames -> video_logit [B]
     ``video_head=False``: video_logit = masked max of the frame logits (so a video score still exists)
  -> boundary head (``boundary_head``, vocalens.localizer.boundary) on the same cat[encoded, similarity]
     (``boundary_streams``: + the two projections and the lag profile, each stream at full resolution):
     a temporal pyramid with, per point, a fake-segment logit, distances to start and end, a quality logit
     (``boundary_edges``: + per-frame start / end logits)

Padded frames are excluded as attention keys everywhere, from pooling and from every loss; their
outputs are whatever the computation gives and must be ignored (they never affect valid frames).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vocalens.localizer.boundary import BoundaryHead
from vocalens.localizer.config import ModelConfig


class LocalizerOutput(NamedTuple):
    frame_logits: torch.Tensor  # [B,T]
    video_logit: torch.Tensor  # [B]
    similarity: torch.Tensor  # [B,T]
    boundary: dict | None  # BoundaryHead's output, None without the head


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """[length, dim] fixed sin/cos positions (Vaswani et al.), any length."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    angle = pos * torch.exp(-math.log(10000.0) * i / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.to(dtype)


def sequence_standardize(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B,T,D] -> per-sequence, per-feature z-scores over the valid frames (0 on padding)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    n = m.sum(1, keepdim=True).clamp_min(1)
    mu = (x * m).sum(1, keepdim=True) / n
    sd = (((x - mu) ** 2 * m).sum(1, keepdim=True) / n).sqrt().clamp_min(1e-3)
    return (x - mu) / sd * m


def lag_profile(visual: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor, lags: int) -> torch.Tensor:
    """[B,T,D] x2 -> [B,T,2L+1]: cos(visual_t, audio_{t+l}) for l = -L..L (0 where t+l is outside or padded)."""
    m = mask.unsqueeze(-1).to(visual.dtype)
    v = F.normalize(visual.float(), dim=-1, eps=1e-6) * m
    a = F.pad((F.normalize(audio.float(), dim=-1, eps=1e-6) * m).transpose(1, 2), (lags, lags)).transpose(1, 2)
    t = visual.shape[1]
    prof = torch.stack([(v * a[:, i : i + t]).sum(-1) for i in range(2 * lags + 1)], -1)
    return (prof * m).to(visual.dtype)


def masked_box(x: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    """[B,T] -> the mean of x over the valid frames within ``length // 2`` of each frame (0 on padding)."""
    m = mask.to(x.dtype)
    k = torch.ones(1, 1, length, dtype=x.dtype, device=x.device)
    num = F.conv1d((x * m).unsqueeze(1), k, padding=length // 2).squeeze(1)
    den = F.conv1d(m.unsqueeze(1), k, padding=length // 2).squeeze(1)
    return num[:, : x.shape[1]] / den[:, : x.shape[1]].clamp_min(1) * m


def change_energy(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B,T,D] -> [B,T,2]: log mean-square of each frame and of its change from the previous frame,
    standardised over each sequence's valid frames (0 on padding).

    How much a stream changes is the sync signal in its simplest form: mouth motion goes with sound
    onsets and offsets. A linear projection cannot compute a norm, so it is handed over explicitly.
    """
    diff = x[:, 1:] - x[:, :-1]
    diff = torch.cat([diff[:, :1], diff], 1) if x.shape[1] > 1 else torch.zeros_like(x)  # frame 0: frame 1's change
    e = torch.stack([x.float().pow(2).mean(-1), diff.float().pow(2).mean(-1)], -1).add(1e-4).log()
    m = mask.unsqueeze(-1).float()
    n = m.sum(1, keepdim=True).clamp_min(1)
    mu = (e * m).sum(1, keepdim=True) / n
    sd = (((e - mu) ** 2 * m).sum(1, keepdim=True) / n).sqrt().clamp_min(1e-3)
    return ((e - mu) / sd * m).to(x.dtype)


class Projection(nn.Module):
    """[x, change_energy(x)] -> Linear to d_model, + GELU(Conv1d over ``kernel`` frames) as a residual, LayerNorm.

    Padded frames are zeroed before the convolution, so a valid frame next to padding sees exactly
    the zeros the convolution's own padding gives at a sequence end (padding stays invisible).
    """

    def __init__(self, in_dim: int, d_model: int, kernel: int, energy: bool = True):
        super().__init__()
        self.energy = energy
        self.linear = nn.Linear(in_dim + (2 if energy else 0), d_model)
        self.conv = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2) if kernel > 1 else None
        self.norm = nn.LayerNorm(d_model)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before this module: the projection was nn.Sequential(Linear, LayerNorm)
        for old, new in (("0.", "linear."), ("1.", "norm.")):
            for name in ("weight", "bias"):
                if prefix + old + name in state_dict and prefix + new + name not in state_dict:
                    state_dict[prefix + new + name] = state_dict.pop(prefix + old + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        if self.energy:
            x = torch.cat([x, change_energy(x, mask)], -1)
        h = self.linear(x)
        if self.conv is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
            h = h + F.gelu(self.conv(h.transpose(1, 2)).transpose(1, 2))
        return self.norm(h)


class CrossModalBlock(nn.Module):
    """Bidirectional cross attention: video queries audio, audio queries video; mean-fused."""

    def __init__(self, d_model: int, nhead: int, dropout: float, attn_dropout: float = 0.0):
        super().__init__()
        self.v2a = nn.MultiheadAttention(d_model, nhead, dropout=attn_dropout, batch_first=True)
        self.a2v = nn.MultiheadAttention(d_model, nhead, dropout=attn_dropout, batch_first=True)
        self.norm_v = nn.LayerNorm(d_model)
        self.norm_a = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, v: torch.Tensor, a: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        v_att, _ = self.v2a(v, a, a, key_padding_mask=pad, need_weights=False)
        a_att, _ = self.a2v(a, v, v, key_padding_mask=pad, need_weights=False)
        v_enh = self.norm_v(v + self.drop(v_att))
        a_enh = self.norm_a(a + self.drop(a_att))
        return (v_enh + a_enh) / 2


class Localizer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.visual_dim is None or cfg.audio_dim is None:
            raise ValueError("ModelConfig.visual_dim / audio_dim: the feature widths are needed to build the model")
        self.cfg = cfg.validate()
        d = cfg.d_model
        self.v_proj = Projection(cfg.visual_dim, d, cfg.conv_kernel, cfg.energy)
        self.a_proj = Projection(cfg.audio_dim, d, cfg.conv_kernel, cfg.energy)
        self.cross = CrossModalBlock(d, cfg.nhead, cfg.dropout, cfg.attn_dropout) if cfg.cross_attn else None
        layer = nn.TransformerEncoderLayer(
            d,
            cfg.nhead,
            cfg.dim_feedforward or 4 * d,
            cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        layer.self_attn.dropout = cfg.attn_dropout  # before the encoder copies the layer
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        if cfg.sync_lags and cfg.visual_dim != cfg.audio_dim:
            raise ValueError("sync_lags needs visual and audio features of one size (a sync encoder pair)")
        self.profile_proj = nn.Linear(2 * cfg.sync_lags + 1, d) if cfg.sync_lags else None
        if cfg.sync_residual and cfg.visual_dim != cfg.audio_dim:
            raise ValueError("sync_residual needs visual and audio features of one size (a sync encoder pair)")
        self.sync_residual = nn.Linear(1, 1) if cfg.sync_residual else None
        if self.sync_residual is not None:  # starts as the model without it
            nn.init.zeros_(self.sync_residual.weight)
            nn.init.zeros_(self.sync_residual.bias)
        self.input_drop = nn.Dropout(cfg.dropout)
        self.frame_head = nn.Sequential(
            nn.Linear(d + 1, d // 2), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(d // 2, 1)
        )
        self.video_head = (
            nn.Sequential(nn.Linear(2 * d, d // 2), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(d // 2, 1))
            if cfg.video_head
            else None
        )
        extra = (2 * d + (2 * cfg.sync_lags + 1 if cfg.sync_lags else 0)) if cfg.boundary_streams else 0
        self.boundary_head = (
            BoundaryHead(d + 1 + extra, d, cfg.boundary_levels, edges=cfg.boundary_edges) if cfg.boundary_head else None
        )

    def forward(
        self, visual: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor | None = None, all_heads: bool = False
    ):
        """-> frame_logits [B,T], video_logit [B], similarity [B,T] (all float32); ``all_heads``: a
        :class:`LocalizerOutput` with the boundary head's output too (through forward, so DDP sees it)."""
        b, t, _ = visual.shape
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=visual.device)
        mask = mask.bool()
        pad = ~mask
        profile = lag_profile(visual, audio, mask, self.cfg.sync_lags) if self.profile_proj is not None else None
        raw_sync = None
        if self.sync_residual is not None:  # out of sync = high, from the raw inputs (before feature_norm)
            cos = F.cosine_similarity(visual.float(), audio.float(), dim=-1, eps=1e-6)
            raw_sync = -masked_box(cos, mask, self.cfg.sync_residual)
        if self.cfg.feature_norm:
            visual, audio = sequence_standardize(visual, mask), sequence_standardize(audio, mask)
        v = self.v_proj(visual, mask)
        a = self.a_proj(audio, mask)
        similarity = F.cosine_similarity(v.float(), a.float(), dim=-1, eps=1e-6)  # [B,T] in [-1,1]
        fused = self.cross(v, a, pad) if self.cross is not None else (v + a) / 2
        if profile is not None:
            fused = fused + self.profile_proj(profile.to(fused.dtype))
        x = self.input_drop(fused + sinusoidal_positions(t, fused.shape[-1], fused.device, fused.dtype))
        encoded = self.encoder(x, src_key_padding_mask=pad)
        frame_in = torch.cat([encoded, similarity.unsqueeze(-1).to(encoded.dtype)], dim=-1)
        frame_logits = self.frame_head(frame_in).squeeze(-1).float()
        if raw_sync is not None:
            frame_logits = frame_logits + self.sync_residual(raw_sync.unsqueeze(-1)).squeeze(-1)
        m = mask.to(encoded.dtype).unsqueeze(-1)
        if self.video_head is not None:
            mean = (encoded * m).sum(1) / m.sum(1).clamp_min(1)
            peak = encoded.masked_fill(pad.unsqueeze(-1), float("-inf")).amax(1)  # a short fake still shows
            video_logit = self.video_head(torch.cat([mean, peak], -1)).squeeze(-1).float()
        else:
            video_logit = frame_logits.masked_fill(pad, float("-inf")).amax(1)
        if not all_heads:
            return frame_logits, video_logit, similarity
        boundary = None
        if self.boundary_head is not None:
            streams = (
                [v, a] + ([profile.to(v.dtype)] if profile is not None else []) if self.cfg.boundary_streams else []
            )
            boundary = self.boundary_head(torch.cat([frame_in, *streams], -1), mask)
        return LocalizerOutput(frame_logits, video_logit, similarity, boundary)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
