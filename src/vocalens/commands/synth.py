"""`vocalens synth`: write a synthetic LAV-DF-layout dataset of talking faces with partial fakes."""

from __future__ import annotations

import argparse
import os
import time

from vocalens.datagen.synth import SynthConfig, synthesize
from vocalens.errors import UserError

D = SynthConfig()


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers like 70,15,15, got {text!r}")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers (train,dev,test), got {text!r}")
    return parts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output_root", required=True, help="dataset folder to write (LAV-DF layout)")
    p.add_argument("--num_videos", type=int, default=100, help="number of videos (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset")
    p.add_argument(
        "--splits", type=_fractions, default=D.split_fractions, help="train,dev,test proportions (default 70,15,15)"
    )
    p.add_argument(
        "--real_fraction",
        type=float,
        default=D.real_fraction,
        help="fraction of real videos; the rest is audio/visual/both fakes in equal parts (default 0.25)",
    )
    p.add_argument("--min_duration", type=float, default=D.min_duration, help="shortest video, s (default 2)")
    p.add_argument("--max_duration", type=float, default=D.max_duration, help="longest video, s (default 10)")
    p.add_argument("--min_fakes", type=int, default=D.min_fakes, help="fewest fake periods per fake video (default 1)")
    p.add_argument("--max_fakes", type=int, default=D.max_fakes, help="most fake periods per fake video (default 3)")
    p.add_argument("--min_fake_length", type=float, default=D.min_fake_length, help="shortest fake period, s (0.2)")
    p.add_argument("--max_fake_length", type=float, default=D.max_fake_length, help="longest fake period, s (1.6)")
    p.add_argument("--size", type=int, default=D.size, help="frame height and width in pixels (default 224)")
    p.add_argument("--min_lag", type=float, default=D.min_lag, help="shortest mouth-after-sound lag, s (0.04)")
    p.add_argument("--max_lag", type=float, default=D.max_lag, help="longest mouth-after-sound lag, s (0.12)")
    p.add_argument(
        "--same_speaker",
        type=float,
        default=D.same_speaker,
        help="chance that replaced audio keeps the original voice (default 0.5)",
    )
    p.add_argument(
        "--both_out_of_sync",
        action="store_true",
        help="'both' fakes: drive the mouth by other speech than the new audio (default: by the new audio, as LAV-DF)",
    )
    p.add_argument("--min_crf", type=int, default=D.min_crf, help="best H.264 quality used (CRF, default 18)")
    p.add_argument("--max_crf", type=int, default=D.max_crf, help="worst H.264 quality used (CRF, default 30)")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes rendering in parallel (default: min(2, CPUs))",
    )


def run(args) -> int:
    if args.workers < 1:
        raise UserError(f"--workers: need at least 1, got {args.workers}")
    t0 = time.perf_counter()
    entries = synthesize(
        args.output_root,
        args.num_videos,
        args.seed,
        workers=args.workers,
        split_fractions=args.splits,
        real_fraction=args.real_fraction,
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        min_fakes=args.min_fakes,
        max_fakes=args.max_fakes,
        min_fake_length=args.min_fake_length,
        max_fake_length=args.max_fake_length,
        size=args.size,
        min_lag=args.min_lag,
        max_lag=args.max_lag,
        same_speaker=args.same_speaker,
        both_in_sync=not args.both_out_of_sync,
        min_crf=args.min_crf,
        max_crf=args.max_crf,
    )
    secs = time.perf_counter() - t0
    hours = sum(e["duration"] for e in entries) / 3600
    fakes = sum(1 for e in entries if e["n_fakes"])
    print(
        f"{args.output_root}: wrote {len(entries)} videos ({fakes} fake, {hours * 60:.1f} min of video) "
        f"in {secs:.1f} s; metadata.json and metadata.min.json"
    )
    return 0
