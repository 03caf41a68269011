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
from typing import Callable, Iterable

import numpy as np
import torch

from vocalens.constants import SAMPLE_RATE
from vocalens.encoders import register_audio
from vocalens.errors import UserError
from vocalens.media.audio import iter_normalised_log_mel


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

    BLOCK_HOPS = 10000  # log-mel rows per streamed block (100 s)

    @torch.no_grad()
    def encode_stream(self, read: Callable[[], Iterable[np.ndarray]], num_samples: int) -> np.ndarray:
        """[Ta, dim] from a wave of ``num_samples`` that ``read()`` hands out in blocks: the log-mel rows
        block by block (vocalens.media.audio.iter_normalised_log_mel: once for the utterance statistics,
        once for the features); a block's deltas take one row of each neighbour block, so the features do not
        depend on the blocks. Only the features are kept for the whole track."""
        ta = self.num_frames(num_samples)
        out = np.zeros((ta, self.dim), np.float32)
        if ta == 0:
            return out
        n_hops = ta * self.stack
        spec = dict(
            hop=self.hop,
            win=self.win,
            n_fft=self.n_fft,
            n_mels=self.n_mels,
            block_hops=self.BLOCK_HOPS,
            multiple=self.stack,
        )

        def blocks():
            return (torch.as_tensor(b).numpy() for b in read())

        rows = iter_normalised_log_mel(blocks, num_samples, n_hops, self.normalize == "utterance", **spec)
        f0, prev, cur = 0, None, None

        def emit(block, left, right):
            nonlocal f0
            k = len(block) // self.stack
            parts = [block.reshape(k, self.stack * self.n_mels)]
            if self.deltas:
                p = torch.cat([left[None], block, right[None]])
                parts.append(((p[2:] - p[:-2]) / 2).reshape(k, self.stack * self.n_mels))
            out[f0 : f0 + k] = torch.cat(parts, dim=1).numpy()
            f0 += k

        for r in rows:
            if cur is not None:
                emit(cur, cur[0] if prev is None else prev, r[0])
                prev = cur[-1]
            cur = r
        emit(cur, cur[0] if prev is None else prev, cur[-1])
        return out

    def encode(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        return self.encode_stream(lambda: [wave], len(wave))
