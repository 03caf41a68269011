"""Metrics over per-video result records, overall and by manipulation type, and the seed's text table.

The records are what :mod:`vocalens.localizer.evaluate` makes (``frame_probs``, ``frame_labels``,
``video_prob``, ``proposals``, ...); the official-tool proposal files come from them too.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from vocalens.constants import FPS
from vocalens.errors import UserError
from vocalens.eval.breakdown import MANIPULATIONS, manipulation_subsets
from vocalens.eval.metrics import (
    BENCHMARKS,
    av1m_score,
    flatten_ap_ar,
    frame_metrics,
    localization_summary,
    temporal_ap_ar,
    video_metrics,
)
from vocalens.eval.proposals import to_official_format


def _subset_metrics(videos: Sequence[dict], threshold: float) -> dict:
    probs = np.concatenate([v["frame_probs"] for v in videos]) if videos else np.zeros(0)
    labels = np.concatenate([v["frame_labels"] for v in videos]) if videos else np.zeros(0)
    y = [v["label"] for v in videos]
    gt = {v["video_id"]: v["fake_periods"] for v in videos}
    props = {v["video_id"]: v["proposals"] for v in videos}
    temporal = {}
    for name, preset in BENCHMARKS.items():
        r = temporal_ap_ar(props, gt, preset["ap_ious"], preset["ar_ns"], preset["ar_ious"])
        temporal[name] = flatten_ap_ar(r)
        if name == "av1m":
            temporal[name]["score"] = av1m_score(r)  # the AV-Deepfake1M++ challenge score
    return {
        "num_videos": len(videos),
        "frame": frame_metrics(probs, labels, threshold),
        "video": video_metrics(
            [v["video_prob"] for v in videos], y, videos[0].get("video_threshold", threshold) if videos else threshold
        ),
        "video_max_frame": video_metrics([v["video_max_prob"] for v in videos], y, threshold),
        "localization": localization_summary(videos),
        "temporal": temporal,
    }


def summarize(videos: Sequence[dict], threshold: float) -> dict:
    """Every metric over labelled records, overall and per manipulation type
    (:func:`vocalens.eval.breakdown.manipulation_subsets`; ``num_videos_of_type`` counts the type's own)."""
    videos = [v for v in videos if "frame_labels" in v]
    if not videos:
        raise UserError("no labelled videos to evaluate (feature folders carry no frame_labels)")
    out = _subset_metrics(videos, threshold)
    out["proposals_from"] = "boundary head" if any(v.get("segments_source") for v in videos) else "frame probabilities"
    by = {}
    manips, labels = [v["manipulation"] for v in videos], [v["label"] for v in videos]
    if any(m in MANIPULATIONS for m in manips):
        n_real = sum(1 for y in labels if not y)
        for m, idx in manipulation_subsets(manips, labels, known_only=True).items():
            by[m] = _subset_metrics([videos[i] for i in idx], threshold)
            by[m]["num_videos_of_type"] = n_real if m == "real" else len(idx) - n_real
    out["by_manipulation"] = by
    return out


def official_proposals(videos: Iterable[dict], benchmark: str) -> dict:
    """Proposals keyed by metadata ``file``: LAV-DF in frames at 25 fps, AV-Deepfake1M in seconds."""
    videos = list(videos)
    return to_official_format(
        {v["video_id"]: v["proposals"] for v in videos},
        {v["video_id"]: v.get("file", v["video_id"]) for v in videos},
        fps=FPS if benchmark == "lavdf" else 1.0,
    )


def _f(x) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4f}"


def format_results(metrics: dict, threshold: float | None = None) -> str:
    """The seed's EVALUATION RESULTS table, then temporal AP/AR and the per-manipulation breakdown."""
    lines = ["EVALUATION RESULTS", "=" * 50]
    if threshold is not None:
        lines.append(f"({metrics['num_videos']} videos, threshold {threshold:.4g}; video score = video head)")
    for title, key in (
        ("Frame-Level Metrics", "frame"),
        ("Video-Level Metrics (video head)", "video"),
        ("Video-Level Metrics (max of frames)", "video_max_frame"),
    ):
        m = metrics[key]
        lines.append(f"{title}:")
        for name in ("auc", "ap", "f1", "precision", "recall"):
            label = name.upper() if len(name) <= 3 else name.capitalize()
            lines.append(f"  {label + ':':<11}{_f(m[name])}")
        lines.append("")
    loc = metrics["localization"]
    lines.append(f"Localization IoU ({loc['n_fake_videos']} fake videos):")
    for name in ("mean", "median", "std"):
        lines.append(f"  {name.capitalize() + ':':<8}{_f(loc['iou'][name])}")
    fp = loc["real_false_positive_rate"]
    lines.append(f"  Real videos ({loc['n_real_videos']}): frames flagged fake {_f(fp['mean'])} (mean)")
    lines.append("")
    lines.append(
        "Temporal localization (official LAV-DF / AV-Deepfake1M AP and AR; AV-Deepfake1M score = AV1M++ challenge "
        f"score; proposals from the {metrics.get('proposals_from', 'frame probabilities')}):"
    )
    for name, title in (("lavdf", "LAV-DF"), ("av1m", "AV-Deepfake1M")):
        t = metrics["temporal"][name]
        lines.append(f"  {title + ':':<15}" + "  ".join(f"{k} {_f(v)}" for k, v in t.items()))
    by = metrics.get("by_manipulation") or {}
    if by:
        lines.append("")
        lines.append("By manipulation (each fake type evaluated together with the real videos):")
        head = (
            f"  {'type':<7}{'videos':>7}{'frameAUC':>9}{'frameF1':>9}{'vidAUC':>8}{'vidAcc':>8}{'IoU':>8}"
            f"{'AP@0.5':>8}{'AR@100':>8}"
        )
        lines.append(head)
        for m, r in by.items():
            lines.append(
                f"  {m:<7}{r['num_videos_of_type']:>7}{_f(r['frame']['auc']):>9}{_f(r['frame']['f1']):>9}"
                f"{_f(r['video']['auc']):>8}{_f(r['video']['accuracy']):>8}"
                f"{_f(r['localization']['iou']['mean']):>8}{_f(r['temporal']['lavdf']['AP@0.5']):>8}"
                f"{_f(r['temporal']['lavdf']['AR@100']):>8}"
            )
    return "\n".join(lines)
