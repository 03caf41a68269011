"""Detection and localization metrics: one definition each, used by evaluate, train and the docs.

Temporal localization (AP/AR) reproduces the official evaluators bit for bit in every decision
(the LAV-DF ``metrics.py`` of ControlNet/LAV-DF and the AV-Deepfake1M Rust evaluator
``loc_1d.rs`` of ControlNet/AV-Deepfake1M):

- proposals per video are ``[score, start, end]`` (seconds here; ``fps`` divides them as the
  officials do: LAV-DF passes frames with fps=25, AV-Deepfake1M seconds with fps=1);
- IoU is ``clamp(min(e1,e2) - max(s1,s2), 0) / (max(e1,e2) - min(s1,s2))`` in float32, and every
  threshold test is a strict ``IoU > t`` in float32, as in both originals;
- AP at IoU t: each ground-truth segment, in order, takes the first not-yet-used proposal in list
  order with IoU > t (a true positive); all other proposals are false positives, including every
  proposal on a real video. The (score, TP) rows of all videos are pooled, stably sorted by
  descending score, and precision is integrated over recall on the curve
  ``[(1, 0)] + reversed([(recall_k, precision_k)])`` with a running max of precision taken from the
  low-score end. Quirk reproduced: the recall gained by the top-ranked row is never integrated
  (the curve has no point at recall 0), so one perfect proposal for one ground truth scores AP 0,
  and AP of N perfectly ranked TPs is (N-1)/N.
- AR@N: the first N proposals of each video (list order, not re-sorted by score; all of them when a
  video has fewer), a ground truth is found at t when any of them has IoU > t; TP and FN are summed
  over videos, recall = TP / (TP + FN) per t (0 when there is nothing to find), averaged over
  t = 0.50, 0.55, ..., 0.95.
- Videos evaluated are the keys of ``ground_truth`` (the officials iterate over the metadata);
  proposals of other videos are ignored; a video with no entry in ``proposals`` has no proposals.
  Real videos (no ground truth) add only false positives to AP and nothing to AR.
- A video that has ground truth but **no proposals at all**: LAV-DF's code crashes on it; the
  AV-Deepfake1M evaluator silently drops its ground truths from AR (TP = FN = 0). By default we count
  them as missed (``empty="miss"``); ``empty="ignore"`` reproduces AV-Deepfake1M. AP counts them in
  the number of labels in both originals and here. ``vocalens.eval.proposals`` never produces an
  empty list, so both conventions agree on our own output.
- With no ground truth at all AP is undefined: NaN here (the originals divide by zero).

The pooled precision/recall curve and the sums are computed in float64 (the originals use float32;
differences are ~1e-7).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

AR_IOUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5, 0.55, ..., 0.95 as the officials write them
LAVDF_METRICS = {"ap_ious": (0.5, 0.75, 0.95), "ar_ns": (100, 50, 20, 10), "ar_ious": AR_IOUS}
AV1M_METRICS = {"ap_ious": (0.5, 0.75, 0.9, 0.95), "ar_ns": (50, 30, 20, 10, 5), "ar_ious": AR_IOUS}
BENCHMARKS = {"lavdf": LAVDF_METRICS, "av1m": AV1M_METRICS}


# ----------------------------------------------------------------------------------------------
# Segment IoU
# ----------------------------------------------------------------------------------------------


def segment_iou(proposals, targets) -> np.ndarray:
    """IoU matrix [M, N] of segments [M, 2] and [N, 2] (start, end), float32 like the officials."""
    p = np.asarray(proposals, dtype=np.float32).reshape(-1, 2)
    t = np.asarray(targets, dtype=np.float32).reshape(-1, 2)
    ps, pe = p[:, :1], p[:, 1:]
    ts, te = t[None, :, 0], t[None, :, 1]
    inter = np.maximum(np.minimum(pe, te) - np.maximum(ps, ts), np.float32(0))
    union = np.maximum(pe, te) - np.minimum(ps, ts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (inter / union).astype(np.float32)


def _as_proposals(rows, fps: float) -> np.ndarray:
    a = np.asarray(rows if rows is not None else [], dtype=np.float32).reshape(-1, 3)
    if fps != 1.0:
        a = a.copy()
        a[:, 1:] = a[:, 1:] / np.float32(fps)
    return a


def _as_segments(rows) -> np.ndarray:
    return np.asarray(rows if rows is not None else [], dtype=np.float32).reshape(-1, 2)


# ----------------------------------------------------------------------------------------------
# Temporal AP / AR (official LAV-DF / AV-Deepfake1M algorithm)
# ----------------------------------------------------------------------------------------------


def match_true_positives(ious: np.ndarray, threshold: float) -> np.ndarray:
    """is_TP [M]: each ground truth (column, in order) takes the first unused proposal with IoU > t."""
    n_props, n_labels = ious.shape
    is_tp = np.zeros(n_props, dtype=bool)
    if n_props == 0 or n_labels == 0:
        return is_tp
    candidates = ious > np.float32(threshold)
    for j in range(n_labels):
        free = np.flatnonzero(candidates[:, j] & ~is_tp)
        if len(free):
            is_tp[free[0]] = True
    return is_tp


def pooled_average_precision(confidence: np.ndarray, is_tp: np.ndarray, n_labels: int) -> float:
    """AP of pooled (score, is_TP) rows over ``n_labels`` ground truths, the officials' integration."""
    if n_labels == 0:
        return float("nan")
    if len(confidence) == 0:
        return 0.0
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    tp = np.asarray(is_tp, dtype=np.float64)[order]
    acc = np.cumsum(tp)
    precision = acc / np.arange(1, len(tp) + 1)
    recall = acc / n_labels
    x = np.concatenate([[1.0], recall[::-1]])
    y = np.concatenate([[0.0], precision[::-1]])
    y_max = np.maximum.accumulate(y)
    return float(np.sum(np.abs(np.diff(x)) * y_max[:-1]))


