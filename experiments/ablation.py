"""Ablation table of the VOCA-Lens localizer (seed section 10), broken down by manipulation type.

    PYTHONPATH=src python experiments/ablation.py --features_root feats --epochs 20 \
        --out_dir runs/ablation -- --d_model 128 --num_layers 2 --nhead 4 --max_frames 256
    PYTHONPATH=src python experiments/ablation.py --synth 2400 --epochs 8 ...   # makes its own data first

Trains, on ``{features_root}/train`` with ``dev`` for validation, each variant:
  full                      the defaults
  seed_model                the seed's per-frame projections, no energy channels, no sync augmentation
  no_similarity_loss        --similarity_loss_weight 0
  no_cross_attn             --no_cross_attn
  visual_only               --modality visual (audio stream zeroed)
  audio_only                --modality audio  (visual stream zeroed)
then runs its best.pth over ``{features_root}/test`` with the Predictor (window by window, stitched)
and reports frame AUC / AP, video AUC and AP@0.5 (when vocalens.eval.metrics is there) on all test
videos and on real + each manipulation type (audio, visual, both). Arguments after ``--`` go to every
`vocalens train` call. ``--jobs N`` trains N variants at once (separate processes, one thread each).
Writes experiments/results/quality.md (and the per-variant JSON next to the runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vocalens.cli import main as vocalens
from vocalens.data.store import list_videos, read_features
from vocalens.fileio import write_json_atomic
from vocalens.localizer.predict import Predictor
from vocalens.localizer.task import localization_metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the shared publish()
from _common import publish  # noqa: E402

VARIANTS = {
    "full": [],
    "seed_model": ["--conv_kernel", "1", "--no_energy", "--sync_aug", "0"],  # before docs/quality.md's changes
    "no_similarity_loss": ["--similarity_loss_weight", "0"],
    "no_cross_attn": ["--no_cross_attn"],
    "visual_only": ["--modality", "visual"],
    "audio_only": ["--modality", "audio"],
}
GROUPS = ("all", "audio", "visual", "both")


def evaluate(checkpoint: Path, root: str, split: str) -> dict:
    pred = Predictor.from_checkpoint(checkpoint)
    videos = {}
    for path in list_videos(root, split):
        f = read_features(path)
        if f.frame_labels is None:
            continue
        out = pred.predict_features(f)
        videos[f.video_id] = {
            **out,
            "labels": f.frame_labels.astype(np.float32),
            "video_label": int(f.frame_labels.any()),
            "manipulation": str(f.meta.get("manipulation", "unknown")),
        }
    fps = float(pred.config.get("fps", 25.0))
    res = {"all": localization_metrics(videos, fps, pred.threshold)}
    for g in GROUPS[1:]:
        sub = {k: v for k, v in videos.items() if v["manipulation"] in ("real", g)}
        if any(v["manipulation"] == g for v in sub.values()):
            res[g] = localization_metrics(sub, fps, pred.threshold)
    return res


def fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--features_root", help="feature store with train/dev/test (or use --toy)")
    ap.add_argument(
        "--synth",
        type=int,
        default=0,
        metavar="N",
        help="make the data first: `vocalens synth` of N videos (<= --max_duration s, seed 0) into "
        "OUT_DIR/data, `vocalens extract --face none` into OUT_DIR/features, and use it "
        "(both skipped when already complete)",
    )
    ap.add_argument("--max_duration", type=float, default=6.0, help="longest video of --synth, s (default 6)")
    ap.add_argument(
        "--toy",
        type=int,
        default=0,
        metavar="N",
        help="write a toy store (vocalens.datagen.toy: A/V agreement is the only cue) of N train videos "
        "(N/2 dev, N/2 test) under OUT_DIR/toy_features and use it",
    )
    ap.add_argument("--out_dir", default="runs/ablation")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--test_split", default="test")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data_note", default="", help="how the feature store was made (printed under the command)")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="a variant whose OUT_DIR/<variant>/<test_split>_metrics.json exists is not trained again: "
        "its row is read from there (to add variants to a table, or finish a killed run)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="variants trained at once (processes of one thread each)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "quality.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.toy:
        from vocalens.datagen.toy import write_toy_store

        args.features_root = str(
            write_toy_store(
                Path(args.out_dir) / "toy_features",
                {"train": args.toy, "dev": args.toy // 2, "test": args.toy // 2},
                frames=(40, 80),
                noise=0.05,
            )
        )
    if args.synth:
        data, feats = Path(args.out_dir) / "data", Path(args.out_dir) / "features"
        if not (data / "metadata.json").is_file():
            rc = vocalens(
                [
                    "synth",
                    "--output_root",
                    str(data),
                    "--num_videos",
                    str(args.synth),
                    "--max_duration",
                    str(args.max_duration),
                    "--seed",
                    "0",
                    "--workers",
                    "2",
                ]
            )
            if rc:
                raise SystemExit(f"vocalens synth failed (exit {rc})")
        rc = vocalens(
            ["extract", "--dataset_root", str(data), "--output_root", str(feats), "--face", "none", "--skip_existing"]
        )
        if rc not in (0, 1):  # 1 = some videos failed and are in failures.jsonl
            raise SystemExit(f"vocalens extract failed (exit {rc})")
        args.features_root = str(feats)
        args.data_note = args.data_note or (
            f"`vocalens synth --output_root data --num_videos {args.synth} --max_duration {args.max_duration:g} "
            f"--seed 0` then `vocalens extract --dataset_root data --output_root features --face none`"
        )
    if not args.features_root:
        ap.error("give --features_root, --synth N or --toy N")
    results = {}

    def train_argv(name):
        return [
            "train",
            "--features_root",
            args.features_root,
            "--splits",
            "train",
            "dev",
            "--epochs",
            str(args.epochs),
            "--output_dir",
            str(Path(args.out_dir) / name),
            "--no_progress",
            *VARIANTS[name],
            *extra,
        ]

    seconds, cpu = {}, {}
    for name in list(args.variants):
        done = Path(args.out_dir) / name / f"{args.test_split}_metrics.json"
        if args.reuse and done.is_file():
            results[name] = json.loads(done.read_text())
            print(f"{name}: reusing {done}")
    todo = [n for n in args.variants if n not in results]
    if args.jobs > 1:  # each variant in its own process, args.jobs at a time
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        pending, running = list(todo), {}
        while pending or running:
            while pending and len(running) < args.jobs:
                name = pending.pop(0)
                Path(args.out_dir, name).mkdir(parents=True, exist_ok=True)
                log = open(Path(args.out_dir) / f"{name}.log", "w")
                running[name] = (
                    subprocess.Popen(
                        [sys.executable, "-m", "vocalens", *train_argv(name)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    time.perf_counter(),
                )
            time.sleep(2)
            for name, (proc, t0) in list(running.items()):
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # rusage: this child's own CPU time
                if pid:
                    rc = os.waitstatus_to_exitcode(status)
                    if rc:
                        raise SystemExit(
                            f"training {name} failed (exit {rc}); see {Path(args.out_dir) / (name + '.log')}"
                        )
                    seconds[name] = time.perf_counter() - t0
                    cpu[name] = usage.ru_utime + usage.ru_stime
                    del running[name]
    for name in todo:
        run_dir = Path(args.out_dir) / name
        if args.jobs <= 1:
            t0, c0 = time.perf_counter(), time.process_time()
            rc = vocalens(train_argv(name))
            if rc:
                raise SystemExit(f"training {name} failed (exit {rc})")
            seconds[name], cpu[name] = time.perf_counter() - t0, time.process_time() - c0
        results[name] = evaluate(run_dir / "best.pth", args.features_root, args.test_split)
        results[name]["train_seconds"] = seconds[name]
        results[name]["train_cpu_seconds"] = cpu.get(name, float("nan"))
        write_json_atomic(run_dir / f"{args.test_split}_metrics.json", results[name])
        print(name, json.dumps(results[name]["all"]))

    head = (
        ["variant"]
        + [f"{g} {m}" for g in GROUPS for m in ("frame AUC", "frame AP", "video AUC", "AP@0.5")]
        + ["train wall s", "train CPU s"]
    )
    lines = [
        "# Localizer ablations",
        "",
        "`PYTHONPATH=src python experiments/ablation.py "
        + (
            f"--toy {args.toy}"
            if args.toy
            else f"--synth {args.synth}"
            if args.synth
            else f"--features_root {args.features_root}"
        )
        + f" --epochs {args.epochs}"
        + (" -- " + " ".join(extra) if extra else "")
        + "`; metrics on the "
        f"`{args.test_split}` split with each variant's best.pth; a group = real videos + that manipulation type; "
        "train wall/CPU s: the training run incl. per-epoch validation (CPU = user + system time of its process).",
        *([f"Data: {args.data_note}"] if args.data_note else []),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name in args.variants:
        res, cells = results[name], [name]
        for g in GROUPS:
            m = res.get(g, {})
            cells += [fmt(m.get("frame_auc")), fmt(m.get("frame_ap")), fmt(m.get("video_auc")), fmt(m.get("ap@0.5"))]
        cells += [f"{res['train_seconds']:.0f}", f"{res['train_cpu_seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if "full" in results:
        a = results["full"]["all"]
        ok = a.get("frame_auc", 0) >= 0.90 and a.get("video_auc", 0) >= 0.95
        lines += [
            "",
            f"Quality target (full model: frame AUC >= 0.90, video AUC >= 0.95): "
            f"{'met' if ok else 'NOT met'} (frame AUC {fmt(a.get('frame_auc'))}, "
            f"video AUC {fmt(a.get('video_auc'))}).",
        ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
