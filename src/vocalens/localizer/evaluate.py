"""Run a localizer over a feature split and score it: the library behind ``vocalens evaluate`` / ``infer``.

``predict_videos`` turns feature folders into per-video records (probabilities, labels, similarity,
segments, proposals); :func:`vocalens.eval.report.summarize` turns records into every metric;
``evaluate_split`` does both. The predictor is anything with ``predict_features(VideoFeatures) ->
{frame_probs, similarity, video_prob}`` (:class:`vocalens.localizer.predict.Predictor`).

Video score: the video head's probability (``video_prob``) is *the* video score (verdicts, the
headline video metrics); the max of the frame probabilities (``video_max_prob``) is reported
alongside as a second video score. A model without a video head gives ``video_prob=None`` and the
max of frames is used for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from vocalens.constants import FPS
from vocalens.data.labels import frame_labels as make_frame_labels
from vocalens.data.labels import labels_to_periods
from vocalens.data.store import list_videos, read_features
from vocalens.errors import UserError
from vocalens.eval.metrics import localization_scores
from vocalens.eval.proposals import make_proposals
from vocalens.eval.report import summarize
from vocalens.eval.segments import probs_to_segments, segments_to_seconds
from vocalens.localizer.boundary import proposals_to_seconds


def _as_curve(x) -> np.ndarray | None:
    """Per-frame curves stay float32 arrays in memory (a split's worth fits); lists only in the JSON."""
    if x is None:
        return None
    return np.asarray(x, dtype=np.float32).reshape(-1)


def video_record(
    video_id: str,
    probs,
    similarity=None,
    video_prob=None,
    labels=None,
    meta: dict | None = None,
    threshold: float = 0.5,
    fps: float = FPS,
    min_length: int = 1,
    merge_gap: int = 0,
    video_threshold: float | None = None,
    boundary: dict | None = None,
) -> dict:
    """One video's result: everything ``visualize`` and the metrics need, JSON-ready.

    ``threshold`` cuts frames into segments; the video verdict uses ``video_threshold`` (the
    checkpoint's calibrated one) when given, else the same threshold. ``boundary`` (the Predictor's
    ``boundary_proposals`` and ``boundary_segments``, frames): the segments and the ranked proposals are
    the boundary head's, the frame-threshold segments stay as ``frame_segments`` / ``frame_segments_sec``."""
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
        "manipulation": meta.get("manipulation", "unknown"),
    }
    if boundary is not None:
        bsegs = boundary["boundary_segments"]
        rec["frame_segments"], rec["frame_segments_sec"] = rec["segments"], rec["segments_sec"]
        rec["segments"] = [[int(round(s)), max(int(round(e)), int(round(s)) + 1), float(sc)] for s, e, sc in bsegs]
        rec["segments_sec"] = segments_to_seconds(bsegs, fps)
        rec["segments_source"] = "boundary head"
        rec["proposals"] = proposals_to_seconds(boundary["boundary_proposals"], fps)
    else:
        rec["proposals"] = make_proposals(p, fps, score)
    if labels is not None:
        lab = np.asarray(labels).reshape(-1).astype(np.uint8)
        periods = meta.get("fake_periods")
        if periods is None:
            periods = labels_to_periods(lab, fps)
        rec.update(
            {
                "frame_labels": lab,
                "label": int(meta.get("label", int(len(periods) > 0 or lab.any()))),
                "fake_periods": [[float(s), float(e)] for s, e in periods],
                **localization_scores(p, lab, threshold),
            }
        )
    return rec


def predict_videos(
    predictor,
    folders: Sequence[Path],
    threshold: float,
    progress: bool = True,
    failures: list | None = None,
    labelled: bool = True,
    fps: float | None = None,
    desc: str = "evaluate",
    min_length: int = 1,
    merge_gap: int = 0,
    video_threshold: float | None = None,
) -> Iterator[dict]:
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
        yield video_record(
            feats.video_id,
            out["frame_probs"],
            out.get("similarity"),
            out.get("video_prob"),
            labels,
            meta,
            threshold,
            fps or feats.fps,
            min_length,
            merge_gap,
            video_threshold,
            {k: out[k] for k in ("boundary_proposals", "boundary_segments")} if "boundary_proposals" in out else None,
        )


def evaluate_split(
    predictor,
    features_root: str | Path,
    split: str = "test",
    threshold: float | None = None,
    progress: bool = True,
    limit: int | None = None,
    min_length: int = 1,
    merge_gap: int = 0,
) -> dict:
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
    videos = list(
        predict_videos(
            predictor,
            folders,
            threshold,
            progress,
            failures,
            min_length=min_length,
            merge_gap=merge_gap,
            video_threshold=video_threshold,
        )
    )
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


# the seed's inference_results.json fields (plus segments in seconds and the per-frame curves)
SEED_KEYS = (
    "video_id",
    "num_frames",
    "video_prob",
    "video_pred",
    "threshold",
    "num_fake_frames_pred",
    "fake_ratio_pred",
    "segments",
    "segments_sec",
    "video_max_prob",
    "fps",
    "file",
    "frame_probs",
    "similarity",
    "frame_segments",  # with a boundary head: segments are its, these the frame-threshold ones
    "frame_segments_sec",
)


def feature_folders(features_dir: str | Path) -> list[Path]:
    """A folder of per-video feature folders, or one video's folder."""
    from vocalens.data.store import is_complete

    features_dir = Path(features_dir)
    if is_complete(features_dir):
        return [features_dir]
    folders = list_videos(features_dir)
    if not folders:
        raise UserError(
            f"{features_dir}: no complete feature folders (each needs visual_embeddings.npz, "
            "audio_embeddings.npz and meta.json)"
        )
    return folders


def infer_folder(
    predictor,
    features_dir,
    output_dir,
    *,
    threshold: float | None = None,
    fps: float | None = None,
    visualize: bool = False,
    min_length: int = 1,
    merge_gap: int = 0,
) -> dict:
    """`vocalens infer`: ``output_dir/inference_results.json`` in the seed's format (and a PNG per video)."""
    from vocalens.fileio import write_json
    from vocalens.viz.plots import plot_video
    from vocalens.viz.report import safe_name

    folders = feature_folders(features_dir)
    threshold = float(threshold if threshold is not None else predictor.config.get("threshold", 0.5))
    out = Path(output_dir)
    failures: list[str] = []
    results = []
    for rec in predict_videos(
        predictor,
        folders,
        threshold,
        failures=failures,
        labelled=False,
        fps=fps,
        desc="infer",
        min_length=min_length,
        merge_gap=merge_gap,
    ):
        rec = {k: rec[k] for k in SEED_KEYS if k in rec}
        results.append(rec)
        if visualize:
            plot_video(rec, out / f"{safe_name(rec['video_id'])}.png", threshold, fps)
    path = write_json(out / "inference_results.json", results)  # one video per line
    return {"videos": results, "threshold": threshold, "failures": failures, "path": path}
