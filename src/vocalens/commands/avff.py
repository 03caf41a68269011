"""AVFF detector (Oorloff et al., CVPR 2024): two-stage training and video-level detection.

  vocalens avff pretrain --data_root DATA --output_dir runs/avff_ssl --preset small
  vocalens avff train    --data_root DATA --output_dir runs/avff --pretrained runs/avff_ssl/best.pth
  vocalens avff evaluate --checkpoint runs/avff/best.pth --data_root DATA --split test
  vocalens avff evaluate --checkpoint runs/avff/best.pth --csv videos.csv
  vocalens avff detect   VIDEO [VIDEO ...] --checkpoint runs/avff/best.pth --output_dir out/

DATA is a LAV-DF-layout folder (metadata.json), an AV-Deepfake1M folder, a plain folder of videos
(pretrain: treated as real) or a CSV of ``path,label``. Both training stages run through the shared
training loop: checkpoints (best/last/epoch), --resume, TensorBoard, and torchrun for many processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from vocalens.avff.config import classify_fit, pretrain_fit
from vocalens.commands.shared import add_device, add_face, add_legacy_faces
from vocalens.errors import UserError
from vocalens.media.crops import face_mode

DEFAULT_CACHE = os.environ.get("VOCALENS_CACHE", str(Path.home() / ".cache" / "vocalens" / "avff"))


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (stage 1 / fresh runs; train --pretrained takes the checkpoint's)")
    g.add_argument("--preset", default="small", choices=["tiny", "small", "base"], help="model size (default small)")
    g.add_argument("--audio_encoder", choices=["wav2vec2", "mel"], help="override the preset's audio stream")
    g.add_argument("--visual_weights", help="local folder of a saved transformers ViTModel (save_pretrained)")
    g.add_argument("--audio_weights", help="local folder of a saved transformers Wav2Vec2Model")
    g.add_argument("--crop", choices=["face", "mouth"], help="visual input: whole face crop or its lower face")
    g.add_argument("--image_size", type=int, help="face crop size (must match --visual_weights)")
    g.add_argument("--patch_size", type=int, help="ViT patch side in pixels")
    g.add_argument("--num_frames", type=int, help="frames per clip")
    g.add_argument("--frame_stride", type=int, help="take every N-th frame of the 25 fps grid")
    g.add_argument("--num_slices", type=int, help="time slices per clip (masking unit)")
    g.add_argument("--n_mels", type=int)
    g.add_argument("--n_fft", type=int)
    g.add_argument("--hop_length", type=int)
    g.add_argument("--contrastive_weight", type=float, help="stage-1 InfoNCE weight (preset: small 1.0, tiny/base 0.1)")
    g.add_argument("--rec_weight", type=float, help="stage-1 reconstruction weight (preset: 1.0)")
    g.add_argument("--contrastive", choices=["clip", "slice"], help="stage-1 InfoNCE on clip means or per slice")
    g.add_argument("--head", choices=["mean", "slices"], help="stage-2 classifier input (see docs/avff.md)")
    g.add_argument(
        "--temporal_delta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="streams also see their input minus the clip mean (small: on)",
    )
    g.add_argument(
        "--stream_heads",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add a linear logit per stream to the joint classifier's (small: on)",
    )
    g.add_argument(
        "--highpass",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the ViT also sees each frame's |Laplacian| (fine-detail magnitude)",
    )
    g.add_argument("--visual_pool", choices=["cls", "mean"], help="ViT frame token: CLS or mean patch token")


def _data_args(p: argparse.ArgumentParser, train: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data_root", help="LAV-DF / AV-Deepfake1M folder, a folder of videos, or a .csv of path,label")
    g.add_argument("--csv", help="a CSV of path,label instead of --data_root")
    g.add_argument("--metadata", help="metadata file when not at DATA_ROOT/metadata.json")
    if train:
        g.add_argument("--train_split", default="train")
        g.add_argument("--val_split", default="dev", help="'' for no validation")
        g.add_argument("--clips_per_video", type=int, default=4, help="random clips per video per epoch")
        g.add_argument("--val_clips_per_video", type=int, default=4)
        g.add_argument("--min_shift", type=float, default=0.4, help="seconds: smallest time shift of a sync negative")
    else:
        g.add_argument("--split", default="test")
    g.add_argument("--cache_dir", default=DEFAULT_CACHE, help="decoded face crops + audio ('' for none)")
    _face_args(g)
    g.add_argument("--limit", type=int, help="use only the first N videos (quick runs)")


def _fit_args(p: argparse.ArgumentParser, defaults) -> None:
    from vocalens.config import add_flags
    from vocalens.train.loop import FitConfig

    add_flags(
        p.add_argument_group("training (the shared loop: the same flags as vocalens train)"),
        FitConfig,
        defaults,
        required=("output_dir",),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="avff_command", metavar="{pretrain,train,evaluate,detect}", required=True)
    p = sub.add_parser("pretrain", help="stage 1: self-supervised on real videos (masking, A2V/V2A, InfoNCE)")
    _data_args(p)
    _model_args(p)
    _fit_args(p, pretrain_fit())
    p.add_argument("--init", help="start from an earlier stage-1 checkpoint's weights")
    p.add_argument(
        "--no_hard_negatives",
        action="store_true",
        help="InfoNCE negatives from other clips only (default adds the clip's own audio shifted in time)",
    )

    p = sub.add_parser("train", help="stage 2: supervised real/fake on the fused embeddings")
    _data_args(p)
    _model_args(p)
    _fit_args(p, classify_fit())
    p.add_argument(
        "--pretrained",
        help="stage-1 checkpoint to start from (its config wins over --preset; "
        "the stage-2 head flags --head/--stream_heads still apply)",
    )
    frz = p.add_mutually_exclusive_group()
    frz.add_argument("--freeze_encoders", action="store_true", help="train only fusion + classifier")
    frz.add_argument("--finetune", action="store_true", help="fine-tune the encoders too (default)")
    p.add_argument(
        "--encoder_lr_scale",
        type=float,
        help="fine-tuned encoders train at this times --lr (default: 0.1 with --pretrained, keeping "
        "what stage 1 learned; 1 from scratch)",
    )
    p.add_argument("--pos_weight", type=float, help="BCE weight of fake clips (class balance)")
    p.add_argument(
        "--label_fraction",
        type=float,
        default=0.0,
        help="soft clip targets min(1, fake fraction of the clip / F) for training (default 0: a clip "
        "is fake when any frame is); validation and evaluation keep the any-fake-frame rule",
    )
    p.add_argument(
        "--shift_fakes",
        type=float,
        default=0.0,
        help="probability that a real training clip gets its own audio from >= --min_shift s away "
        "and the label fake (extra sync negatives; default 0)",
    )

    p = sub.add_parser("evaluate", help="video-level AUC/AP/accuracy/F1, by manipulation type")
    p.add_argument("--checkpoint", required=True)
    _data_args(p, train=False)
    p.add_argument("--output", help="results JSON (default: CHECKPOINT_DIR/avff_eval_SPLIT.json)")
    p.add_argument("--threshold", type=float, help="fake when video score >= threshold (default: checkpoint's)")
    p.add_argument("--pool", default="max", choices=["max", "mean", "top3"], help="clip scores -> video score")
    p.add_argument("--hop", type=int, help="frames between clip starts (default: clip span, no overlap)")
    p.add_argument("--batch_size", type=int, default=8)
    add_device(p)

    p = sub.add_parser("detect", help="alias of `vocalens detect` with an AVFF checkpoint (PNGs unless --no_plot)")
    from vocalens.commands import detect

    detect.add_arguments(p, output_dir="avff_detect", checkpoint_required=True)
    add_legacy_faces(p)
    p.add_argument("--no_plot", action="store_true", help="no PNG per video")


def _face_args(g) -> None:
    add_face(g, "auto")
    add_legacy_faces(g)


def _say(msg: str) -> None:
    """Print once per job, not once per torchrun process."""
    if os.environ.get("RANK", "0") == "0":
        print(msg, flush=True)


def _config(args):
    from vocalens.avff.config import get_preset

    keys = (
        "audio_encoder",
        "visual_weights",
        "audio_weights",
        "crop",
        "image_size",
        "patch_size",
        "num_frames",
        "frame_stride",
        "num_slices",
        "n_mels",
        "n_fft",
        "hop_length",
        "contrastive_weight",
        "rec_weight",
        "contrastive",
        "head",
        "temporal_delta",
        "highpass",
        "stream_heads",
        "visual_pool",
    )
    return get_preset(args.preset, **{k: getattr(args, k, None) for k in keys})


# stage-2-only parts of the config: stage 1 never trains them, so they may differ from the stage-1 checkpoint's
HEAD_KEYS = ("head", "stream_heads")


def _items(args, splits, role: str):
    from vocalens.avff.data import read_items

    source = args.csv or args.data_root
    if not source:
        raise UserError(f"avff {args.avff_command}: give --data_root or --csv")
    items = read_items(source, splits if not str(source).endswith(".csv") else None, args.metadata)
    if args.limit:
        items = items[: args.limit]
    return items


def _fit(args, task):
    from vocalens.config import from_args
    from vocalens.train.loop import FitConfig, fit

    defaults = pretrain_fit() if args.avff_command == "pretrain" else classify_fit()
    result = fit(task, from_args(FitConfig, args, defaults))
    _say(
        f"avff {args.avff_command}: best {task.best_metric} = {result.best_score} (epoch {result.best_epoch}); "
        f"checkpoints in {args.output_dir}"
    )
    return 0


def _spec(args, train_items, val_items):
    from vocalens.avff.tasks import DataSpec

    return DataSpec(
        train=train_items,
        val=val_items,
        cache_dir=args.cache_dir or None,
        faces=face_mode(args.face),
        clips_per_video=args.clips_per_video,
        val_clips_per_video=args.val_clips_per_video,
        hard_negatives=not getattr(args, "no_hard_negatives", True),
        shift_fake_prob=getattr(args, "shift_fakes", 0.0) or 0.0,
        min_shift=args.min_shift,
        label_fraction=getattr(args, "label_fraction", 0.0) or 0.0,
    )


def run_pretrain(args) -> int:
    from vocalens.avff.tasks import PretrainTask

    cfg = _config(args)
    real = lambda items: [it for it in items if it.label <= 0]  # noqa: E731 - labelled fakes never seen in stage 1
    train = real(_items(args, [args.train_split], "train"))
    val = real(_items(args, [args.val_split], "val")) if args.val_split and not args.csv else []
    if not train:
        raise UserError(f"{args.data_root or args.csv}: no real videos in split {args.train_split!r} to pretrain on")
    _say(
        f"avff pretrain: {len(train)} real training videos, {len(val)} validation; clip = {cfg.num_frames} frames "
        f"every {cfg.frame_stride} ({cfg.clip_seconds:.2f} s) + the same span of audio, {cfg.num_slices} slices"
    )
    return _fit(args, PretrainTask(cfg, _spec(args, train, val), init=args.init))


def _stage_two_config(args):
    """The stage-1 checkpoint's config (its encoders are loaded) with the stage-2 head flags given;
    the preset's when there is no stage 1."""
    from vocalens.avff.config import AVFFConfig
    from vocalens.avff.predict import read_checkpoint

    if not args.pretrained:
        return _config(args)
    cfg = AVFFConfig.from_dict(read_checkpoint(args.pretrained)["task"]["avff_config"])
    heads = {k: getattr(args, k) for k in HEAD_KEYS if getattr(args, k, None) is not None}
    return dataclasses.replace(cfg, **heads).validate()


