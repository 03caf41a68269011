"""Run a predictor over a feature split and score it: the library behind ``vocalens evaluate``.

``predict_videos`` turns feature folders into per-video records (probabilities, labels, similarity,
segments, proposals); ``summarize`` turns records into every metric; ``evaluate_split`` does both.
The predictor is anything with ``predict_features(VideoFeatures) -> {frame_probs, similarity,
video_prob}`` (:class:`vocalens.inference.Predictor`).

Video score: the video head's probability (``video_prob``) is *the* video score (verdicts, the
headline video metrics); the max of the frame probabilities (``video_max_prob``) is reported
alongside as a second video score. A model without a video head gives ``video_prob=None`` and the
max of frames is used for both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from vocalens.data.labels import frame_labels as make_frame_labels
from vocalens.data.labels import labels_to_periods
from vocalens.data.store import list_videos, read_features
from vocalens.errors import UserError
from vocalens.eval.metrics import (BENCHMARKS, flatten_ap_ar, frame_metrics, localization_scores,
                                   localization_summary, temporal_ap_ar, video_metrics)
from vocalens.eval.proposals import make_proposals, to_official_format
from vocalens.eval.segments import probs_to_segments, segments_to_seconds

MANIPULATIONS = ("real", "audio", "visual", "both")


def _as_curve(x) -> np.ndarray | None:
    """Per-frame curves stay float32 arrays in memory (a split's worth fits); lists only in the JSON."""
    if x is None:
        return None
    return np.asarray(x, dtype=np.float32).reshape(-1)


def video_record(video_id: str, probs, similarity=None, video_prob=None, labels=None, meta: dict | None = None,
                 threshold: float = 0.5, fps: float = 25.0, min_length: int = 1, merge_gap: int = 0,
                 video_threshold: float | None = None) -> dict:
    """One video's result: everything ``visualize`` and the metrics need, JSON-ready.

    ``threshold`` cuts frames into segments; the video verdict uses ``video_threshold`` (the
    checkpoint's calibrated one) when given, else the same threshold."""
    vthr = float(threshold if video_threshold is None else video_threshold)
    meta = meta or {}
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    max_prob = float(p.max()) if len(p) else 0.0
    score = float(video_prob) if video_prob is not None else max_prob
    segs = probs_to_segments(p, threshold, min_length, merge_gap)
    rec = {
        "video_id": video_id,
        "file": meta.get("file", video_id),
        "num_frames": int(len(p)),
        "fps": float(fps),
        "video_prob": score,
        "video_max_prob": max_prob,
        "video_pred": int(score >= vthr),
        "threshold": float(threshold),
        "video_threshold": vthr,
        "num_fake_frames_pred": int((p >= threshold).sum()),
        "fake_ratio_pred": float((p >= threshold).mean()) if len(p) else 0.0,
        "segments": [[int(s), int(e), float(sc)] for s, e, sc in segs],
        "segments_sec": segments_to_seconds(segs, fps),
        "frame_probs": _as_curve(p),
        "similarity": _as_curve(similarity),
        "proposals": make_proposals(p, fps, score),
        "manipulation": meta.get("manipulation", "unknown"),
    }
    if labels is not None:
        lab = np.asarray(labels).reshape(-1).astype(np.uint8)
        periods = meta.get("fake_periods")
        if periods is None:
            periods = labels_to_periods(lab, fps)
        rec.update({
            "frame_labels": lab,
            "label": int(meta.get("label", int(len(periods) > 0 or lab.any()))),
            "fake_periods": [[float(s), float(e)] for s, e in periods],
            **localization_scores(p, lab, threshold),
        })
    return rec


def predict_videos(predictor, folders: Sequence[Path], threshold: float, progress: bool = True,
                   failures: list | None = None, labelled: bool = True, fps: float | None = None,
                   desc: str = "evaluate", min_length: int = 1, merge_gap: int = 0,
                   video_threshold: float | None = None) -> Iterator[dict]:
    """Records for each feature folder; a folder that cannot be read is reported and skipped.

    ``labelled=False`` leaves ground truth out (inference); ``fps`` overrides the stored frame rate
    for the seconds in the record.
    """
    from tqdm.auto import tqdm

    for folder in tqdm(folders, desc=desc, unit="video", disable=not progress):
        try:
            feats = read_features(folder)
            out = predictor.predict_features(feats)
        except UserError as e:
            if failures is None:
                raise
            failures.append(str(e))
            continue
        labels = feats.frame_labels if labelled else None
        if labelled and labels is None and "fake_periods" in feats.meta:
            labels = make_frame_labels(feats.meta["fake_periods"], feats.num_frames, feats.fps)
        meta = feats.meta if labelled else {k: v for k, v in feats.meta.items() if k in ("file",)}
        yield video_record(feats.video_id, out["frame_probs"], out.get("similarity"), out.get("video_prob"),
                           labels, meta, threshold, fps or feats.fps, min_length, merge_gap, video_threshold)


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
    return {
        "num_videos": len(videos),
        "frame": frame_metrics(probs, labels, threshold),
        "video": video_metrics([v["video_prob"] for v in videos], y,
                               videos[0].get("video_threshold", threshold) if videos else threshold),
        "video_max_frame": video_metrics([v["video_max_prob"] for v in videos], y, threshold),
        "localization": localization_summary(videos),
        "temporal": temporal,
    }


def summarize(videos: Sequence[dict], threshold: float) -> dict:
    """Every metric over labelled records, overall and per manipulation type.

    Breakdown: for 'audio', 'visual' and 'both', the videos of that type *plus all real videos*
    (so AUC/AP and the false positives on real videos stay meaningful, as in the LAV-DF subsets);
    for 'real', the real videos alone (their AUCs are undefined; read accuracy and the
    false-positive frame rate).
    """
    videos = [v for v in videos if "frame_labels" in v]
    if not videos:
        raise UserError("no labelled videos to evaluate (feature folders carry no frame_labels)")
    out = _subset_metrics(videos, threshold)
    real = [v for v in videos if v["manipulation"] == "real" or (v["manipulation"] == "unknown" and not v["label"])]
    by = {}
    if any(v["manipulation"] in MANIPULATIONS for v in videos):
        for m in MANIPULATIONS:
            sub = real if m == "real" else [v for v in videos if v["manipulation"] == m]
            if not sub:
                continue
            by[m] = _subset_metrics(sub if m == "real" else sub + real, threshold)
            by[m]["num_videos_of_type"] = len(sub)
    out["by_manipulation"] = by
    return out


def evaluate_split(predictor, features_root: str | Path, split: str = "test", threshold: float | None = None,
                   progress: bool = True, limit: int | None = None, min_length: int = 1, merge_gap: int = 0) -> dict:
    """Predict every video of ``features_root/split`` and score it: the results dict that is written."""
    video_threshold = None
    if threshold is None:
        threshold = float(predictor.config.get("threshold", 0.5))
        video_threshold = getattr(predictor, "video_threshold", None)
    folders = list_videos(features_root, split)
    if limit:
        folders = folders[:limit]
    if not folders:
        raise UserError(f"{Path(features_root) / split}: no complete feature folders")
    failures: list[str] = []
    videos = list(predict_videos(predictor, folders, threshold, progress, failures, min_length=min_length,
                                 merge_gap=merge_gap, video_threshold=video_threshold))
    if not videos:
        raise UserError(f"{Path(features_root) / split}: no video could be evaluated ({failures[0]})")
    return {
        "split": split,
        "threshold": threshold,
        "video_score": "video_prob (video head; max of frame probabilities when the model has none); "
                       "metrics.video_max_frame uses video_max_prob",
        "metrics": summarize(videos, threshold),
        "failures": failures,
        "videos": videos,
    }


def clean_json(obj):
    """NaN/inf -> None, numpy -> Python (float curves rounded to 6 decimals), so the JSON is standard."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            a = np.round(obj.astype(np.float64), 6)
            return [None if not math.isfinite(v) else v for v in a.tolist()]
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def official_proposals(videos: Iterable[dict], benchmark: str) -> dict:
    """Proposals keyed by metadata ``file``: LAV-DF in frames at 25 fps, AV-Deepfake1M in seconds."""
    videos = list(videos)
    return to_official_format({v["video_id"]: v["proposals"] for v in videos},
                              {v["video_id"]: v.get("file", v["video_id"]) for v in videos},
                              fps=25.0 if benchmark == "lavdf" else 1.0)


def write_json(path: str | Path, obj, indent: int | None = None) -> Path:
    """Standard JSON (NaN -> null), written to a temporary name and renamed."""
    import json

    from vocalens.fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        if isinstance(obj, dict) and isinstance(obj.get("videos"), list):
            # one video at a time: a whole split's curves never exist as Python lists at once
            head = {k: v for k, v in obj.items() if k != "videos"}
            f.write(json.dumps(clean_json(head), allow_nan=False)[:-1])
            f.write(', "videos": [' if head else '"videos": [')
            for i, v in enumerate(obj["videos"]):
                f.write(("," if i else "") + "\n" + json.dumps(clean_json(v), allow_nan=False))
            f.write("\n]}\n")
        elif isinstance(obj, list):
            f.write("[")
            for i, v in enumerate(obj):
                f.write(("," if i else "") + "\n" + json.dumps(clean_json(v), indent=indent, allow_nan=False))
            f.write("\n]\n")
        else:
            json.dump(clean_json(obj), f, indent=indent, allow_nan=False)
    return path


def _f(x) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4f}"


def format_results(metrics: dict, threshold: float | None = None) -> str:
    """The seed's EVALUATION RESULTS table, then temporal AP/AR and the per-manipulation breakdown."""
    lines = ["EVALUATION RESULTS", "=" * 50]
    if threshold is not None:
        lines.append(f"({metrics['num_videos']} videos, threshold {threshold:.4g}; video score = video head)")
    for title, key in (("Frame-Level Metrics", "frame"), ("Video-Level Metrics (video head)", "video"),
                       ("Video-Level Metrics (max of frames)", "video_max_frame")):
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
    lines.append("Temporal localization (official LAV-DF / AV-Deepfake1M AP and AR):")
    for name, title in (("lavdf", "LAV-DF"), ("av1m", "AV-Deepfake1M")):
        t = metrics["temporal"][name]
        lines.append(f"  {title + ':':<15}" + "  ".join(f"{k} {_f(v)}" for k, v in t.items()))
    by = metrics.get("by_manipulation") or {}
    if by:
        lines.append("")
        lines.append("By manipulation (each fake type evaluated together with the real videos):")
        head = f"  {'type':<7}{'videos':>7}{'frameAUC':>9}{'frameF1':>9}{'vidAUC':>8}{'vidAcc':>8}{'IoU':>8}{'AP@0.5':>8}{'AR@100':>8}"
        lines.append(head)
        for m, r in by.items():
            lines.append(f"  {m:<7}{r['num_videos_of_type']:>7}{_f(r['frame']['auc']):>9}{_f(r['frame']['f1']):>9}"
                         f"{_f(r['video']['auc']):>8}{_f(r['video']['accuracy']):>8}"
                         f"{_f(r['localization']['iou']['mean']):>8}{_f(r['temporal']['lavdf']['AP@0.5']):>8}"
                         f"{_f(r['temporal']['lavdf']['AR@100']):>8}")
    return "\n".join(lines)
