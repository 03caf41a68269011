"""What the sync encoders see: grey lower-face crops and log-mel frames, both at 25 Hz.

Visual: the lower face inside a ``crop_faces(margin=0.25)`` face crop (what ``vocalens extract``
hands its visual encoder), grey, area-resized to ``LOWER_FACE_HW``, kept as uint8 (the cache
stores exactly this). Audio: 80-band log-mel, 25 ms Hann windows every 10 ms centred on the hops
(the default audio encoder's alignment), normalised per band over the utterance, then 4 hops
stacked per video frame: frame ``j`` covers ``[j/25, (j+1)/25)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.constants import FPS, SAMPLE_RATE  # noqa: F401  (FPS re-exported for vocalens.sync.cache)
from vocalens.media.audio import log_mel

HOP = 160  # 10 ms
WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 80
STACK = int(SAMPLE_RATE / FPS) // HOP  # 4 hops per video frame

# lower face inside a crop_faces(margin=0.25) crop, fractions (top, bottom, left, right): the
# canonical face box spans [1/6, 5/6] of the crop; this is its lower half (nose tip to just below
# the chin) and the middle 70 % of its width (vocalens.media.faces.MOUTH_CENTER sits inside)
LOWER_FACE_BOX = (0.50, 0.87, 0.27, 0.73)
LOWER_FACE_HW = (32, 48)


def lower_face_grey(faces, box=LOWER_FACE_BOX, size=LOWER_FACE_HW) -> np.ndarray:
    """[T, H, W, 3] uint8 face crops -> [T, h, w] uint8 grey lower-face crops."""
    faces = torch.as_tensor(np.asarray(faces))
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"expected face crops [T, H, W, 3], got {tuple(faces.shape)}")
    t, h, w = faces.shape[:3]
    if t == 0:
        return np.zeros((0, *size), np.uint8)
    top, bottom = int(round(box[0] * h)), max(int(round(box[1] * h)), int(round(box[0] * h)) + 1)
    left, right = int(round(box[2] * w)), max(int(round(box[3] * w)), int(round(box[2] * w)) + 1)
    weights = torch.tensor([0.299, 0.587, 0.114])
    out = []
    for s in range(0, t, 512):  # bounded memory for long videos
        grey = faces[s : s + 512, top:bottom, left:right].float() @ weights
        out.append(F.interpolate(grey[:, None], size=tuple(size), mode="area")[:, 0])
    return torch.cat(out).round().clamp(0, 255).to(torch.uint8).numpy()


def num_frames(num_samples: int) -> int:
    """Video frames (25 Hz) covered by ``num_samples`` of 16 kHz audio: every started frame counts."""
    return int(math.ceil(num_samples / (HOP * STACK)))


def audio_frames(wave, frames: int | None = None) -> np.ndarray:
    """[N] float32 16 kHz mono -> [T, STACK * N_MELS] float16 normalised log-mel, one row per video frame.

    ``frames`` fixes T (cut or edge-padded), e.g. to the video's frame count.
    """
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
    t = num_frames(len(x)) if frames is None else int(frames)
    if t == 0 or len(x) == 0:
        return np.zeros((t, STACK * N_MELS), np.float16)
    n_hops = t * STACK
    left = N_FFT // 2 - HOP // 2  # window k centred at (k + 0.5) * HOP, as in the default audio encoder
    right = max(0, (n_hops - 1) * HOP + N_FFT - left - len(x))
    mode = "reflect" if len(x) > max(left, right) else "constant"
    if n_hops > 2 * MEL_BLOCK and mode == "reflect" and len(x) > 2 * MEL_BLOCK * HOP:
        mel = _long_log_mel(x, n_hops, left, right)
    else:
        x = F.pad(x[None, None], (left, right), mode=mode)[0, 0]
        mel = log_mel(x, SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, win_length=WIN, center=False)
        mel = mel[:, :n_hops].T  # [n_hops, n_mels]
    if len(mel) < n_hops:
        mel = torch.cat([mel, mel[-1:].expand(n_hops - len(mel), -1)])
    mel = mel.contiguous()
    mean, std = mel.mean(0), mel.std(0, unbiased=False).clamp_min(1e-3)
    mel.sub_(mean).div_(std)  # in place: an hour's mel is 115 MB
    return mel.reshape(t, STACK * N_MELS).to(torch.float16).numpy()


MEL_BLOCK = 10000  # hops per block of a long wave (100 s)


def _long_log_mel(x: torch.Tensor, n_hops: int, left: int, right: int) -> torch.Tensor:
    """``log_mel`` of ``x`` reflect-padded by (left, right), [n_hops, N_MELS], ``MEL_BLOCK`` hops at a time:
    no padded copy of the wave and no whole spectrogram at once (an hour: 230 MB of wave, 115 MB of mel).
    The same numbers: each hop sees only its own window, and the edge blocks are padded as the whole is."""
    out = torch.empty(n_hops, N_MELS)
    for k0 in range(0, n_hops, MEL_BLOCK):
        k1 = min(n_hops, k0 + MEL_BLOCK)
        a, b = k0 * HOP - left, (k1 - 1) * HOP - left + N_FFT  # the block's samples in the unpadded wave
        seg = x[max(a, 0) : min(b, len(x))][None, None]
        if a < 0 or b > len(x):
            seg = F.pad(seg, (max(0, -a), max(0, b - len(x))), mode="reflect")
        mel = log_mel(seg[0, 0], SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, win_length=WIN, center=False)
        out[k0:k1] = mel[:, : k1 - k0].T
    return out
