"""Make a LAV-DF-layout dataset of partial fakes from a folder of real talking-face videos.

Each source gives a real copy and --fakes_per_video partially manipulated copies (audio replaced
by another source's speech or shifted out of sync, the mouth region swapped from another moment,
or both), with frame-exact fake_periods. Splits are by source. Re-run into the same
--output_root to resume.

  vocalens forge --videos my_videos/ --output_root forged/ --seed 0 --fakes_per_video 3
"""

from __future__ import annotations

import argparse

from vocalens.data.metadata import SPLITS
from vocalens.datagen.forge import ForgeConfig, forge_dataset
from vocalens.datagen.parts import config_knobs


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = ForgeConfig()
    p.add_argument("--videos", required=True, help="folder of real talking-face videos (searched recursively)")
    p.add_argument("--output_root", required=True, help="dataset folder to write ({train,dev,test}/*.mp4 + metadata)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--fakes_per_video", type=int, default=d.fakes_per_video, help="fake copies per source")
    p.add_argument("--max_fakes", type=int, default=d.max_fakes, help="fake periods per fake video: 1..N")
    p.add_argument("--min_fake_s", type=float, default=d.min_fake_s, help="shortest fake period (s)")
    p.add_argument("--max_fake_s", type=float, default=d.max_fake_s, help="longest fake period (s)")
    p.add_argument(
        "--shift_s",
        type=float,
        nargs=2,
        default=list(d.shift_s),
        metavar=("MIN", "MAX"),
        help="audio shift range (s) for out-of-sync fakes",
    )
    p.add_argument("--crossfade_ms", type=float, default=d.crossfade_ms, help="audio cross-fade inside each edge")
    p.add_argument("--max_side", type=int, default=d.max_side, help="cap on the longest side of the output (px)")
    p.add_argument(
        "--max_seconds", type=float, default=d.max_seconds, help="use at most this much of each source (0: all)"
    )
    p.add_argument(
        "--split_ratios",
        type=float,
        nargs=3,
        default=list(d.split_ratios),
        metavar=SPLITS,
        help="fractions of the sources in train/dev/test",
    )
    p.add_argument("--face_detector", default=d.face_detector, help="auto, haar or mediapipe (vocalens.media.faces)")
    p.add_argument("--crf", type=int, default=d.crf, help="H.264 quality (lower: larger files, less codec noise)")
    p.add_argument(
        "--name_prefix",
        default=d.name_prefix,
        help="prefix of the output file names, so two forged sets can share one feature store",
    )
    p.add_argument("--no_progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import re

    from vocalens.errors import UserError

    if not re.fullmatch(r"[A-Za-z0-9_-]*", args.name_prefix):
        raise UserError(f"--name_prefix {args.name_prefix!r}: letters, digits, '_' and '-' only")
    knobs = config_knobs(args, ForgeConfig)
    s = forge_dataset(args.videos, args.output_root, seed=args.seed, progress=not args.no_progress, **knobs)
    print(s.headline(args.output_root, rates=True))
    print(f"{'split':<6} {'real':>5} {'audio':>6} {'visual':>7} {'both':>5}")
    for split in SPLITS:
        c = [s.counts.get((split, k), 0) for k in ("real", "audio", "visual", "both")]
        print(f"{split:<6} {c[0]:>5} {c[1]:>6} {c[2]:>7} {c[3]:>5}")
    for line in s.footer():
        print(line)
    return 0
