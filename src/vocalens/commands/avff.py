"""AVFF detector (Oorloff et al., CVPR 2024): two-stage training and video-level detection.

  vocalens avff pretrain --data_root DATA --output_dir runs/avff_ssl --preset small
  vocalens avff train    --data_root DATA --output_dir runs/avff --pretrained runs/avff_ssl/best.pth
  vocalens avff evaluate --checkpoint runs/avff/best.pth --data_root DATA --split test
  vocalens avff evaluate --checkpoint runs/avff/best.pth --csv videos.csv
  vocalens avff detect   VIDEO [VIDEO ...] --checkpoint runs/avff/best.pth --output_dir out/

DATA is a LAV-DF-layout folder (metadata.json), an AV-Deepfake1M folder, a plain folder of videos
(pretrain: treated as real) or a CSV of ``path,label``. Both training stages run through the shared
training loop: checkpoints (best/last/epoch), --resume, TensorBoard, and torchrun for many processes.
Every flag is a field of vocalens.avff.config (AVFFConfig, AVFFDataConfig, StageOptions) or of the
loop's FitConfig: its default and reason live there.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from vocalens.avff.config import (
    DATA_FIELDS,
    PRESETS,
    AVFFConfig,
    AVFFDataConfig,
    AVFFRunConfig,
    StageOptions,
    classify_fit,
    pretrain_fit,
)
from vocalens.commands.shared import add_device, add_legacy_faces
from vocalens.config import add_flags, from_args, overrides_from_args
from vocalens.errors import UserError, batch_exit
from vocalens.media.crops import face_mode

# stage-2-only parts of the config: stage 1 never trains them, so they may differ from the stage-1 checkpoint's
HEAD_KEYS = ("head", "stream_heads")


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (stage 1 / fresh runs; train --pretrained takes the checkpoint's)")
    g.add_argument("--preset", default="small", choices=list(PRESETS), help="model size (default small)")
    add_flags(g, AVFFConfig, overrides="the preset's")


def _data_args(p: argparse.ArgumentParser, command: str) -> None:
    g = p.add_argument_group("data")
    add_flags(g, AVFFDataConfig, only=DATA_FIELDS[command])
    add_legacy_faces(g)


def _fit_args(p: argparse.ArgumentParser, defaults) -> None:
    from vocalens.train.loop import FitConfig

    g = p.add_argument_group("training (the shared loop: the same flags as vocalens train)")
    add_flags(g, FitConfig, defaults, required=("output_dir",))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="avff_command", metavar="{pretrain,train,evaluate,detect}", required=True)
    p = sub.add_parser("pretrain", help="stage 1: self-supervised on real videos (masking, A2V/V2A, InfoNCE)")
    _data_args(p, "pretrain")
    _model_args(p)
    _fit_args(p, pretrain_fit())
    add_flags(p, StageOptions, only=("init",))

    p = sub.add_parser("train", help="stage 2: supervised real/fake on the fused embeddings")
    _data_args(p, "train")
    _model_args(p)
    _fit_args(p, classify_fit())
    add_flags(p, StageOptions, only=("pretrained", "encoder_lr_scale", "pos_weight"))
    frz = p.add_mutually_exclusive_group()
    add_flags(frz, StageOptions, only=("freeze_encoders",))
    frz.add_argument("--finetune", action="store_true", help="fine-tune the encoders too (default)")

    p = sub.add_parser("evaluate", help="video-level AUC/AP/accuracy/F1, by manipulation type")
    p.add_argument("--checkpoint", required=True)
    _data_args(p, "evaluate")
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


def _say(msg: str) -> None:
    """Print once per job, not once per torchrun process."""
    if os.environ.get("RANK", "0") == "0":
        print(msg, flush=True)


def _model_config(args, options: StageOptions) -> AVFFConfig:
    """The preset with the model flags given; for stage 2 over a stage-1 checkpoint, that checkpoint's config
    (its encoders are loaded) with the stage-2 head flags given."""
    from vocalens.avff.config import get_preset

    if not options.pretrained:
        return get_preset(args.preset, **overrides_from_args(AVFFConfig, args))
    from vocalens.avff.predict import read_checkpoint

    cfg = AVFFConfig.from_dict(read_checkpoint(options.pretrained)["task"]["avff_config"])
    heads = {k: v for k, v in overrides_from_args(AVFFConfig, args).items() if k in HEAD_KEYS}
    return dataclasses.replace(cfg, **heads).validate()


def run_config(args) -> AVFFRunConfig:
    """The run's one config object, from the parsed flags."""
    from vocalens.train.loop import FitConfig

    stage = "pretrain" if args.avff_command == "pretrain" else "classify"
    options = from_args(StageOptions, args)
    data = from_args(AVFFDataConfig, args)
    data = dataclasses.replace(data, face=face_mode(data.face))
    fit = from_args(FitConfig, args, pretrain_fit() if stage == "pretrain" else classify_fit())
    return AVFFRunConfig(stage, args.preset, _model_config(args, options), data, fit, options)


