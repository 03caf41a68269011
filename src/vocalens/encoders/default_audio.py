"""The default audio encoder: log-mel filterbank + deltas, stacked to the video rate, no weights.

A 25 ms Hann window every 10 ms gives ``n_mels`` log-mel bands (dB) at 100 Hz; each band is
normalised over the utterance (mean/variance), its delta (central difference) is appended, and
``stack`` consecutive 10 ms frames are concatenated into one output frame: with the defaults
128 mels x 2 x 4 = 1024 dims (the seed's audio dim) at 25 Hz, one output frame per video frame.
Output frame ``j`` covers ``[j/rate, (j+1)/rate)``: the analysis windows are centred at
5, 15, 25, 35 ms into it, so the store's alignment rule (``resample_to_frames``) holds exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.constants import SAMPLE_RATE
from vocalens.encoders import register_audio
from vocalens.errors import UserError
from vocalens.media.audio import log_mel


@register_audio("default")
class LogMelEncoder:
    """Log-mel + delta features stacked to ``rate`` Hz; see the module docstring."""

    name = "default"

    def __init__(
        self,
        weights=None,
        device="cpu",
        n_mels: int = 128,
        hop_ms: float = 10.0,
        win_ms: float = 25.0,
        n_fft: int = 1024,
        stack: int = 4,
        deltas: bool = True,
        normalize: str = "utterance",
    ):
        if normalize not in ("utterance", "none"):
            raise UserError(f"default audio encoder: normalize must be 'utterance' or 'none', got {normalize!r}")
        self.device = torch.device(device)
        self.n_mels, self.stack, self.deltas, self.normalize = int(n_mels), int(stack), bool(deltas), normalize
        self.hop = int(round(hop_ms * SAMPLE_RATE / 1000))
        self.win = int(round(win_ms * SAMPLE_RATE / 1000))
        self.n_fft = max(int(n_fft), self.win)
        self.hop_ms, self.win_ms = float(hop_ms), float(win_ms)
        self.rate = SAMPLE_RATE / (self.hop * self.stack)
        self.dim = self.n_mels * self.stack * (2 if self.deltas else 1)

    def config(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "rate": self.rate,
            "n_mels": self.n_mels,
            "hop_ms": self.hop_ms,
            "win_ms": self.win_ms,
            "n_fft": self.n_fft,
            "stack": self.stack,
            "deltas": self.deltas,
            "normalize": self.normalize,
        }

    def num_frames(self, num_samples: int) -> int:
        """Output frames for ``num_samples`` of audio: every started frame counts."""
        return int(math.ceil(num_samples / (self.hop * self.stack)))

    @torch.no_grad()
    def encode(self, wave: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1).to(self.device)
        ta = self.num_frames(len(x))
        if ta == 0:
            return np.zeros((0, self.dim), np.float32)
        n_hops = ta * self.stack
        # stft frame k spans [k*hop, k*hop + n_fft) with the window in its middle: pad so that
        # window k is centred on the middle of hop k, i.e. at (k + 0.5) * hop in the input
        left = self.n_fft // 2 - self.hop // 2
        right = (n_hops - 1) * self.hop + self.n_fft - left - len(x)
        mode = "reflect" if len(x) > max(left, right) else "constant"
        x = F.pad(x[None, None], (left, right), mode=mode)[0, 0]
        mel = log_mel(
            x, SAMPLE_RATE, n_fft=self.n_fft, hop_length=self.hop, n_mels=self.n_mels, win_length=self.win, center=False
        )  # [n_mels, n_hops]
        mel = mel[:, :n_hops].T  # [n_hops, n_mels]
        if self.normalize == "utterance":
            mel = (mel - mel.mean(0)) / mel.std(0, unbiased=False).clamp_min(1e-3)
        feats = [mel]
        if self.deltas:
            padded = torch.cat([mel[:1], mel, mel[-1:]])
            feats.append((padded[2:] - padded[:-2]) / 2)
        # [n_hops, C] -> [ta, stack * C] for each part, then static parts before delta parts
        out = torch.cat([f.reshape(ta, self.stack * self.n_mels) for f in feats], dim=1)
        return out.float().cpu().numpy()
