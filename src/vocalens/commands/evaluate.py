"""Evaluate a localizer checkpoint on a feature split: the seed's metrics, the benchmarks' temporal
AP/AR and a per-manipulation breakdown, written as JSON (with per-video curves for `visualize`) plus
the proposals in the official LAV-DF and AV-Deepfake1M prediction formats."""

from __future__ import annotations

import argparse
from pathlib import Path

from vocalens.commands.shared import add_device


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features_root", required=True, help="feature store root (holds SPLIT/VIDEO_ID/...)")
    p.add_argument("--split", default="test", help="split folder to evaluate (default: test)")
    p.add_argument("--checkpoint", required=True, help="localizer checkpoint (best.pth)")
    p.add_argument(
        "--threshold", type=float, default=None, help="frame/video decision threshold (default: the checkpoint's)"
    )
    p.add_argument("--output", default="results.json", help="results JSON (default: results.json)")
    p.add_argument("--batch_size", type=int, default=None, help="windows of max_frames per forward pass (default 16)")
    p.add_argument("--min_length", type=int, default=1, help="drop fake segments shorter than N frames (default 1)")
    p.add_argument("--merge_gap", type=int, default=0, help="merge fake segments at most N frames apart (default 0)")
    add_device(p)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N videos (quick checks)")


def proposal_paths(output: Path) -> dict[str, Path]:
    """results.json -> results_proposals_lavdf.json / results_proposals_av1m.json beside it."""
    return {b: output.with_name(f"{output.stem}_proposals_{b}.json") for b in ("lavdf", "av1m")}


def run(args) -> int:
    from vocalens.errors import batch_exit
    from vocalens.eval.report import format_results, official_proposals
    from vocalens.fileio import write_json
    from vocalens.localizer.evaluate import evaluate_split
    from vocalens.localizer.predict import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    if args.batch_size:
        predictor.window_batch = args.batch_size
    results = evaluate_split(
        predictor,
        args.features_root,
        args.split,
        args.threshold,
        limit=args.limit,
        min_length=args.min_length,
        merge_gap=args.merge_gap,
    )
    results["checkpoint"] = str(args.checkpoint)
    print(format_results(results["metrics"], results["threshold"]))
    out = Path(args.output)
    write_json(out, results)
    paths = proposal_paths(out)
    for bench, path in paths.items():
        write_json(path, official_proposals(results["videos"], bench))
    for f in results["failures"]:
        print(f"skipped: {f}")
    print(
        f"\nwrote {out} ({len(results['videos'])} videos); proposals for the official tools: "
        f"{paths['lavdf']} (LAV-DF, frames at 25 fps), {paths['av1m']} (AV-Deepfake1M, seconds)"
    )
    return batch_exit(len(results["failures"]))