def _items(data: AVFFDataConfig, split: str, command: str):
    from vocalens.avff.data import read_items

    source = data.csv or data.data_root
    if not source:
        raise UserError(f"avff {command}: give --data_root or --csv")
    items = read_items(source, [split] if not str(source).endswith(".csv") else None, data.metadata)
    return items[: data.limit] if data.limit else items


def _spec(run: AVFFRunConfig, train_items, val_items):
    from vocalens.avff.tasks import DataSpec

    d = run.data
    return DataSpec(
        train=train_items,
        val=val_items,
        cache_dir=d.cache_dir or None,
        faces=d.face,
        clips_per_video=d.clips_per_video,
        val_clips_per_video=d.val_clips_per_video,
        hard_negatives=d.hard_negatives if run.stage == "pretrain" else False,
        shift_fake_prob=d.shift_fakes if run.stage == "classify" else 0.0,
        min_shift=d.min_shift,
        label_fraction=d.label_fraction if run.stage == "classify" else 0.0,
    )


def _split_items(run: AVFFRunConfig, command: str, keep):
    d = run.data
    train = [it for it in _items(d, d.train_split, command) if keep(it)]
    val = [it for it in _items(d, d.val_split, command) if keep(it)] if d.val_split and not d.csv else []
    return train, val


def _fit(run: AVFFRunConfig, task, command: str) -> int:
    from vocalens.train.loop import fit

    task.run_config = run.to_dict()
    result = fit(task, run.fit)
    _say(
        f"avff {command}: best {task.best_metric} = {result.best_score} (epoch {result.best_epoch}); "
        f"checkpoints in {run.fit.output_dir}"
    )
    return 0


def run_pretrain(args) -> int:
    from vocalens.avff.tasks import PretrainTask

    run = run_config(args)
    cfg = run.model
    train, val = _split_items(run, "pretrain", lambda it: it.label <= 0)  # labelled fakes never seen in stage 1
    if not train:
        raise UserError(
            f"{run.data.data_root or run.data.csv}: no real videos in split {run.data.train_split!r} to pretrain on"
        )
    _say(
        f"avff pretrain: {len(train)} real training videos, {len(val)} validation; clip = {cfg.num_frames} frames "
        f"every {cfg.frame_stride} ({cfg.clip_seconds:.2f} s) + the same span of audio, {cfg.num_slices} slices"
    )
    return _fit(run, PretrainTask(cfg, _spec(run, train, val), init=run.options.init), "pretrain")


def run_train(args) -> int:
    from vocalens.avff.tasks import ClassifyTask

    run = run_config(args)
    o = run.options
    train, val = _split_items(run, "train", lambda it: it.label >= 0)
    if not train:
        raise UserError(f"{run.data.data_root or run.data.csv}: no labelled videos in split {run.data.train_split!r}")
    n_fake = sum(it.label for it in train)
    _say(
        f"avff train: {len(train)} videos ({n_fake} fake), {len(val)} validation; "
        f"{'from ' + o.pretrained if o.pretrained else 'no stage-1 pretraining'}; "
        f"encoders {'frozen' if o.freeze_encoders else f'fine-tuned at {o.lr_scale:g} x lr'}"
    )
    task = ClassifyTask(
        run.model,
        _spec(run, train, val),
        pretrained=o.pretrained,
        freeze_encoders=o.freeze_encoders,
        pos_weight=o.pos_weight,
        encoder_lr_scale=o.lr_scale,
    )
    return _fit(run, task, "train")


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
    return batch_exit(len(res["skipped"]))


def run_detect(args) -> int:
    from vocalens.commands import detect

    args.plot = not args.no_plot
    return detect.run(args)


def run(args) -> int:
    return {"pretrain": run_pretrain, "train": run_train, "evaluate": run_evaluate, "detect": run_detect}[
        args.avff_command
    ](args)
