"""Raw videos -> answers in one call, for a localizer or an AVFF checkpoint (vocalens.load picks by its
contents): a one-line verdict per video (REAL/FAKE, probability, fake segments as mm:ss.mmm-mm:ss.mmm),
detections.json and optional PNGs. A bad file is reported and the others are still answered.

  vocalens detect clip.mp4 other.mov --plot          # the shipped default model (docs/model_card.md)
  vocalens detect clip.mp4 --checkpoint checkpoints/localization/best.pth

The verdict is REAL, FAKE or UNCERTAIN (too little face or speech to judge, or a probability just
under the threshold). Exit status: 0 when every file was answered, 1 when any failed (each failed file
gets one line naming it on stderr and an entry in detections.json), 2 when nothing could start.
"""

from __future__ import annotations

import argparse
import sys

from vocalens.commands.shared import add_device, add_face


def add_arguments(p: argparse.ArgumentParser, *, output_dir: str = "detections", checkpoint_required: bool = False):
    p.add_argument("videos", nargs="+", help="video files (any container/fps/size PyAV decodes)")
    p.add_argument(
        "--checkpoint",
        required=checkpoint_required,
        default=None,
        help="localizer or AVFF checkpoint (a file, or a run folder -> best.pth); default: the model "
        "shipped with vocalens",
    )
    p.add_argument(
        "--output_dir", default=output_dir, help=f"where detections.json and PNGs go (default: {output_dir})"
    )
    p.add_argument("--plot", action="store_true", help="write a time-series PNG per video")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the checkpoint's)")
    add_face(p, default=None)
    add_device(p)
    g = p.add_argument_group("localizer checkpoints")
    g.add_argument("--visual_weights", default=None, help="folder of the visual encoder's weights, if moved")
    g.add_argument("--audio_weights", default=None, help="folder of the audio encoder's weights, if moved")
    g.add_argument("--min_length", type=int, default=1, help="drop fake segments shorter than N frames (default 1)")
    g.add_argument("--merge_gap", type=int, default=0, help="merge fake segments at most N frames apart (default 0)")
    g = p.add_argument_group("AVFF checkpoints")
    g.add_argument("--pool", default="max", choices=["max", "mean", "top3"], help="clip scores -> video score")
    g.add_argument("--hop", type=int, default=None, help="frames between clip starts (default: clip span, no overlap)")
    g.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")


def run(args) -> int:
    from pathlib import Path

    from vocalens.api import detect_files, load
    from vocalens.errors import UserError, batch_exit

    det = load(
        args.checkpoint, device=args.device, visual_weights=args.visual_weights, audio_weights=args.audio_weights
    )
    opts = dict(
        face=args.face,
        threshold=args.threshold,
        min_length=args.min_length,
        merge_gap=args.merge_gap,
        pool=args.pool,
        hop=args.hop,
        batch_size=args.batch_size,
    )
    failed = 0
    for r in detect_files(det, args.videos, args.output_dir, plot=args.plot, **opts):
        if isinstance(r, UserError):
            failed += 1
            print(f"error: {r}", file=sys.stderr)
        else:
            print(r.verdict_line(), flush=True)
    print(f"wrote {Path(args.output_dir) / 'detections.json'}" + (" and PNGs" if args.plot else ""))
    return batch_exit(failed)
