"""Turn videos into per-frame visual and audio embeddings with frame labels (the seed's
prepare_lavdf_features.py): {output_root}/{split}/{video_id}/visual_embeddings.npz,
audio_embeddings.npz, meta.json.

examples:
  vocalens extract --dataset_root LAV-DF --metadata LAV-DF/metadata.min.json --output_root feats \\
      --splits train dev test --face none --skip_existing
  torchrun --nproc_per_node 4 -m vocalens extract --dataset_root LAV-DF --output_root feats --use_gpu \\
      --visual_encoder vit --visual_weights models/vit-base --audio_encoder wav2vec2 --audio_weights models/w2v2
  vocalens extract --dataset_root my_videos/ --output_root my_feats      # a plain folder: no labels
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from vocalens.commands.shared import add_device, add_face
from vocalens.constants import FPS
from vocalens.data.metadata import SPLITS, SkipCounter, read_dataset
from vocalens.errors import UserError, batch_exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset_root", required=True, help="dataset root (LAV-DF / AV-Deepfake1M layout) or a folder of videos"
    )
    p.add_argument(
        "--metadata", default=None, help="metadata file (default: metadata.min.json / metadata.json under the root)"
    )
    p.add_argument("--output_root", required=True, help="feature store to write")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), help="splits to extract (default: train dev test)")
    add_device(p)
    p.add_argument(
        "--use_gpu",
        action="store_true",
        help="the seed's flag: --device auto, but only a warning when no CUDA device is visible",
    )
    p.add_argument("--skip_existing", action="store_true", help="skip videos whose feature folder is complete")
    p.add_argument("--visual_encoder", default="default", help="default | vit | arcface | avff | any registered name")
    p.add_argument(
        "--audio_encoder", default="default", help="default | wav2vec2 | hubert | avff | any registered name"
    )
    p.add_argument(
        "--visual_weights",
        default=None,
        help="local folder of the visual encoder's weights (vit, avff; arcface: an .onnx file)",
    )
    p.add_argument(
        "--audio_weights", default=None, help="local folder of the audio encoder's weights (wav2vec2, hubert, avff)"
    )
    p.add_argument(
        "--visual_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an encoder setting, repeatable (e.g. crop=lower for arcface); VALUE is JSON or a string",
    )
    p.add_argument(
        "--audio_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an encoder setting, repeatable (e.g. layer=-1 for hubert); VALUE is JSON or a string",
    )
    add_face(p, "auto")
    p.add_argument(
        "--face_stride", type=int, default=5, help="detect faces every N frames and track between (default 5)"
    )
    p.add_argument(
        "--face_margin", type=float, default=None, help="margin around the face box (default: the face module's)"
    )
    p.add_argument("--fps", type=float, default=FPS, help="frame rate of the output grid (default 25)")
    p.add_argument("--batch_size", type=int, default=64, help="frames per visual encoder forward pass (vit, arcface)")
    p.add_argument(
        "--num_workers",
        type=int,
        default=1,
        help="decoding/face workers running ahead of the encoders (0: all in the main thread)",
    )
    p.add_argument(
        "--worker_kind",
        choices=("thread", "process"),
        default="thread",
        help="decoding workers as threads (default: no copies; PyAV/OpenCV release the GIL) or processes",
    )
    p.add_argument("--shard", default=None, help="i/n: do every n-th video from i (default: RANK/WORLD_SIZE or 0/1)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="stored dtype (default float16)")
    p.add_argument("--limit", type=int, default=None, help="only the first N videos of this shard (for a quick try)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_options(items: list[str], flag: str) -> dict:
    """``["layer=12", "crop=lower"]`` -> ``{"layer": 12, "crop": "lower"}`` (JSON values, else strings)."""
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _device(args) -> str:
    """--use_gpu (the seed's) is --device auto that says so when there is no GPU."""
    import torch

    from vocalens.train.dist import pick_device

    if args.use_gpu and not torch.cuda.is_available():
        print("vocalens extract: --use_gpu but no CUDA device is visible; running on CPU", file=sys.stderr)
    return str(pick_device("auto" if args.use_gpu else args.device))


class VideoNotes:
    """What extract says about each extracted video beyond the progress bar: a line for a video with no
    face found (its features are centre crops) or an audio track much shorter than the video, and its
    old failures.jsonl line dropped (it is extracted now)."""

    def __init__(self, out: Path, face: str):
        from vocalens.data.store import FailureLog

        self.log, self.face = FailureLog(out), face
        self.no_face, self.short_audio = [], []

    def video_done(self, rec, meta: dict) -> None:
        from tqdm import tqdm

        from vocalens.media.video import audio_seconds
        from vocalens.result import MIN_AUDIO_COVER

        self.log.succeeded(rec.split, rec.video_id)
        if self.face != "none" and not meta.get("faces_found"):
            self.no_face.append(str(rec.path))
            tqdm.write(f"{rec.path}: no face found in any frame; features are of centre crops (faces_found 0)")
        seconds = audio_seconds(rec.path)
        if seconds is not None and seconds < MIN_AUDIO_COVER * meta["duration"]:
            self.short_audio.append(str(rec.path))
            tqdm.write(f"{rec.path}: audio track covers only {seconds:.2f} s of the {meta['duration']:.2f} s video")

    def summary(self) -> list[str]:
        out = []
        if self.no_face:
            out.append(f"{len(self.no_face)} videos with no face found (centre crops), e.g. {self.no_face[0]}")
        if self.short_audio:
            out.append(f"{len(self.short_audio)} videos with a short audio track, e.g. {self.short_audio[0]}")
        return out


def _is_plain_folder(root: Path, metadata) -> bool:
    return (
        metadata is None
        and not (root / "metadata.min.json").is_file()
        and not (root / "metadata.json").is_file()
        and not any(root.glob("*_metadata.json"))
    )


def run(args) -> int:
    from vocalens.data.store import FAILURES_FILE, replace_failures
    from vocalens.encoders import build_audio_encoder, build_visual_encoder
    from vocalens.localizer.extract import extract, parse_shard, shard_records

    root = Path(args.dataset_root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset root not found")
    if args.fps <= 0 or args.batch_size <= 0 or args.face_stride <= 0:
        raise UserError("--fps, --batch_size and --face_stride must be positive")
    index, count = parse_shard(args.shard)
    labelled = not _is_plain_folder(root, args.metadata)
    skipped = SkipCounter()
    records = read_dataset(root, args.metadata, args.splits, check_files=False, skip_invalid=True, skipped=skipped)
    if labelled:
        records = [r for r in records if r.split in args.splits]
    mine = shard_records(records, index, count)
    if args.limit is not None:
        mine = mine[: args.limit]

    device = _device(args)
    vopts = {"batch_size": args.batch_size} if args.visual_encoder in ("vit", "arcface") else {}
    vopts.update(parse_options(args.visual_option, "--visual_option"))
    try:
        visual = build_visual_encoder(args.visual_encoder, weights=args.visual_weights, device=device, **vopts)
        audio = build_audio_encoder(
            args.audio_encoder,
            weights=args.audio_weights,
            device=device,
            **parse_options(args.audio_option, "--audio_option"),
        )
    except TypeError as e:  # an option the encoder does not take
        if "unexpected keyword" not in str(e):
            raise
        raise UserError(f"--visual_option/--audio_option: {str(e).split('.')[-1]}")
    out = Path(args.output_root)
    stage = "metadata" if labelled else "skipped"  # invalid metadata entries, or a folder's non-videos
    replace_failures(out, stage, [{"error": msg} for msg in skipped.skipped])
    print(
        f"vocalens extract: {len(mine)} videos in shard {index}/{count} of {len(records)} "
        f"({'labelled' if labelled else 'no labels'}); visual {visual.name} ({visual.dim}), "
        f"audio {audio.name} ({audio.dim} @ {audio.rate:g} Hz), face {args.face}, device {device}",
        file=sys.stderr,
    )

    notes = VideoNotes(out, args.face)
    summary = extract(
        mine,
        out,
        visual,
        audio,
        fps=args.fps,
        face=args.face,
        face_stride=args.face_stride,
        face_margin=args.face_margin,
        labelled=labelled,
        skip_existing=args.skip_existing,
        num_workers=args.num_workers,
        worker_kind=args.worker_kind,
        dtype=np.dtype(args.dtype),
        progress=not args.quiet,
        on_video=notes.video_done,
    )
    print(f"vocalens extract: {summary}")
    if skipped.skipped:
        what = "invalid metadata entries" if labelled else "folders, broken links or audio-only files"
        print(f"vocalens extract: {len(skipped)} {what} skipped (in {out / FAILURES_FILE}), e.g. {skipped.skipped[0]}")
    for line in notes.summary():
        print(f"vocalens extract: {line}")
    if summary.failed:
        print(
            f"vocalens extract: {summary.failed} videos failed (see {out / 'failures.jsonl'}), "
            f"e.g. {summary.failures[0]}"
        )
    return batch_exit(summary.failed + len(skipped))