def temporal_ap(
    proposals: Mapping, ground_truth: Mapping, ious: Iterable[float] = LAVDF_METRICS["ap_ious"], fps: float = 1.0
) -> dict[float, float]:
    """{t: AP@t} over the videos of ``ground_truth`` (see the module docstring)."""
    videos = [(_as_proposals(proposals.get(k), fps), _as_segments(v)) for k, v in ground_truth.items()]
    n_labels = sum(len(g) for _, g in videos)
    iou_mats = [segment_iou(p[:, 1:], g) for p, g in videos]
    conf = np.concatenate([p[:, 0] for p, _ in videos]) if videos else np.zeros(0, np.float32)
    out = {}
    for t in ious:
        is_tp = np.concatenate([match_true_positives(m, t) for m in iou_mats]) if videos else np.zeros(0, bool)
        out[float(t)] = pooled_average_precision(conf, is_tp, n_labels)
    return out


def temporal_ar(
    proposals: Mapping,
    ground_truth: Mapping,
    ns: Iterable[int] = LAVDF_METRICS["ar_ns"],
    ious: Iterable[float] = AR_IOUS,
    fps: float = 1.0,
    empty: str = "miss",
) -> dict[int, float]:
    """{N: AR@N} averaged over ``ious`` (see the module docstring for ``empty``)."""
    if empty not in ("miss", "ignore"):
        raise ValueError(f"empty must be 'miss' or 'ignore', got {empty!r}")
    ns = [int(n) for n in ns]
    if not ns:
        return {}
    thr = np.asarray(list(ious), dtype=np.float32)
    tp = np.zeros((len(thr), len(ns)))
    fn = np.zeros((len(thr), len(ns)))
    n_max = max(ns)
    for key, gt in ground_truth.items():
        g = _as_segments(gt)
        p = _as_proposals(proposals.get(key), fps)[:n_max]
        if len(g) == 0:
            continue
        if len(p) == 0:
            if empty == "miss":
                fn += len(g)
            continue
        best = np.maximum.accumulate(segment_iou(p[:, 1:], g), axis=0)  # [n_props, n_labels]
        rows = best[[min(n, len(p)) - 1 for n in ns]]  # [len(ns), n_labels]
        found = (rows[None, :, :] > thr[:, None, None]).sum(-1)  # [n_ious, len(ns)]
        tp += found
        fn += len(g) - found
    total = tp + fn
    recall = np.divide(tp, total, out=np.zeros_like(tp), where=total > 0)
    return {n: float(recall[:, i].mean()) for i, n in enumerate(ns)}


def temporal_ap_ar(
    proposals: Mapping,
    ground_truth: Mapping,
    ap_ious: Iterable[float] = LAVDF_METRICS["ap_ious"],
    ar_ns: Iterable[int] = LAVDF_METRICS["ar_ns"],
    ar_ious: Iterable[float] = AR_IOUS,
    fps: float = 1.0,
    empty: str = "miss",
) -> dict:
    """``{"ap": {t: AP@t}, "ar": {N: AR@N}}`` like the AV-Deepfake1M ``ap_ar_1d``.

    proposals: {video: [[score, start, end], ...]} in seconds (divided by ``fps`` otherwise);
    ground_truth: {video: [[start, end], ...]} in seconds, one entry per evaluated video.
    """
    ar_ious = [round(float(t), 4) for t in ar_ious]
    return {
        "ap": temporal_ap(proposals, ground_truth, ap_ious, fps),
        "ar": temporal_ar(proposals, ground_truth, ar_ns, ar_ious, fps, empty),
    }


def benchmark_metrics(proposals: Mapping, ground_truth: Mapping, benchmark: str = "lavdf", **kw) -> dict:
    """AP/AR with a benchmark's preset thresholds ('lavdf' or 'av1m')."""
    preset = BENCHMARKS[benchmark]
    return temporal_ap_ar(proposals, ground_truth, preset["ap_ious"], preset["ar_ns"], preset["ar_ious"], **kw)