def _encoder_lr_scale(args) -> float:
    if args.encoder_lr_scale is not None:
        return args.encoder_lr_scale
    return 0.1 if args.pretrained else 1.0


def run_train(args) -> int:
    from vocalens.avff.tasks import ClassifyTask

    cfg = _stage_two_config(args)
    train = [it for it in _items(args, [args.train_split], "train") if it.label >= 0]
    val = (
        [it for it in _items(args, [args.val_split], "val") if it.label >= 0] if args.val_split and not args.csv else []
    )
    if not train:
        raise UserError(f"{args.data_root or args.csv}: no labelled videos in split {args.train_split!r}")
    n_fake = sum(it.label for it in train)
    lr_scale = _encoder_lr_scale(args)
    _say(
        f"avff train: {len(train)} videos ({n_fake} fake), {len(val)} validation; "
        f"{'from ' + args.pretrained if args.pretrained else 'no stage-1 pretraining'}; "
        f"encoders {'frozen' if args.freeze_encoders else f'fine-tuned at {lr_scale:g} x lr'}"
    )
    task = ClassifyTask(
        cfg,
        _spec(args, train, val),
        pretrained=args.pretrained,
        freeze_encoders=args.freeze_encoders,
        pos_weight=args.pos_weight,
        encoder_lr_scale=lr_scale,
    )
    return _fit(args, task)


