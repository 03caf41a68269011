"""Plots and an HTML report from `vocalens evaluate` (or `vocalens infer`) results:
summary_statistics.png, one time-series PNG per video and index.html."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vocalens.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="results JSON from `vocalens evaluate` or inference_results.json")
    p.add_argument("--output_dir", default="visualizations", help="folder for the PNGs and index.html")
    p.add_argument(
        "--fps", type=float, default=None, help="frame rate for the time axis (default: from the results, else 25)"
    )
    p.add_argument("--threshold", type=float, default=None, help="threshold line and verdicts (default: the results')")
    p.add_argument("--max_videos", type=int, default=20, help="time-series figures for the first N videos (default 20)")


def load_results(path: Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found")
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})")
    if isinstance(data, list):  # inference_results.json: a list of per-video records
        data = {"videos": data}
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise UserError(f"{path}: expected results from `vocalens evaluate` or `vocalens infer`")
    for v in data["videos"]:
        if "frame_probs" not in v:
            raise UserError(f"{path}: video {v.get('video_id')!r} has no frame_probs (re-run with a newer vocalens)")
    return data


def run(args) -> int:
    from vocalens.viz.report import write_report

    results = load_results(Path(args.input))
    written = write_report(results, args.output_dir, args.threshold, args.fps, args.max_videos)
    if "summary" in written:
        print(f"summary: {written['summary']}")
    print(f"{len(written['videos'])} video figures in {args.output_dir}")
    print(f"report: {written['index']}")
    return 0
