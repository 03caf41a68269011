"""Raw videos -> answers in one call: features with the checkpoint's own encoders, inference, a
one-line verdict per video (REAL/FAKE, probability, fake segments as mm:ss.mmm-mm:ss.mmm),
detections.json and optional PNGs. A bad file is reported and the others are still answered.

  vocalens detect clip.mp4 other.mov --plot          # the shipped default model (docs/model_card.md)
  vocalens detect clip.mp4 --checkpoint checkpoints/localization/best.pth

The verdict is REAL, FAKE or UNCERTAIN (too little face or speech to judge, or a probability just
under the threshold).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", help="video files (any container/fps/size PyAV decodes)")
    p.add_argument("--checkpoint", default=None,
                   help="localizer checkpoint (best.pth); default: the model shipped with vocalens")
    p.add_argument("--output_dir", default="detections", help="where detections.json and PNGs go (default: detections)")
    p.add_argument("--plot", action="store_true", help="write a time-series PNG per video")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the checkpoint's)")
    p.add_argument("--face", default=None,
                   help="face handling: auto (detect and crop), none (video is a face crop already), or a detector "
                        "name (default: what the checkpoint records, else auto)")
    p.add_argument("--visual_weights", default=None, help="folder of the visual encoder's weights, if moved")
    p.add_argument("--audio_weights", default=None, help="folder of the audio encoder's weights, if moved")
    p.add_argument("--min_length", type=int, default=1, help="drop fake segments shorter than N frames (default 1)")
    p.add_argument("--merge_gap", type=int, default=0, help="merge fake segments at most N frames apart (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def run(args) -> int:
    from vocalens.errors import UserError
    from vocalens.eval.evaluate import write_json
    from vocalens.inference import Predictor
    from vocalens.pipeline import detect, load_encoders, verdict_line
    from vocalens.viz.plots import plot_video
    from vocalens.viz.report import safe_name

    from vocalens.assets import default_localizer

    if args.checkpoint is None:
        args.checkpoint = default_localizer()
        if args.checkpoint is None:
            raise UserError("no --checkpoint given and this build of vocalens ships no default model "
                            "(make it with `make default-model`)")
    predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    encoders = load_encoders(predictor.config, args.device, args.visual_weights, args.audio_weights,
                             source=str(args.checkpoint))
    out = Path(args.output_dir)
    results, failed, used = [], 0, set()
    for video in args.videos:
        name = safe_name(Path(video).stem)
        vid, k = name, 1
        while vid in used:  # two files with the same name in different folders
            k += 1
            vid = f"{name}_{k}"
        used.add(vid)
        try:
            r = detect(video, predictor, encoders, face=args.face, threshold=args.threshold, device=args.device,
                       video_id=vid, min_length=args.min_length, merge_gap=args.merge_gap)
        except UserError as e:
            failed += 1
            results.append({"source": str(video), "error": str(e)})
            print(f"{video}: error: {e}", file=sys.stderr)
            continue
        if args.plot:
            r["plot"] = str(plot_video(r, out / f"{vid}.png", r["threshold"]))
        results.append(r)
        print(verdict_line(r), flush=True)
    write_json(out / "detections.json", results)  # one video per line
    print(f"wrote {out / 'detections.json'}" + (" and PNGs" if args.plot else ""))
    if failed == len(args.videos):
        return 2
    return 1 if failed else 0