def _write_json(path: Path, obj) -> None:
    from vocalens.fileio import write_json_atomic

    write_json_atomic(path, obj, indent=2, allow_nan=True)


def run_evaluate(args) -> int:
    from vocalens.api import load
    from vocalens.avff.evaluate import format_table

    det = load(args.checkpoint, device=args.device)
    if det.system != "avff":
        raise UserError(f"{args.checkpoint}: not an AVFF checkpoint (use `vocalens evaluate` for the localizer)")
    source = args.csv or args.data_root
    if not source:
        raise UserError("avff evaluate: give --data_root or --csv")
    res = det.evaluate(
        source,
        args.split,
        metadata=args.metadata,
        threshold=args.threshold,
        pool=args.pool,
        hop=args.hop,
        batch_size=args.batch_size,
        face=face_mode(args.face),
        cache_dir=args.cache_dir or None,
        limit=args.limit,
    )
    res["checkpoint"] = str(args.checkpoint)
    ck = Path(args.checkpoint)
    out = Path(args.output) if args.output else (ck.parent if ck.is_file() else ck) / f"avff_eval_{args.split}.json"
    _write_json(out, res)
    print(format_table(res["metrics"]))
    print(f"results: {out}" + (f" ({len(res['skipped'])} videos skipped)" if res["skipped"] else ""))
    return 0


def run_detect(args) -> int:
    from vocalens.commands import detect

    args.plot = not args.no_plot
    return detect.run(args)


def run(args) -> int:
    return {"pretrain": run_pretrain, "train": run_train, "evaluate": run_evaluate, "detect": run_detect}[
        args.avff_command
    ](args)
