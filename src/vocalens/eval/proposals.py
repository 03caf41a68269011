"""Ranked temporal proposals from frame probabilities, for the benchmarks' AP/AR.

The official evaluators score a ranked list ``[[score, start, end], ...]`` per video, where the
localizer gives a probability per frame. We turn one into the other in four steps:

1. **Candidates**: :func:`vocalens.eval.segments.probs_to_segments` at several thresholds
   (0.1, 0.2, ..., 0.9 by default) and merge gaps (0 and 0.2 s), so that both tight and loose
   readings of the curve are offered. Duplicates keep their best score.
2. **Score** of a candidate ``[s, e)``: ``mean(p[s:e]) * (1 - mean(p in the flanks)) * video_score``.
   The flanks are the ``max(1, (e-s)//2)`` frames on each side, clipped to the video (a candidate
   covering the whole video has flank 0): a candidate whose edges sit where the probability drops
   ranks above one that cuts through a plateau. ``video_score`` (the video head's probability, else
   the max frame probability) ranks proposals of confidently fake videos above those of videos that
   look real, which is what pooled AP over a test set rewards.
3. **Suppression**: Gaussian soft-NMS (Bodla et al. 2017) -- taking candidates in score order, every
   remaining candidate overlapping the picked one has its score multiplied by
   ``exp(-IoU^2 / sigma)`` (sigma 0.4, BA-TFD's value). Nothing is deleted, so recall at large N
   stays available, but near-duplicates sink below distinct segments.
4. **Order and cap**: sorted by the decayed score, at most ``max_proposals`` (100, LAV-DF's AR@100).

A video whose probabilities never reach the lowest threshold still gets a proposal: the run of
frames >= half its maximum probability around the peak (the whole video when all are 0). So no
list is ever empty (see the ``empty`` note in :mod:`vocalens.eval.metrics`).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from vocalens.constants import FPS
from vocalens.eval.metrics import segment_iou
from vocalens.eval.segments import probs_to_segments

DEFAULT_THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(1, 10))
DEFAULT_MERGE_GAPS_S = (0.0, 0.2)


def candidate_segments(probs: np.ndarray, thresholds: Iterable[float], merge_gaps: Iterable[int]) -> np.ndarray:
    """Unique [start, end) frame pairs [K, 2] from thresholding at every (threshold, gap)."""
    cands = {(s, e) for t in thresholds for g in merge_gaps for s, e, _ in probs_to_segments(probs, t, 1, g)}
    if not cands and len(probs):
        peak = float(probs.max())
        if peak > 0:
            cands = {(s, e) for s, e, _ in probs_to_segments(probs, peak / 2) if s <= int(probs.argmax()) < e}
        else:
            cands = {(0, len(probs))}
    return np.array(sorted(cands), dtype=np.int64).reshape(-1, 2)


def score_segments(probs: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """mean inside * (1 - mean of the flanks), vectorised over candidates."""
    T = len(probs)
    csum = np.concatenate([[0.0], np.cumsum(probs)])
    s, e = segs[:, 0], segs[:, 1]
    inside = (csum[e] - csum[s]) / (e - s)
    w = np.maximum(1, (e - s) // 2)
    ls, re = np.maximum(s - w, 0), np.minimum(e + w, T)
    flank_sum = (csum[s] - csum[ls]) + (csum[re] - csum[e])
    n_flank = (s - ls) + (re - e)
    flank = np.where(n_flank > 0, flank_sum / np.maximum(n_flank, 1), 0.0)  # only frames inside the video
    return inside * (1.0 - flank)


def soft_nms(
    segs: np.ndarray, scores: np.ndarray, sigma: float = 0.4, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian soft-NMS; returns (segments, decayed scores) in pick order, which is descending score
    (a score only ever decays), so stopping after ``limit`` picks gives exactly the top ``limit``."""
    segs = np.asarray(segs, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).copy()
    remaining = np.arange(len(scores))
    order, kept = [], []
    iou = segment_iou(segs, segs).astype(np.float64)
    limit = len(scores) if limit is None else int(limit)
    while len(remaining) and len(order) < limit:
        i = remaining[np.argmax(scores[remaining])]
        order.append(i)
        kept.append(scores[i])
        remaining = remaining[remaining != i]
        scores[remaining] *= np.exp(-(iou[remaining, i] ** 2) / sigma)
    return segs[order], np.asarray(kept)


def make_proposals(
    probs,
    fps: float = FPS,
    video_score: float | None = None,
    thresholds: Iterable[float] = DEFAULT_THRESHOLDS,
    merge_gaps_s: Iterable[float] = DEFAULT_MERGE_GAPS_S,
    sigma: float = 0.4,
    max_proposals: int = 100,
) -> list[list[float]]:
    """``[[score, start_s, end_s], ...]`` best first, at most ``max_proposals``, never empty if T > 0."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if len(p) == 0:
        return []
    gaps = sorted({int(round(g * fps)) for g in merge_gaps_s})
    segs = candidate_segments(p, thresholds, gaps)
    scores = score_segments(p, segs)
    if video_score is None:
        video_score = float(p.max())
    scores = scores * float(video_score)
    segs, scores = soft_nms(segs, scores, sigma)
    order = np.argsort(-scores, kind="stable")[:max_proposals]
    return [[float(scores[i]), float(segs[i, 0] / fps), float(segs[i, 1] / fps)] for i in order]


def to_official_format(proposals: dict, files: dict | None = None, fps: float = 1.0) -> dict:
    """``{file: [[score, start, end], ...]}`` with times multiplied by ``fps``.

    fps=1: seconds, for the AV-Deepfake1M evaluator (it is called with fps=1.0);
    fps=25: frames, for LAV-DF's ``metrics.py`` (it divides by 25). ``files`` maps video ids to the
    metadata's ``file`` field (the key the official tools look up).
    """
    files = files or {}
    return {
        files.get(k, k): [[sc, round(s * fps, 6), round(e * fps, 6)] for sc, s, e in rows]
        for k, rows in proposals.items()
    }