def av1m_score(result: dict) -> float:
    """The AV-Deepfake1M++ challenge score of a :func:`temporal_ap_ar` result:
    1/8 x sum of AP@{0.5, 0.75, 0.9, 0.95} + 1/10 x sum of AR@{50, 30, 20, 10, 5}."""
    ap, ar = result["ap"], result["ar"]
    return sum(ap[t] for t in AV1M_METRICS["ap_ious"]) / 8 + sum(ar[n] for n in AV1M_METRICS["ar_ns"]) / 10


def flatten_ap_ar(result: dict, prefix: str = "") -> dict[str, float]:
    """{"AP@0.5": .., "AR@100": ..} names for tables and JSON."""
    out = {f"{prefix}AP@{t:g}": v for t, v in result["ap"].items()}
    out.update({f"{prefix}AR@{n}": v for n, v in result["ar"].items()})
    return out


# ----------------------------------------------------------------------------------------------
# Frame / video classification metrics (scikit-learn)
# ----------------------------------------------------------------------------------------------


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict[str, float]:
    """AUC, AP, F1, precision, recall, accuracy and counts (``n``, ``n_fake``) of scores against 0/1 labels.

    Arguments in scikit-learn's order (truth first), for frames and videos of both systems alike.
    AUC and AP are NaN when only one class is present (undefined); F1/precision/recall use
    ``score >= threshold`` and are 0 where undefined (scikit-learn ``zero_division=0``); all NaN
    without any item.
    """
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(int)
    if len(s) != len(y):
        raise ValueError(f"{len(s)} scores for {len(y)} labels")
    if not len(y):
        nan = float("nan")
        return {"auc": nan, "ap": nan, "f1": nan, "precision": nan, "recall": nan, "accuracy": nan, "n": 0, "n_fake": 0}
    both = len(np.unique(y)) == 2
    auc = float(roc_auc_score(y, s)) if both else float("nan")
    ap = float(average_precision_score(y, s)) if both and y.sum() > 0 else float("nan")
    pred = (s >= threshold).astype(int)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="binary", pos_label=1, zero_division=0)
    return {
        "auc": auc,
        "ap": ap,
        "f1": float(f),
        "precision": float(p),
        "recall": float(r),
        "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
        "n": int(len(y)),
        "n_fake": int(y.sum()),
    }


def frame_metrics(probs, labels, threshold: float = 0.5) -> dict[str, float]:
    """Frame level, pooled over all frames of all videos (concatenate before calling)."""
    return binary_metrics(labels, probs, threshold)


def video_metrics(scores, labels, threshold: float = 0.5) -> dict[str, float]:
    """Video level: one score and one 0/1 label per video."""
    return binary_metrics(labels, scores, threshold)


# ----------------------------------------------------------------------------------------------
# Per-video frame localization (the seed's IoU)
# ----------------------------------------------------------------------------------------------


def localization_scores(probs, labels, threshold: float = 0.5) -> dict[str, float]:
    """One video: IoU and F1 of predicted fake frames (prob >= threshold) vs true fake frames.

    IoU = |pred & true| / |pred | true|. On a real video (no true fake frame) IoU and F1 are NaN
    (undefined, excluded from the fake-video statistics) and ``false_positive_rate`` -- the fraction
    of frames predicted fake -- is what measures it.
    """
    pred = np.asarray(probs, dtype=np.float64).reshape(-1) >= threshold
    true = np.asarray(labels).reshape(-1).astype(bool)
    inter, union = int((pred & true).sum()), int((pred | true).sum())
    n_true, n_pred = int(true.sum()), int(pred.sum())
    fake = n_true > 0
    iou = inter / union if fake else float("nan")
    f1 = 2 * inter / (n_true + n_pred) if fake else float("nan")
    n = max(len(true), 1)
    return {
        "iou": iou,
        "f1": f1,
        "fake_ratio": n_true / n,
        "pred_fake_ratio": n_pred / n,
        "false_positive_rate": int((pred & ~true).sum()) / max(int((~true).sum()), 1),
    }


def _stats(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if x == x], dtype=np.float64)
    if len(v) == 0:
        return {"mean": float("nan"), "median": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "std": float(v.std()), "n": int(len(v))}


def localization_summary(per_video: Sequence[dict]) -> dict:
    """Seed IoU statistics over fake videos, plus the real videos' false-positive frame rate.

    ``per_video``: :func:`localization_scores` dicts. ``iou``/``f1``: mean, median, std (population)
    over videos with at least one fake frame; ``real_false_positive_rate``: same statistics over
    videos without fake frames.
    """
    fake = [d for d in per_video if d["fake_ratio"] > 0]
    real = [d for d in per_video if d["fake_ratio"] == 0]
    return {
        "iou": _stats([d["iou"] for d in fake]),
        "f1": _stats([d["f1"] for d in fake]),
        "real_false_positive_rate": _stats([d["false_positive_rate"] for d in real]),
        "n_fake_videos": len(fake),
        "n_real_videos": len(real),
    }
