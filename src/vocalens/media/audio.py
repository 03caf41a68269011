"""Audio features in plain torch (no torchaudio): mel filterbank, log-mel spectrograms.

One implementation serves the default audio encoder, the AVFF preprocessing and the plots.
The filterbank is the HTK mel scale with triangular filters (torchaudio's default), so
numbers match ``torchaudio.transforms.MelSpectrogram`` with ``norm=None``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

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


SILENCE_RMS = 1e-4  # below this RMS an audio track (or a frame of it) is silent


def rms(audio: np.ndarray, block: int = 1 << 20) -> float:
    """Root mean square of a whole track, summed in float64 a block at a time (bounded memory)."""
    audio = np.asarray(audio).reshape(-1)
    if audio.size == 0:
        return 0.0
    total = sum(
        float(np.dot(b, b)) for b in (audio[i : i + block].astype(np.float64) for i in range(0, audio.size, block))
    )
    return float(np.sqrt(total / audio.size))


def speech_fraction(audio: np.ndarray, num_frames: int) -> float:
    """Share of video frames whose audio is speech-loud: RMS within 20 dB of the clip's loud frames
    (95th percentile) and above ``SILENCE_RMS``. An energy VAD: enough to tell speech from silence."""
    audio = np.asarray(audio)
    if num_frames == 0 or len(audio) == 0:
        return 0.0
    hop = max(1, len(audio) // num_frames)
    chunks = audio[: hop * num_frames].reshape(num_frames, hop) if len(audio) >= hop * num_frames else audio[None]
    # per frame, 4096 frames at a time (an hour's squares in float64 at once would be 460 MB)
    rms = np.concatenate(
        [
            np.sqrt(np.mean(np.square(chunks[i : i + 4096], dtype=np.float64), axis=1))
            for i in range(0, len(chunks), 4096)
        ]
    )
    loud = float(np.percentile(rms, 95))
    return float(np.mean((rms > SILENCE_RMS) & (rms >= 0.1 * loud))) if loud > SILENCE_RMS else 0.0
