"""AVFF quality on synthetic (and forged real) data: video AUC of stage 2 with vs without stage-1
pretraining, and on a forged-real-clip test split when `vocalens forge` and the real clips exist.

    PYTHONPATH=src HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 python experiments/avff_quality.py \\
        --work /tmp/avff_quality --threads 2

Steps (all through the `vocalens` CLI, seeded):
 1. `vocalens synth` a real-only set for stage 1 (300 videos) and a labelled set (1200 videos <= 6 s,
    synth's default 25% real, the rest audio/visual/both partial fakes) for stage 2, unless
    --ssl_data / --data name existing ones;
 2. `vocalens avff pretrain` on the real-only set;
 3. `vocalens avff train` on the labelled train split twice, from the stage-1 checkpoint (encoders at
    --encoder_lr_scale x the lr) and from scratch, with the same seed, epochs and data;
 4. `vocalens avff evaluate` both on the labelled test split;
 5. with --real_clips: `vocalens forge` partial fakes of the real clips, stage 2 from the stage-1
    checkpoint on its train split, evaluate on its test split.
Writes the table to --output (experiments/results/avff_quality.md). Existing datasets/runs in --work are reused
(delete --work to start over).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from vocalens.cli import main as cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the shared publish()
from _avff_runs import evaluate_argv, pretrain_argv, train_argv, train_seconds  # noqa: E402
from _common import publish  # noqa: E402

REAL_CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-clips"


def call(*argv) -> None:
    argv = [str(a) for a in argv]
    print("$ vocalens " + " ".join(argv), flush=True)
    rc = cli(argv)
    if rc not in (0, 1):  # 1 = some videos failed, were reported and left out (vocalens.errors.batch_exit)
        raise SystemExit(f"failed ({rc}): vocalens {' '.join(argv)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/avff_quality")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--ssl_videos", type=int, default=300, help="real-only synthetic videos for stage 1")
    ap.add_argument("--videos", type=int, default=1200, help="labelled synthetic videos for stage 2")
    ap.add_argument(
        "--ssl_data", help="an existing real-only LAV-DF-layout set for stage 1 instead of synthesising one"
    )
    ap.add_argument("--data", help="an existing labelled LAV-DF-layout set for stage 2 instead of synthesising one")
    ap.add_argument("--limit", type=int, default=500, help="first N videos of each labelled split (train, dev, test)")
    ap.add_argument("--ssl_epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--clips_per_video", type=int, default=8, help="stage-1 random clips per video per epoch")
    ap.add_argument("--cls_clips_per_video", type=int, default=4, help="stage-2 random clips per video per epoch")
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--size", type=int, default=224, help="synthetic frame size (px)")
    ap.add_argument("--max_duration", type=float, default=6.0)
    ap.add_argument("--splits", default="70,15,15", help="train,dev,test proportions of the labelled set")
    ap.add_argument("--workers", type=int, default=1, help="vocalens synth processes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--num_workers", type=int, default=0)
    ap.add_argument("--ssl_lr", type=float, default=5e-4, help="stage-1 learning rate")
    ap.add_argument("--cls_lr", type=float, default=1e-3, help="stage-2 learning rate (both runs and the forged split)")
    ap.add_argument("--label_fraction", type=float, default=0.25, help="stage-2 soft clip targets (docs/avff.md)")
    ap.add_argument("--real_clips", default=str(REAL_CLIPS) if REAL_CLIPS.is_dir() else None)
    ap.add_argument("--freeze_encoders", action="store_true", help="stage 2 with frozen encoders")
    ap.add_argument("--contrastive_weight", type=float, default=1.0, help="stage-1 InfoNCE weight")
    ap.add_argument("--no_hard_negatives", action="store_true", help="stage-1 InfoNCE without shifted-audio negatives")
    ap.add_argument("--shift_fakes", type=float, default=0.3, help="stage-2 shifted-audio fakes per real clip")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "avff_quality.md"))
    ap.add_argument(
        "--encoder_lr_scale",
        type=float,
        default=0.1,
        help="stage 2 from stage 1: encoders at this times --cls_lr (from scratch: always 1)",
    )
    args = ap.parse_args()
    print("$ PYTHONPATH=src HF_HUB_OFFLINE=1 python experiments/avff_quality.py " + " ".join(sys.argv[1:]), flush=True)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    t0 = time.time()
    timings = {}

    ssl_data = Path(args.ssl_data) if args.ssl_data else work / "synth_real"
    data = Path(args.data) if args.data else work / "synth_labelled"
    common_synth = [
        "--size",
        args.size,
        "--min_duration",
        2,
        "--max_duration",
        args.max_duration,
        "--workers",
        args.workers,
    ]
    t = time.time()
    if not (ssl_data / "metadata.json").is_file():
        call(
            "synth",
            "--output_root",
            ssl_data,
            "--num_videos",
            args.ssl_videos,
            "--seed",
            101,
            "--real_fraction",
            1.0,
            "--splits",
            "90,10,0",
            *common_synth,
        )
    if not (data / "metadata.json").is_file():
        call(
            "synth",
            "--output_root",
            data,
            "--num_videos",
            args.videos,
            "--seed",
            0,
            "--splits",
            args.splits,
            *common_synth,
        )
    timings["synthesise data (not part of the training budget)"] = time.time() - t

    limit = ["--limit", args.limit] if args.limit else []
    base = [
        "--preset",
        args.preset,
        "--batch_size",
        args.batch_size,
        "--num_workers",
        args.num_workers,
        "--cache_dir",
        cache,
        "--seed",
        1,
        "--no_progress",
    ]
    fit = base + ["--faces", "center"]  # synthetic faces fill the frame
    ssl = work / "ssl"
    t = time.time()
    if (ssl / "best.pth").is_file():
        print(f"reusing the stage-1 checkpoint {ssl / 'best.pth'} (its time is not counted)")
    else:
        hard = ["--no_hard_negatives"] if args.no_hard_negatives else []
        call(
            *pretrain_argv(
                ssl_data, ssl, args.ssl_epochs, args.ssl_lr, args.contrastive_weight, args.clips_per_video, *hard, *fit
            )
        )
    timings["stage 1"] = train_seconds(ssl)
    freeze = (["--freeze_encoders"] if args.freeze_encoders else []) + [
        "--shift_fakes",
        args.shift_fakes,
        "--label_fraction",
        args.label_fraction,
        "--clips_per_video",
        args.cls_clips_per_video,
        "--warmup_epochs",
        0.5,
    ]
    from_ssl = ["--pretrained", ssl / "best.pth", "--encoder_lr_scale", args.encoder_lr_scale]
    runs = {
        "with stage-1 pretraining": (work / "cls_pretrained", from_ssl),
        "without (random init)": (work / "cls_scratch", []),
    }
    results = {}
    for name, (run, extra) in runs.items():
        t = time.time()
        if not (run / "best.pth").is_file():
            call(*train_argv(data, run, args.epochs, args.cls_lr, *extra, *freeze, *fit, *limit))
        timings[f"stage 2, {name}"] = train_seconds(run)
        out = run / "eval_test.json"
        call(*evaluate_argv(run / "best.pth", data, "test", out, cache, "--faces", "center", *limit))
        results[f"synth test, {name}"] = json.loads(out.read_text())["metrics"]

    if args.real_clips and Path(args.real_clips).is_dir():
        try:
            import vocalens.commands.forge  # noqa: F401
        except ImportError:
            print("forge not available on this branch: skipping the forged-real-clip split")
        else:
            forged = work / "forged"
            if not (forged / "metadata.json").is_file():
                call("forge", "--videos", args.real_clips, "--output_root", forged, "--seed", 7)
            run = work / "cls_forged"
            if not (run / "best.pth").is_file():
                call(*train_argv(forged, run, args.epochs, args.cls_lr, *from_ssl, *freeze, *base))
            out = run / "eval_test.json"
            call(*evaluate_argv(run / "best.pth", forged, "test", out, cache))
            results["forged real clips test, with stage-1 pretraining (synth)"] = json.loads(out.read_text())["metrics"]

    lines = [
        "Command: `PYTHONPATH=src HF_HUB_OFFLINE=1 python experiments/avff_quality.py "
        + " ".join(sys.argv[1:])
        + "` (hard negatives "
        + ("off" if args.no_hard_negatives else "on")
        + f", shift_fakes {args.shift_fakes}, "
        f"stage-1 contrastive_weight {args.contrastive_weight}, stage 2 from stage 1 with encoder_lr_scale "
        f"{args.encoder_lr_scale})",
        "",
        f"AVFF video-level quality, preset `{args.preset}`, CPU {args.threads} thread(s); "
        f"stage 1: real videos of {ssl_data} x {args.ssl_epochs} epochs, {args.clips_per_video} random clips "
        f"per video per epoch; stage 2: train split of {data}"
        + (f" (first {args.limit} videos of each split)" if args.limit else "")
        + f" x {args.epochs} epochs, encoders "
        f"{'frozen' if args.freeze_encoders else 'fine-tuned'}, {args.cls_clips_per_video} random clips per "
        f"video per epoch, soft targets label_fraction {args.label_fraction}; video score = max over clips.",
        "",
        "| test set | subset | videos | fakes | AUC | AP | accuracy | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, metrics in results.items():
        for sub, m in metrics.items():
            lines.append(
                f"| {name} | {sub} | {m['n']} | {m['n_fake']} | {m['auc']:.3f} | {m['ap']:.3f} "
                f"| {m['accuracy']:.3f} | {m['f1']:.3f} |"
            )
    lines += ["", "| stage | training + validation time (s, from metrics.jsonl) |", "|---|---|"] + [
        f"| {k} | {v:.0f} |" for k, v in timings.items() if not k.startswith("synth")
    ]
    lines.append(f"\nThis invocation: {time.time() - t0:.0f} s wall (reused data sets and runs are not redone).")
    publish(lines, args.output)


if __name__ == "__main__":
    main()
