"""The one definition of frame labels, used by every stage.

Frame ``i`` covers ``[i/fps, (i+1)/fps)``; it is fake when its centre ``(i+0.5)/fps``
lies inside a fake period ``[start, end)`` (seconds).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from vocalens.constants import FPS


def frame_labels(fake_periods: Iterable[Sequence[float]], num_frames: int, fps: float = FPS) -> np.ndarray:
    """Per-frame 0/1 labels (uint8, shape [num_frames]) from fake periods in seconds."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    centres = (np.arange(num_frames, dtype=np.float64) + 0.5) / float(fps)
    periods = np.asarray(list(fake_periods), dtype=np.float64).reshape(-1, 2)
    if len(periods) == 0:
        return np.zeros(num_frames, dtype=np.uint8)
    inside = (centres[:, None] >= periods[None, :, 0]) & (centres[:, None] < periods[None, :, 1])
    return inside.any(axis=1).astype(np.uint8)


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the True runs [start, end) of a [T] boolean mask: the one run finder (fake
    periods, segments, faceless stretches)."""
    m = np.concatenate([[0], np.asarray(mask, bool).reshape(-1).astype(np.int8), [0]])
    d = np.diff(m)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def labels_to_periods(labels: np.ndarray, fps: float = FPS) -> list[list[float]]:
    """Inverse of :func:`frame_labels` on the frame grid: runs of 1s as [start, end) seconds."""
    starts, ends = mask_runs(np.asarray(labels).astype(bool))
    return [[s / fps, e / fps] for s, e in zip(starts.tolist(), ends.tolist())]
