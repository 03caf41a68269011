"""Run a localizer checkpoint on extracted features: inference_results.json (the seed's format plus
segments in seconds and the per-frame curves) and, with --visualize, one PNG per video."""

from __future__ import annotations

import argparse
from pathlib import Path

from vocalens.errors import UserError

SEED_KEYS = ("video_id", "num_frames", "video_prob", "video_pred", "threshold", "num_fake_frames_pred", "fake_ratio_pred",
             "segments", "segments_sec", "video_max_prob", "fps", "file", "frame_probs", "similarity")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="localizer checkpoint (best.pth)")
    p.add_argument("--features_dir", required=True,
                   help="a folder of per-video feature folders (e.g. FEATS/test), or one video's folder")
    p.add_argument("--output_dir", default="inference_results", help="where inference_results.json and PNGs go")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the checkpoint's)")
    p.add_argument("--visualize", action="store_true", help="write {video_id}.png per video")
    p.add_argument("--fps", type=float, default=None, help="frame rate for seconds and plots (default: from meta.json)")
    p.add_argument("--min_length", type=int, default=1, help="drop fake segments shorter than N frames (default 1)")
    p.add_argument("--merge_gap", type=int, default=0, help="merge fake segments at most N frames apart (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def feature_folders(features_dir: Path) -> list[Path]:
    from vocalens.data.store import is_complete, list_videos

    if is_complete(features_dir):
        return [features_dir]
    folders = list_videos(features_dir)
    if not folders:
        raise UserError(f"{features_dir}: no complete feature folders (each needs visual_embeddings.npz, "
                        "audio_embeddings.npz and meta.json)")
    return folders


def run(args) -> int:
    from vocalens.fileio import write_json
    from vocalens.localizer.evaluate import predict_videos
    from vocalens.localizer.predict import Predictor
    from vocalens.viz.plots import plot_video
    from vocalens.viz.report import safe_name

    folders = feature_folders(Path(args.features_dir))
    predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    threshold = float(args.threshold if args.threshold is not None else predictor.config.get("threshold", 0.5))
    out = Path(args.output_dir)
    failures: list[str] = []
    results = []
    for rec in predict_videos(predictor, folders, threshold, failures=failures, labelled=False, fps=args.fps,
                              desc="infer", min_length=args.min_length, merge_gap=args.merge_gap):
        rec = {k: rec[k] for k in SEED_KEYS if k in rec}
        results.append(rec)
        if args.visualize:
            plot_video(rec, out / f"{safe_name(rec['video_id'])}.png", threshold, args.fps)
    write_json(out / "inference_results.json", results)  # one video per line
    n_fake = sum(r["video_pred"] for r in results)
    print(f"{len(results)} videos: {n_fake} predicted fake, {len(results) - n_fake} real (threshold {threshold:.4g})")
    for f in failures:
        print(f"skipped: {f}")
    print(f"wrote {out / 'inference_results.json'}" + (f" and {len(results)} PNGs" if args.visualize else ""))
    return 0
