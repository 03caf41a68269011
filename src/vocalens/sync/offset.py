"""Find the audio offset of a video: the shift whose mean per-frame similarity is highest.

For a window of ``length`` frames starting at ``s`` and a shift ``d`` in ``-max_offset..max_offset``
the score is the mean over the window of ``sim(v[t], a[t + d])``; the estimate is the argmax, and
a video in sync should give 0. Only windows with every shifted frame inside the clip count.
"""

from __future__ import annotations

import numpy as np


def window_starts(num_frames: int, length: int = 25, max_offset: int = 15, stride: int = 5) -> list[int]:
    """Window starts ``s`` with ``[s - max_offset, s + length + max_offset)`` inside the clip."""
    return list(range(max_offset, num_frames - length - max_offset + 1, max(1, stride)))


def _shifted(x: np.ndarray, d: int) -> np.ndarray:
    """Row t of the result is x[t + d] (zeros where outside)."""
    out = np.zeros_like(x)
    t = len(x)
    if d >= 0:
        out[: t - d] = x[d:]
    else:
        out[-d:] = x[: t + d]
    return out


def cosine_offset_scores(
    v: np.ndarray, a: np.ndarray, starts: list[int], length: int = 25, max_offset: int = 15
) -> np.ndarray:
    """[len(starts), 2 * max_offset + 1] mean cosine of v[t] and a[t + d] over each window."""
    v = np.asarray(v, np.float64)
    a = np.asarray(a, np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-9)
    n = min(len(v), len(a))
    v, a = v[:n], a[:n]
    out = np.zeros((len(starts), 2 * max_offset + 1))
    for j, d in enumerate(range(-max_offset, max_offset + 1)):
        sim = (v * _shifted(a, d)).sum(1)
        c = np.concatenate([[0.0], np.cumsum(sim)])
        out[:, j] = [(c[s + length] - c[s]) / length for s in starts]
    return out


def corr_offset_scores(
    x: np.ndarray, y: np.ndarray, starts: list[int], length: int = 25, max_offset: int = 15
) -> np.ndarray:
    """[len(starts), 2 * max_offset + 1] Pearson correlation of scalar signals x[t] and y[t + d]
    over each window (the classic lip-motion vs loudness baseline)."""
    x = np.asarray(x, np.float64).reshape(-1)
    y = np.asarray(y, np.float64).reshape(-1)
    out = np.zeros((len(starts), 2 * max_offset + 1))
    for i, s in enumerate(starts):
        xs = x[s : s + length] - x[s : s + length].mean()
        for j, d in enumerate(range(-max_offset, max_offset + 1)):
            ys = y[s + d : s + d + length] - y[s + d : s + d + length].mean()
            out[i, j] = (xs * ys).sum() / max(np.sqrt((xs**2).sum() * (ys**2).sum()), 1e-12)
    return out


def estimated_offsets(scores: np.ndarray, max_offset: int = 15) -> np.ndarray:
    """Argmax of each window's scores, as a shift in frames (0 = in sync)."""
    return np.argmax(scores, axis=1) - max_offset if len(scores) else np.zeros(0, int)


def find_offset(v: np.ndarray, a: np.ndarray, max_offset: int = 15) -> int:
    """The single shift ``d`` maximising the mean cosine of v[t] and a[t + d] over the whole overlap
    that every shift shares: the video's audio lags its lips by ``d`` frames."""
    n = min(len(v), len(a))
    length = n - 2 * max_offset
    if length < 1:
        raise ValueError(f"{n} frames cannot hold a window with +-{max_offset} frames of shift")
    return int(estimated_offsets(cosine_offset_scores(v, a, [max_offset], length, max_offset), max_offset)[0])
