"""Audio features in plain torch (no torchaudio): mel filterbank, log-mel spectrograms.

One implementation serves the default audio encoder, the AVFF preprocessing and the plots.
The filterbank is the HTK mel scale with triangular filters (torchaudio's default), so
numbers match ``torchaudio.transforms.MelSpectrogram`` with ``norm=None``.
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.constants import SAMPLE_RATE


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """[n_fft // 2 + 1, n_mels] triangular filters on the HTK mel scale."""
    f_max = f_max or sample_rate / 2
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lo, mid, hi = pts[:-2], pts[1:-1], pts[2:]
    up = (freqs[:, None] - lo[None]) / (mid - lo)[None]
    down = (hi[None] - freqs[:, None]) / (hi - mid)[None]
    fb = np.clip(np.minimum(up, down), 0.0, None)
    return torch.from_numpy(fb.astype(np.float32))


MEL_BLOCK = 30000  # STFT frames per block of a long wave (5 minutes at a 10 ms hop)


def mel_spectrogram(
    wave: torch.Tensor,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 64,
    win_length: int | None = None,
    center: bool = True,
    power: float = 2.0,
) -> torch.Tensor:
    """Power mel spectrogram [..., n_mels, frames] of waveforms [..., N] (batched).

    Without ``center`` every frame sees only its own samples, so a long wave is transformed
    ``MEL_BLOCK`` frames at a time (same numbers; the complex STFT of an hour would take 1.5 GB)."""
    wave = torch.as_tensor(wave, dtype=torch.float32)
    shape = wave.shape
    x = wave.reshape(-1, shape[-1])
    win_length = win_length or n_fft
    n_frames = 1 + (x.shape[-1] - n_fft) // hop_length if x.shape[-1] >= n_fft else 0
    if not center and n_frames > MEL_BLOCK:
        parts = []
        for f0 in range(0, n_frames, MEL_BLOCK):
            f1 = min(n_frames, f0 + MEL_BLOCK)
            seg = x[:, f0 * hop_length : (f1 - 1) * hop_length + n_fft]
            parts.append(mel_spectrogram(seg, sample_rate, n_fft, hop_length, n_mels, win_length, False, power))
        return torch.cat(parts, dim=-1).reshape(*shape[:-1], n_mels, n_frames)
    window = torch.hann_window(win_length, device=x.device)
    spec = (
        torch.stft(
            x,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode="reflect",
            return_complex=True,
        )
        .abs()
        .pow(power)
    )
    mel = torch.matmul(spec.transpose(-1, -2), mel_filterbank(sample_rate, n_fft, n_mels).to(x.device))
    mel = mel.transpose(-1, -2)
    return mel.reshape(*shape[:-1], n_mels, mel.shape[-1])


def log_mel(
    wave: torch.Tensor,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 64,
    eps: float = 1e-10,
    **kw,
) -> torch.Tensor:
    """Log-mel in dB (10 log10), [..., n_mels, frames]."""
    return 10.0 * torch.log10(mel_spectrogram(wave, sample_rate, n_fft, hop_length, n_mels, **kw) + eps)


def iter_log_mel(
    blocks: Iterable[np.ndarray],
    num_samples: int,
    n_hops: int,
    *,
    hop: int,
    win: int,
    n_fft: int,
    n_mels: int,
    block_hops: int = 10000,
    multiple: int = 1,
) -> Iterator[torch.Tensor]:
    """Log-mel rows ``[k, n_mels]`` (k <= ``block_hops``, ``n_hops`` in all) of a wave of ``num_samples``
    handed in as consecutive ``blocks``: row k's window is centred at ``(k + 0.5) * hop`` and the wave is
    reflect-padded at its two ends (constant when it is shorter than the padding), as the encoders pad a
    whole wave; each row sees only its own window, so the rows equal the whole wave's, and only one
    block of samples is held (an hour's wave is 230 MB, its complex STFT 1.5 GB). Every block but the
    last has a multiple of ``multiple`` rows (frames stacked from several hops stay whole)."""
    left = n_fft // 2 - hop // 2
    right = (n_hops - 1) * hop + n_fft - left - num_samples
    mode = "reflect" if num_samples > max(left, right) else "constant"
    # a block's window must hold its reflected edge: short blocks only where nothing is reflected
    step = n_hops if mode == "constant" else max(int(block_hops), 4 * (-(-n_fft // hop)))
    step = max(1, -(-step // multiple) * multiple)
    src = iter(blocks)
    buf, buf0 = np.zeros(0, np.float32), 0  # buf holds samples [buf0, buf0 + len(buf)) of the wave
    k0 = 0
    while k0 < n_hops:
        k1 = min(n_hops, k0 + step)
        if n_hops - k1 < step // 2:  # no short last block (its reflected edge would not fit)
            k1 = n_hops
        a, b = k0 * hop - left, (k1 - 1) * hop - left + n_fft  # the block's samples in the unpadded wave
        parts = [buf]
        have = buf0 + len(buf)
        while have < min(b, num_samples):
            x = next(src, None)
            if x is None:
                break
            parts.append(np.asarray(x, np.float32).reshape(-1))
            have += len(parts[-1])
        buf = np.concatenate(parts) if len(parts) > 1 else buf
        lo, hi = max(a, 0), min(b, num_samples, have)
        seg = torch.from_numpy(buf[lo - buf0 : hi - buf0])[None, None]
        pad = (lo - a, b - hi)
        if any(pad):
            seg = F.pad(seg, pad, mode=mode if hi == min(b, num_samples) else "constant")
        mel = log_mel(
            seg[0, 0], sample_rate=SAMPLE_RATE, n_fft=n_fft, hop_length=hop, n_mels=n_mels, win_length=win, center=False
        )
        yield mel[:, : k1 - k0].T
        keep = max(0, k1 * hop - left)  # the next block's first sample
        if keep > buf0:
            buf, buf0 = buf[keep - buf0 :].copy(), keep
        k0 = k1


class MelStats:
    """Per-band mean and (population) standard deviation of log-mel rows, summed in float64 block by
    block: the utterance normalisation of a track that is never whole in memory."""

    def __init__(self, n_mels: int):
        self.n, self.s1, self.s2 = 0, np.zeros(n_mels), np.zeros(n_mels)

    def add(self, rows: torch.Tensor) -> None:
        x = rows.double().numpy()
        self.n += len(x)
        self.s1 += x.sum(0)
        self.s2 += np.square(x).sum(0)

    def mean_std(self, floor: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.s1 / max(self.n, 1)
        var = np.maximum(self.s2 / max(self.n, 1) - mean**2, 0.0)
        return torch.from_numpy(mean).float(), torch.from_numpy(np.sqrt(var)).float().clamp_min(floor)


def iter_normalised_log_mel(
    read: Callable[[], Iterable[np.ndarray]], num_samples: int, n_hops: int, normalize: bool = True, **spec
) -> Iterator[torch.Tensor]:
    """:func:`iter_log_mel` rows in per-band z-scores over the whole utterance (``normalize``), for a wave
    that is never whole in memory: ``read()`` hands out its blocks and is called twice, once for the
    statistics (:class:`MelStats`) and once for the rows; without ``normalize`` once, rows as they are."""
    if not normalize:
        yield from iter_log_mel(read(), num_samples, n_hops, **spec)
        return
    stats = MelStats(spec["n_mels"])
    for rows in iter_log_mel(read(), num_samples, n_hops, **spec):
        stats.add(rows)
    mean, std = stats.mean_std()
    for rows in iter_log_mel(read(), num_samples, n_hops, **spec):
        yield rows.sub_(mean).div_(std)


SILENCE_RMS = 1e-4  # below this RMS an audio track (or a frame of it) is silent


class FrameEnergy:
    """Sum of squares per video frame of a 16 kHz track (float64: 720 kB for an hour), gathered block
    by block: every loudness statistic (track RMS, speech fraction, the speaker's loudness envelope)
    without keeping the samples. Frame ``i`` is samples ``[i * hop, (i + 1) * hop)`` with
    ``hop = num_samples // num_frames``; the samples past ``num_frames * hop`` count for the RMS only."""

    def __init__(self, num_samples: int, num_frames: int):
        self.num_samples, self.num_frames = int(num_samples), int(num_frames)
        self.hop = max(1, self.num_samples // self.num_frames) if self.num_frames else 1
        self.sums = np.zeros(self.num_frames)
        self.total = 0.0
        self.seen = 0
        self._rest = np.zeros(0, np.float32)

    @classmethod
    def of(cls, audio: np.ndarray, num_frames: int) -> "FrameEnergy":
        audio = np.asarray(audio, np.float32).reshape(-1)
        e = cls(len(audio), num_frames)
        for i in range(0, len(audio), 1 << 20):
            e.add(audio[i : i + (1 << 20)])
        return e

    def add(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float32).reshape(-1)
        self.total += float(np.dot(x.astype(np.float64), x.astype(np.float64))) if len(x) else 0.0
        x = np.concatenate([self._rest, x]) if len(self._rest) else x
        f0 = self.seen // self.hop  # the frame x starts in (x starts on a frame edge)
        k = min(len(x) // self.hop, max(0, self.num_frames - f0))
        if k:
            y = x[: k * self.hop].astype(np.float64).reshape(k, self.hop)
            self.sums[f0 : f0 + k] = np.einsum("ij,ij->i", y, y)
        self.seen += k * self.hop
        self._rest = x[k * self.hop :].copy() if f0 + k < self.num_frames else np.zeros(0, np.float32)
        if f0 + k >= self.num_frames:
            self.seen = self.num_frames * self.hop

    def tap(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """``blocks`` passed through, counted on the way."""
        for b in blocks:
            self.add(b)
            yield b

    def rms(self) -> float:
        """Root mean square of the whole track."""
        return float(np.sqrt(self.total / self.num_samples)) if self.num_samples else 0.0

    def frame_rms(self) -> np.ndarray:
        return np.sqrt(self.sums / self.hop)

    def speech_fraction(self) -> float:
        """Share of video frames whose audio is speech-loud: RMS within 20 dB of the clip's loud frames
        (95th percentile) and above ``SILENCE_RMS``. An energy VAD: enough to tell speech from silence."""
        if self.num_frames == 0 or self.num_samples == 0:
            return 0.0
        if self.num_samples < self.num_frames:  # under one sample a frame: the track as one frame
            r = np.array([self.rms()])
        else:
            r = self.frame_rms()
        loud = float(np.percentile(r, 95))
        return float(np.mean((r > SILENCE_RMS) & (r >= 0.1 * loud))) if loud > SILENCE_RMS else 0.0

    def loudness_db(self) -> np.ndarray:
        """[T] per-frame RMS in dB (mean square floored at 1e-8: -80 dB)."""
        return 10 * np.log10(np.maximum(self.sums / self.hop, 1e-8))


def rms(audio: np.ndarray) -> float:
    """Root mean square of a whole track (FrameEnergy's float64 sum, in blocks: bounded memory)."""
    return FrameEnergy.of(audio, 0).rms()


def speech_fraction(audio: np.ndarray, num_frames: int) -> float:
    """:meth:`FrameEnergy.speech_fraction` of a track in memory."""
    return FrameEnergy.of(audio, num_frames).speech_fraction()
