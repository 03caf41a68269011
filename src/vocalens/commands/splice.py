"""Make an evaluation-only LAV-DF-layout set of partial fakes with other artefacts than `forge`.

Each source video gives a real copy and --fakes_per_video fakes, one manipulation type each, all
hard cuts: espeak-ng TTS speech (tts), speech of the source with the farthest median pitch
(other_speaker), the video's own audio time-stretched out of sync (stretch), the lower face of
another source video pasted with a hard or lightly feathered rectangle (mouth_swap), or
mouth_swap plus an audio one (both). Every output goes to --split. Re-run to resume.

  vocalens splice test_videos/ --output_root spliced/ --split test --fakes_per_video 2
"""

from __future__ import annotations

import argparse

from vocalens.data.metadata import SPLITS
from vocalens.datagen.parts import config_knobs
from vocalens.datagen.splice import TYPES, SpliceConfig, splice_dataset


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = SpliceConfig()
    p.add_argument("src_dirs", nargs="+", metavar="SRC_DIR", help="folder(s) of real talking-face videos (recursive)")
    p.add_argument("--output_root", required=True, help="dataset folder to write ({split}/*.mp4 + metadata)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--split", default=d.split, choices=SPLITS, help="the split every output goes to")
    p.add_argument("--fakes_per_video", type=int, default=d.fakes_per_video, help="fake copies per source")
    p.add_argument("--max_periods", type=int, default=d.max_periods, help="fake periods per fake video: 1..N")
    p.add_argument("--min_fake_s", type=float, default=d.min_fake_s, help="shortest fake period (s)")
    p.add_argument("--max_fake_s", type=float, default=d.max_fake_s, help="longest fake period (s)")
    p.add_argument("--types", nargs="+", default=list(d.types), choices=TYPES, help="manipulation types to use")
    p.add_argument("--max_side", type=int, default=d.max_side, help="cap on the longest side of the output (px)")
    p.add_argument("--max_seconds", type=float, default=d.max_seconds, help="use at most this much of each source")
    p.add_argument("--face_detector", default=d.face_detector, help="auto, haar or mediapipe (vocalens.media.faces)")
    p.add_argument(
        "--speakers",
        default=None,
        help="TSV with name and speaker_id columns (e.g. real-corpus "
        "clips.tsv): clips of one speaker never donate speech or faces to each other",
    )
    p.add_argument("--crf", type=int, default=d.crf, help="H.264 quality (lower: less codec noise)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")


def run(args) -> int:
    knobs = config_knobs(args, SpliceConfig)
    s = splice_dataset(args.src_dirs, args.output_root, seed=args.seed, progress=not args.no_progress, **knobs)
    print(s.headline(args.output_root))
    print("  ".join(f"{k}: {s.counts.get(k, 0)}" for k in ("real",) + TYPES))
    for line in s.footer():
        print(line)
    return 0
