"""Run a localizer checkpoint on extracted features: inference_results.json (the seed's format plus
segments in seconds and the per-frame curves) and, with --visualize, one PNG per video."""

from __future__ import annotations

import argparse

from vocalens.commands.shared import add_device


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="localizer checkpoint (best.pth)")
    p.add_argument(
        "--features_dir",
        required=True,
        help="a folder of per-video feature folders (e.g. FEATS/test), or one video's folder",
    )
    p.add_argument("--output_dir", default="inference_results", help="where inference_results.json and PNGs go")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the checkpoint's)")
    p.add_argument("--visualize", action="store_true", help="write {video_id}.png per video")
    p.add_argument("--fps", type=float, default=None, help="frame rate for seconds and plots (default: from meta.json)")
    p.add_argument("--min_length", type=int, default=1, help="drop fake segments shorter than N frames (default 1)")
    p.add_argument("--merge_gap", type=int, default=0, help="merge fake segments at most N frames apart (default 0)")
    add_device(p)


def run(args) -> int:
    from vocalens.errors import batch_exit
    from vocalens.localizer.evaluate import infer_folder
    from vocalens.localizer.predict import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    res = infer_folder(
        predictor,
        args.features_dir,
        args.output_dir,
        threshold=args.threshold,
        fps=args.fps,
        visualize=args.visualize,
        min_length=args.min_length,
        merge_gap=args.merge_gap,
    )
    results, threshold = res["videos"], res["threshold"]
    n_fake = sum(r["video_pred"] for r in results)
    print(f"{len(results)} videos: {n_fake} predicted fake, {len(results) - n_fake} real (threshold {threshold:.4g})")
    for f in res["failures"]:
        print(f"skipped: {f}")
    print(f"wrote {res['path']}" + (f" and {len(results)} PNGs" if args.visualize else ""))
    return batch_exit(len(res["failures"]))
