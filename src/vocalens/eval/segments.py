"""Probabilities -> fake segments: the one function every stage uses.

A segment is ``(start, end, score)`` in frames, ``end`` exclusive, ``score`` the mean
probability inside. Runs above ``threshold`` closer than ``merge_gap`` frames are merged,
then runs shorter than ``min_length`` frames are dropped.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from vocalens.constants import FPS
from vocalens.data.labels import mask_runs


class Segment(NamedTuple):
    start: int
    end: int  # exclusive
    score: float


def probs_to_segments(probs, threshold: float = 0.5, min_length: int = 1, merge_gap: int = 0) -> list[Segment]:
    """Fake segments of a probability curve [T]."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    starts, ends = mask_runs(p >= threshold)
    if merge_gap > 0 and len(starts) > 1:
        keep = np.concatenate([[True], starts[1:] - ends[:-1] > merge_gap])
        last = np.concatenate([np.flatnonzero(keep[1:]), [len(ends) - 1]])
        starts, ends = starts[keep], ends[last]
    csum = np.concatenate([[0.0], np.cumsum(p)])
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        if e - s >= min_length:
            out.append(Segment(s, e, float((csum[e] - csum[s]) / (e - s))))
    return out


def segments_to_seconds(segments, fps: float = FPS) -> list[list[float]]:
    """[[start_s, end_s, score], ...] for JSON."""
    return [[s / fps, e / fps, float(sc)] for s, e, sc in segments]


def format_timestamp(seconds: float) -> str:
    """mm:ss.mmm"""
    ms = int(round(seconds * 1000))
    return f"{ms // 60000:02d}:{(ms // 1000) % 60:02d}.{ms % 1000:03d}"
