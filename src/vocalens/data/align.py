"""Put audio features on the video frame grid: the one place audio and video are aligned.

Audio encoders have their own rate (50 Hz for Wav2Vec2, 100 Hz for a 10 ms mel hop, ...).
Feature ``j`` at ``rate`` Hz is taken to cover ``[j/rate, (j+1)/rate)``. Video frame ``i`` at
``fps`` covers ``[i/fps, (i+1)/fps)``. Each frame gets the mean of the audio features whose
centre falls inside it; a frame with none (audio slower than video) gets the feature linearly
interpolated at its centre. Frames past the end of the audio repeat the last feature.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from vocalens.constants import FPS


def resample_to_frames(features: np.ndarray, rate: float, num_frames: int, fps: float = FPS) -> np.ndarray:
    """[Ta, D] features at ``rate`` Hz -> [num_frames, D] float32 on the ``fps`` grid."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected [Ta, D] audio features, got shape {x.shape}")
    ta, d = x.shape
    if num_frames == 0:
        return np.zeros((0, d), np.float32)
    if ta == 0:
        return np.zeros((num_frames, d), np.float32)
    if abs(rate - fps) < 1e-9 and ta >= num_frames:
        return x[:num_frames].copy()
    centres = (np.arange(ta) + 0.5) / rate
    frame_of = np.floor(centres * fps).astype(np.int64)
    keep = frame_of < num_frames
    idx = frame_of[keep]  # the audio features kept form a prefix; idx is non-decreasing
    counts = np.bincount(idx, minlength=num_frames)
    has = counts > 0
    # the mean per frame as one sparse [num_frames, Ta] averaging matrix times x (np.add.at is ~20x slower)
    weights = (1.0 / counts[idx]).astype(np.float32)
    avg = sparse.csr_matrix((weights, (idx, np.arange(len(idx)))), shape=(num_frames, ta))
    out = np.asarray(avg @ x, dtype=np.float32)
    if not has.all():
        t = (np.arange(num_frames)[~has] + 0.5) / fps
        pos = np.clip(t * rate - 0.5, 0, ta - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, ta - 1)
        w = (pos - lo)[:, None].astype(np.float32)
        out[~has] = x[lo] * (1 - w) + x[hi] * w
    return out
