"""Train the `sync` encoder pair on real speech without labels (SyncNet-style InfoNCE).

  vocalens sync-train --corpus ../shared/data/real-corpus --extra ../shared/data/real-clips --output_dir runs/sync

Decodes the corpus once into OUTPUT/cache.npz (lower-face crops + log-mel; reused when present),
trains on the `train` clips (clips.tsv train split, short/, --extra) through the shared training
loop (TensorBoard, metrics.jsonl, checkpoints, --resume), picks the epoch with the best offset
accuracy on the `dev` clips, and writes OUTPUT/sync_encoder.safetensors for
`vocalens extract --visual_encoder sync --audio_encoder sync --visual_weights FILE --audio_weights FILE`.
The `test` speakers are never used here (benchmarks/sync_offset.py reports on them).
``--realign WEIGHTS`` first moves a train source's audio onto the others, as a sync pair that did
not train on it measures them (vocalens.sync.realign; train clips only).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vocalens.errors import UserError
from vocalens.fileio import atomic_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="real-corpus folder (clips.tsv with a by-speaker split, short/)")
    p.add_argument("--extra", nargs="*", default=[], help="more folders of real clips, used for training only")
    p.add_argument(
        "--no_short", action="store_true", help="leave out real-corpus/short (also from a cache that has it)"
    )
    p.add_argument(
        "--sources",
        nargs="*",
        help="train only on these sources (short, clips = clips.tsv's train split, an --extra folder's name)",
    )
    p.add_argument(
        "--realign",
        nargs="?",
        const="",
        metavar="WEIGHTS",
        help="shift each train source's audio onto the others first, as measured by these sync weights "
        "(no value: the shipped file); see docs/sync.md",
    )
    p.add_argument(
        "--realign_reference",
        nargs="*",
        help="sources whose pooled offset is the zero --realign moves the others onto (default: all but the largest)",
    )
    p.add_argument(
        "--realign_sources",
        nargs="*",
        help="the sources --realign may move (default: every source but the reference)",
    )
    p.add_argument(
        "--shift",
        nargs="*",
        default=[],
        metavar="SOURCE=HOPS",
        help="shift a train source's audio by hand, in 10 ms hops (a control for --realign), e.g. short=4",
    )
    p.add_argument("--realign_max_hops", type=int, default=12, help="shifts searched by --realign, 10 ms hops")
    p.add_argument(
        "--select",
        default="offset_acc",
        choices=["offset_acc", "offset_near", "offset_both", "clip_acc", "clip_near", "clip_both"],
        help="dev figure that picks the epoch: top-1, within +-1 frame, or their sum, over the pooled windows "
        "(offset_*) or per clip and averaged over the clips (clip_*: the long clips do not decide alone) "
        "(default offset_acc)",
    )
    p.add_argument(
        "--holdout",
        metavar="I/K",
        help="cross-validation: leave out fold I (0-based) of K of the train split's speakers; their clips are "
        "scored each epoch (holdout_* metrics, OUTPUT/holdout.json) but never trained on or used to pick the "
        "epoch (benchmarks/sync_cv.py)",
    )
    p.add_argument("--output_dir", required=True)
    p.add_argument("--cache", help="cache file (default OUTPUT/cache.npz; built when missing)")
    p.add_argument(
        "--crop",
        default="face",
        choices=("face", "aligned"),  # vocalens.sync.features.CROP_KINDS (not imported: torch)
        help="visual input: 'face', the lower face of the face crop at fixed fractions (default), or 'aligned', "
        "the face mesh's lower face of the same crop (eyes level, fixed scale)",
    )
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch_size", type=int, default=32, help="segments per step")
    p.add_argument("--length", type=int, default=20, help="frames per training segment (its time-shift negatives)")
    p.add_argument(
        "--cross_weight",
        type=float,
        default=0.25,
        help="weight of the other clips as negatives, next to the same clip's shifts (default 0.25)",
    )
    p.add_argument("--no_flip", action="store_true", help="do not mirror half the training segments")
    p.add_argument("--shift_px", type=int, default=0, help="random shift of a segment's crops, pixels (default 0)")
    p.add_argument("--freq_mask", type=int, default=0, help="zero a random band of up to N mel bins (default 0)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--warmup_epochs", type=float, default=1.0)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--kernel", type=int, default=5, help="kernel of the two temporal layers (default 5)")
    p.add_argument("--stack", type=int, default=1, help="frames stacked into the visual CNN (odd; audio: first kernel)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--resume", help="a checkpoint or run folder to resume")
    p.add_argument("--save_every", type=int, default=0, help="keep checkpoint_epoch{N}.pth every N epochs (0: never)")
    p.add_argument("--weights", help="where to write the encoder weights (default OUTPUT/sync_encoder.safetensors)")
    p.add_argument("--no_progress", action="store_true")


def run(args) -> int:
    import torch  # noqa: PLC0415

    from vocalens.sync.cache import build_cache, corpus_clips, load_cache  # noqa: PLC0415
    from vocalens.sync.features import CROP_KINDS  # noqa: PLC0415
    from vocalens.sync.model import SyncConfig, SyncNet  # noqa: PLC0415
    from vocalens.sync.task import SyncTask  # noqa: PLC0415
    from vocalens.sync.weights import save_weights  # noqa: PLC0415
    from vocalens.train import checkpoint as ckpt_io  # noqa: PLC0415
    from vocalens.train.loop import FitConfig, fit  # noqa: PLC0415

    if args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    torch.set_num_threads(max(1, args.threads))
    out = Path(args.output_dir)
    cache_path = Path(args.cache) if args.cache else out / "cache.npz"
    if not cache_path.is_file():
        clips = corpus_clips(args.corpus, args.extra, short=not args.no_short)
        print(f"sync-train: caching {len(clips)} clips -> {cache_path}", flush=True)
        build_cache(clips, cache_path, crop=args.crop, progress=not args.no_progress)
    cache = load_cache(cache_path)
    if cache.info.get("crop") != args.crop:
        raise UserError(f"{cache_path}: cache was built with crop {cache.info.get('crop')!r}, not {args.crop!r}")
    n = {s: len(cache.indices(s)) for s in ("train", "dev", "test")}
    print(
        f"sync-train: {len(cache)} clips in the cache (train {n['train']}, dev {n['dev']}, test {n['test']} "
        f"unused here), {len(cache.info.get('failed', []))} failed to decode",
        flush=True,
    )
    if not n["train"] or (args.no_short and all(cache.names[i].startswith("short/") for i in cache.indices("train"))):
        raise UserError(f"{cache_path}: no train clips")

    cfg = SyncConfig(
        dim=args.dim,
        width=args.width,
        hidden=args.hidden,
        kernel=args.kernel,
        stack=args.stack,
        crop_hw=CROP_KINDS[args.crop][1],
    )
    train = [i for i in cache.indices("train") if not (args.no_short and cache.names[i].startswith("short/"))]
    if args.sources:
        from vocalens.sync.realign import source_of  # noqa: PLC0415

        train = [i for i in train if source_of(cache.names[i]) in args.sources]
        if not train:
            raise UserError(f"{cache_path}: no train clips from the sources {', '.join(args.sources)}")
    held = _holdout(cache, train, args.holdout) if args.holdout else []
    held_set = set(held)
    train = [i for i in train if i not in held_set]
    if args.shift:
        from vocalens.sync.realign import realigned  # noqa: PLC0415

        try:
            hand = {k: int(v) for k, v in (x.split("=", 1) for x in args.shift)}
        except ValueError:
            raise UserError(f"--shift takes SOURCE=HOPS pairs, got {' '.join(args.shift)}")
        cache = realigned(cache, hand, train)
        print(f"sync-train: audio shifted by hand: {hand} (hops of 10 ms)", flush=True)
    if args.realign is not None:
        cache = _realign(
            cache, train, args.realign or None, args.realign_max_hops, args.realign_reference, args.realign_sources
        )
    task = SyncTask(
        cache,
        cfg,
        length=args.length,
        cross_weight=args.cross_weight,
        flip=not args.no_flip,
        shift=args.shift_px,
        freq_mask=args.freq_mask,
        train_clips=train,
        holdout_clips=held,
    )
    fit_cfg = FitConfig(
        output_dir=str(out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        seed=args.seed,
        num_workers=0,
        device=args.device,
        resume=args.resume,
        best_metric=args.select,
        best_mode="max",
        save_every=args.save_every,
        progress=not args.no_progress,
    )
    span = args.length + 2 * cfg.context
    used = sum(1 for i in train if cache.offsets[i + 1] - cache.offsets[i] >= span)
    print(
        f"sync-train: training on {used} of {len(train)} train clips (a segment is {span} frames with the "
        f"model's context; shorter clips are left out)",
        flush=True,
    )
    if used < len(train) / 2:
        print(
            f"sync-train: warning: most train clips are shorter than {span} frames (real-corpus/short is 31): "
            f"use a smaller --length, --kernel or --stack",
            flush=True,
        )
    result = fit(task, fit_cfg)

    best = out / "best.pth"
    state = ckpt_io.load(best if best.is_file() else out / "last.pth")
    model = SyncNet(cfg)
    model.load_state_dict(state["model"])
    weights = Path(args.weights) if args.weights else out / "sync_encoder.safetensors"
    info = {
        "crop": args.crop,
        "box": list(CROP_KINDS[args.crop][0]),
        "epoch": int(state["epoch"]),
        "dev_offset_acc": state["metrics"].get("offset_acc"),
        "dev_offset_near": state["metrics"].get("offset_near"),
        "select": args.select,
        "realign_hops": cache.info.get("realign_hops", {}),
        "seed": args.seed,
        "cross_weight": args.cross_weight,
        "length": args.length,
        "augment": task.augment,
        "config": cfg.to_dict(),
    }
    save_weights(model, weights, **info)
    if held:  # the chosen epoch's held-out figures, for benchmarks/sync_cv.py to add up over the folds
        record = {
            "holdout": args.holdout,
            "clips": [cache.names[i] for i in held],
            "speakers": sorted({cache.speakers[i] for i in held}),
            "epoch": int(state["epoch"]),
            "metrics": {k: v for k, v in state["metrics"].items() if isinstance(v, (int, float))},
        }
        with atomic_path(out / "holdout.json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1))
    print(
        f"sync-train: best epoch {result.best_epoch} by dev {args.select} {result.best_score:.3f}; "
        f"weights -> {weights} ({weights.stat().st_size / 1e6:.1f} MB)"
    )
    print(json.dumps(info))
    return 0


def _holdout(cache, train: list[int], spec: str) -> list[int]:
    """The train clips of fold I of K (``spec`` "I/K") of the clips.tsv train speakers
    (vocalens.sync.cache.speaker_folds)."""
    from vocalens.sync.cache import speaker_folds  # noqa: PLC0415

    try:
        fold, folds = (int(x) for x in spec.split("/"))
    except ValueError:
        raise UserError(f"--holdout takes I/K (fold I of K, e.g. 0/4), got {spec!r}")
    if not 0 <= fold < folds or folds < 2:
        raise UserError(f"--holdout {spec}: need 0 <= I < K and K >= 2")
    fold_of = speaker_folds(cache, train, folds)
    if len(set(cache.speakers[i] for i in fold_of)) < folds:
        raise UserError(f"--holdout {spec}: fewer than {folds} train speakers to deal into folds")
    held = [i for i, k in fold_of.items() if k == fold]
    print(
        f"sync-train: holding out fold {fold} of {folds}: {len(held)} train clips of "
        f"{len({cache.speakers[i] for i in held})} speakers (scored as holdout_*, never trained on)",
        flush=True,
    )
    return held


def _realign(
    cache,
    train: list[int],
    weights: str | None,
    max_hops: int,
    reference: list[str] | None = None,
    sources: list[str] | None = None,
):
    """The cache with each train source's audio moved onto the other sources (vocalens.sync.realign),
    measured on the train clips only by the given sync weights."""
    from vocalens.sync.realign import HOP_MS, clip_curves, realigned, source_offsets  # noqa: PLC0415
    from vocalens.sync.weights import load_weights  # noqa: PLC0415

    model, _, digest = load_weights(weights)
    curves = clip_curves(model, cache, train, max_hops)
    if not curves:
        raise UserError("--realign: no train clip is long enough to measure its offset")
    try:
        shifts, counts, ref = source_offsets(curves, cache, reference)
    except ValueError as e:
        raise UserError(f"--realign: {e}")
    if sources is not None:
        shifts = {g: (h if g in sources else 0) for g, h in shifts.items()}
    for g in sorted(counts, key=lambda g: -counts[g]):
        print(
            f"sync-train: realign {g}: {counts[g]} clips, audio shifted by {shifts[g]:+d} hops "
            f"({shifts[g] * HOP_MS:+d} ms; measured by {digest}, reference peak {ref:+d} hops)",
            flush=True,
        )
    return realigned(cache, shifts, train)
