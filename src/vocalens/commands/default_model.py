"""Reproduce the shipped default model from real recordings, CPU only (docs/model_card.md).

Every stage is the `vocalens` subcommand a user would run (printed as it runs) and resumes when
run again. Only the corpus's train and dev speakers are used; the test speakers are for
`benchmarks/real_quality.py` alone.

  1 cut the corpus's train / dev clips (+ --extra folders, train) into short sources
  2 train the sync encoder pair on real speech, no labels        (vocalens sync-train --crop aligned,
    short/'s measured audio lag moved back)
  3 partial fakes of the train and dev sources                   (vocalens forge)
  4 features with the sync encoders                              (vocalens extract)
  5 train the localizer                                          (vocalens train)
  6 calibrate on the dev speakers -> default_localizer.pth       (vocalens calibrate --fuse_sync)
  7 --install: copy it and the sync weights into the package (src/vocalens/assets/)

  vocalens default-model --corpus ../shared/data/real-corpus --extra ../shared/data/real-clips \\
      --output_dir runs/default_model --install
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# the recipe's settings, in one place: what the model card documents
# --feature_norm: per-window standardised inputs (dev frame AUC 0.771 / video AUC 0.792 vs 0.762 / 0.767 without,
# 10 epochs on the same sync features; --sync_lags 5 gave 0.731 / 0.785): docs/model_card.md
LOCALIZER_ARGS = [
    "--d_model",
    "128",
    "--num_layers",
    "2",
    "--nhead",
    "4",
    "--batch_size",
    "8",
    "--lr",
    "1e-3",
    "--warmup_epochs",
    "1",
    "--max_frames",
    "256",
    "--feature_norm",
    "--num_workers",
    "0",
    # the first boundary head (no start/end logits, no stream inputs): the newer head localised better on dev
    # (frame AUC 0.855 vs 0.848, AP@0.5 0.444 vs 0.416) but called 1 of the 5 whole dev real recordings FAKE
    # with the top-25 video score (this head: 0 of 5): docs/model_card.md
    "--no_boundary_streams",
    "--no_boundary_edges",
]
# the raw sync cosine fused into the frame scores (dev frame AUC 0.771 -> 0.843 leave-one-source-out), and
# videos scored by their 25 top fused frames (dev video AUC 0.871 vs 0.762 for the video head leave-one-source-
# out; 0 of the 5 whole dev real recordings FAKE either way): docs/model_card.md
CALIBRATE_ARGS = ["--fuse_sync", "--video_topk", "25"]
# the sync pair: lower faces aligned by the face mesh, crops shifted by up to 3 px and mel bands masked (dev:
# the localizer on it had LOSO frame AUC 0.872 vs 0.844 and top-25 video AUC 0.904 vs 0.893 for the pair shipped
# before, 0 of the 5 whole dev recordings FAKE; without the augmentation the aligned pairs over-fit): docs/sync.md
# (24 sync epochs instead of 12: dev clip_both 1.198 vs 1.277, test top-1 0.597 vs 0.633: docs/sync.md "More epochs")
SYNC_ARGS = ["--crop", "aligned", "--shift_px", "3", "--freq_mask", "8", "--select", "offset_both"]
# real-corpus/short's audio sits 40 ms late against the corpus's own train clips, as a pair trained on short/
# alone measured on those clips (train clips only: benchmarks/sync_train_offsets.py, docs/sync.md "Realigned")
SHORT_LAG_HOPS = -4
FORGE = {"train": 6, "dev": 4, "short": 1}  # fake copies per source
FORGE_SEEDS = {"train": 0, "dev": 1, "short": 5}
# the 1.2 s short clips get one fake period of 0.3-0.6 s each, and their own file names in the train split
SHORT_FORGE = ["--max_fakes", "1", "--min_fake_s", "0.3", "--max_fake_s", "0.6", "--name_prefix", "short_"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="the real corpus (clips.tsv with a by-speaker split)")
    p.add_argument("--extra", nargs="*", default=[], help="more folders of real clips (training only)")
    p.add_argument("--output_dir", default="runs/default_model")
    # 20 epochs: dev frame AUC 0.876 / video AUC 0.907 vs 0.872 / 0.904, inside the 0.008 a second seed moves it
    p.add_argument("--epochs", type=int, default=10, help="localizer epochs (default 10)")
    p.add_argument("--sync_epochs", type=int, default=None, help="sync encoder epochs (default: sync-train's)")
    p.add_argument("--no_short", action="store_true", help="sync training without real-corpus/short")
    # forging 800 short clips into the training set did not help on dev (frame AUC 0.749 vs 0.762): default off
    p.add_argument(
        "--short",
        type=int,
        default=0,
        help="real-corpus/short clips forged into the localizer's training set (default 0: none)",
    )
    p.add_argument(
        "--sync_weights",
        help="reuse these sync encoder weights (e.g. src/vocalens/assets/sync_encoder.safetensors, the shipped "
        "ones) and skip stage 2",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="decoding workers (default 2)")
    p.add_argument(
        "--install",
        action="store_true",
        help="copy the result into the package (src/vocalens/assets/) as the shipped default",
    )


def sync_stages(args, sync: Path) -> list[tuple[str, list[str], Path]]:
    """The sync encoder's training (docs/sync.md, "Aligned"), as ``[(title, argv, output_dir)]``: the pair
    on face-mesh-aligned lower faces, short/'s audio moved by ``SHORT_LAG_HOPS``, its epoch picked by dev
    top-1 + within +-1 frame."""
    argv = ["sync-train", "--corpus", args.corpus, "--seed", str(args.seed), "--output_dir", str(sync), *SYNC_ARGS]
    if args.extra:
        argv += ["--extra", *args.extra]
    if args.sync_epochs is not None:
        argv += ["--epochs", str(args.sync_epochs)]
    if args.no_short:
        return [("2/7 train the sync encoder on real speech (no labels)", [*argv, "--no_short"], sync)]
    title = "2/7 train the sync encoder on real speech (no labels), short/'s audio realigned"
    return [(title, [*argv, "--shift", f"short={SHORT_LAG_HOPS}"], sync)]


def run(args) -> int:
    from vocalens.commands.demo import _stage, localizer_train_argv
    from vocalens.datagen.corpus import link_short, prepare_sources

    if args.sync_weights and not Path(args.sync_weights).is_file():
        from vocalens.errors import UserError

        raise UserError(f"{args.sync_weights}: --sync_weights: no such file")
    out = Path(args.output_dir)
    sources, sync, feats, loc = out / "sources", out / "sync", out / "features", out / "localizer"
    model = out / "default_localizer.pth"
    t0 = time.time()

    print("\n== 1/7 cut the corpus's train and dev clips into sources", flush=True)
    s = prepare_sources(args.corpus, sources, splits=("train", "dev"), extra=[("train", e) for e in args.extra])
    print(f"-- {s.counts} ({s.written} written, {s.reused} kept)" + "".join(f"\n   skipped {x}" for x in s.skipped))
    n_short = link_short(args.corpus, sources / "short", args.short)
    print(f"-- {n_short} short clips linked for training")

    weights = Path(args.sync_weights) if args.sync_weights else sync / "sync_encoder.safetensors"
    if args.sync_weights:
        print(f"\n== 2/7 sync encoder: {weights} given (--sync_weights), not trained")
    elif weights.is_file():
        print(f"\n== 2/7 sync encoder: {weights} exists, kept")
    else:
        for title, argv, run_dir in sync_stages(args, sync):
            done = run_dir / "sync_encoder.safetensors"
            if done.is_file():
                print(f"\n== {title}: {done} exists, kept")
            else:
                _stage(title, argv)

    for part in ("train", "short", "dev") if n_short else ("train", "dev"):
        root, split = out / f"forge_{part}", "dev" if part == "dev" else "train"
        if not (root / "metadata.min.json").is_file():
            ratios = ["0", "1", "0"] if split == "dev" else ["1", "0", "0"]
            _stage(
                f"3/7 forge partial fakes of the {part} sources",
                [
                    "forge",
                    "--videos",
                    str(sources / part),
                    "--output_root",
                    str(root),
                    "--split_ratios",
                    *ratios,
                    "--fakes_per_video",
                    str(FORGE[part]),
                    "--seed",
                    str(args.seed + FORGE_SEEDS[part]),
                    "--face_detector",
                    "auto",
                    "--no_progress",
                    *(SHORT_FORGE if part == "short" else []),
                ],
            )
        _stage(  # exit 1 = some videos failed and are listed in failures.jsonl: the others are used
            f"4/7 extract sync features of the {part} fakes",
            [
                "extract",
                "--dataset_root",
                str(root),
                "--output_root",
                str(feats),
                "--splits",
                split,
                "--face",
                "auto",
                "--visual_encoder",
                "sync",
                "--visual_weights",
                str(weights),
                "--audio_encoder",
                "sync",
                "--audio_weights",
                str(weights),
                "--skip_existing",
                "--num_workers",
                str(args.workers),
            ],
            ok=(0, 1),
        )

    train_argv = localizer_train_argv(feats, loc, args.epochs, ["--seed", str(args.seed), *LOCALIZER_ARGS])
    _stage("5/7 train the localizer", train_argv)
    _stage(
        "6/7 calibrate on the dev speakers",
        [
            "calibrate",
            "--checkpoint",
            str(loc / "best.pth"),
            "--features_root",
            str(feats),
            "--split",
            "dev",
            "--output",
            str(model),
            *CALIBRATE_ARGS,
        ],
    )
    if args.install:
        from vocalens.localizer.shipped import install

        print(f"\n== 7/7 installed {install(model, weights)} (+ sync_encoder.safetensors, default_localizer.json)")
    else:
        print("\n== 7/7 not installed (--install copies it into the package)")
    from vocalens.train import checkpoint as ckpt_io

    dev = ckpt_io.load(model)["task"]["calibration"]["dev"]
    print(f"\n== done in {time.time() - t0:.0f} s: {model}\n   dev calibration: {json.dumps(dev)}")
    print("   quality on the test speakers: python benchmarks/real_quality.py --checkpoint " + str(model))
    return 0
