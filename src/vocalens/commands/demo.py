"""The whole pipeline on built-in defaults, CPU only, no downloads: synthesize a small LAV-DF,
extract features, train the localizer, evaluate, visualize, and detect one synthetic fake and one
real clip. Every stage is the same `vocalens` subcommand a user would run (printed as it runs),
and every stage resumes: run it again after an interruption and finished work is kept.

  vocalens demo                       # ~5 minutes on 2 CPU cores, writes demo_out/
  vocalens demo --num_videos 400 --epochs 40 --output_dir bigger_demo
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

REAL_CLIP_NAMES = ("LipNet__bbaf2n.mpg", "video-retalking__2.mp4")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output_dir", default="demo_out", help="where everything goes (default: demo_out)")
    p.add_argument("--num_videos", type=int, default=600, help="synthetic videos (default 600)")
    p.add_argument("--max_duration", type=float, default=6.0, help="longest synthetic video, s (default 6)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    p.add_argument("--d_model", type=int, default=128, help="localizer width (default 128; the seed's is 512)")
    p.add_argument("--num_layers", type=int, default=2, help="Transformer layers (default 2; the seed's is 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--real_clip",
        default=None,
        help="a real video to run `detect` on (default: a clip from ../shared/data/real-clips if present)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes for synthesis and decoding (default 2)")


def _find_real_clip(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        folder = base.parent / "shared" / "data" / "real-clips"
        if folder.is_dir():
            for name in REAL_CLIP_NAMES:
                if (folder / name).is_file():
                    return folder / name
    return None


def _stage(title: str, argv: list[str]) -> None:
    from vocalens.cli import main
    from vocalens.errors import UserError

    print(f"\n== {title}\n$ vocalens {shlex.join(argv)}", flush=True)
    t = time.time()
    rc = main(argv)
    if rc not in (0, None):
        raise UserError(
            f"demo stage '{title}' failed (exit {rc}); fix the error above and run the demo again "
            "(finished stages are kept)"
        )
    print(f"-- {title}: {time.time() - t:.0f} s", flush=True)


def _first_fake_test_video(data: Path) -> Path | None:
    from vocalens.data.metadata import read_lavdf

    return next((r.path for r in read_lavdf(data, splits=["test"]) if r.fake_periods), None)


def run(args) -> int:
    out = Path(args.output_dir)
    data, feats, ckpt = out / "data", out / "features", out / "checkpoints"
    results, viz, det = out / "results" / "test_results.json", out / "visualizations", out / "detections"
    t0 = time.time()

    if not (data / "metadata.min.json").is_file():
        _stage(
            "1/6 synthesize a LAV-DF-layout dataset",
            [
                "synth",
                "--output_root",
                str(data),
                "--num_videos",
                str(args.num_videos),
                "--seed",
                str(args.seed),
                "--max_duration",
                str(args.max_duration),
                "--workers",
                str(args.workers),
            ],
        )
    else:
        print(f"\n== 1/6 synthesize: {data} exists, kept")
    _stage(
        "2/6 extract features (default encoders, no weights needed)",
        [
            "extract",
            "--dataset_root",
            str(data),
            "--output_root",
            str(feats),
            "--splits",
            "train",
            "dev",
            "test",
            "--face",
            "none",
            "--skip_existing",
            "--num_workers",
            str(args.workers),
        ],
    )
    train_argv = [
        "train",
        "--features_root",
        str(feats),
        "--splits",
        "train",
        "dev",
        "--output_dir",
        str(ckpt),
        "--epochs",
        str(args.epochs),
        "--d_model",
        str(args.d_model),
        "--num_layers",
        str(args.num_layers),
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
        "--seed",
        str(args.seed),
    ]
    if (ckpt / "last.pth").is_file():
        train_argv += ["--resume", str(ckpt / "last.pth")]
    _stage("3/6 train the VOCA-Lens localizer", train_argv)
    _stage(
        "4/6 evaluate on the test split",
        [
            "evaluate",
            "--features_root",
            str(feats),
            "--split",
            "test",
            "--checkpoint",
            str(ckpt / "best.pth"),
            "--output",
            str(results),
        ],
    )
    _stage("5/6 visualize", ["visualize", "--input", str(results), "--output_dir", str(viz), "--max_videos", "12"])
    fake = _first_fake_test_video(data)
    if fake is not None:  # synthetic videos are face crops already, like LAV-DF
        _stage(
            "6/6 detect on a raw synthetic fake (a face crop: --face none)",
            [
                "detect",
                str(fake),
                "--checkpoint",
                str(ckpt / "best.pth"),
                "--output_dir",
                str(det / "synthetic"),
                "--face",
                "none",
                "--plot",
            ],
        )
    real = _find_real_clip(args.real_clip)
    if real is not None:  # a real recording: detect, track and crop the face first
        _stage(
            "6/6 detect on a real clip (face detected and cropped: --face auto)",
            [
                "detect",
                str(real),
                "--checkpoint",
                str(ckpt / "best.pth"),
                "--output_dir",
                str(det / "real"),
                "--face",
                "auto",
                "--plot",
            ],
        )
    else:
        print("\n(no real clip found beside the checkout in ../shared/data/real-clips; pass --real_clip VIDEO)")

    m = json.loads(results.read_text())["metrics"]
    lav = m["temporal"].get("lavdf", {})
    print(f"\n== done in {time.time() - t0:.0f} s")
    print(f"  dataset        {data}")
    print(f"  features       {feats}")
    print(f"  checkpoints    {ckpt} (best.pth, last.pth, TensorBoard: tensorboard --logdir {ckpt})")
    print(f"  results        {results}")
    print(f"  report         {viz / 'index.html'}")
    print(f"  detections     {det}/*/detections.json")
    print("\nheadline (test split):")
    print(
        f"  frame AUC {m['frame']['auc']:.4f}  frame AP {m['frame']['ap']:.4f}  "
        f"video AUC {m['video']['auc']:.4f}  "
        + "  ".join(f"{k} {v:.4f}" for k, v in lav.items() if k in ("AP@0.5", "AP@0.75", "AR@100", "AR@10"))
    )
    return 0
