"""The whole pipeline on built-in defaults, CPU only, no downloads: synthesize a small LAV-DF,
extract features, train the localizer, evaluate, visualize, and detect one synthetic fake and one
real clip; then the shipped default model (trained on real recordings) answers real clips of
speakers it has never seen, and one partial fake made of one of them. Every stage is the same
`vocalens` subcommand a user would run (printed as it runs), and every stage resumes: run it again
after an interruption and finished work is kept.

  vocalens demo                       # ~5 minutes on 2 CPU cores, writes demo_out/
  vocalens demo --num_videos 400 --epochs 40 --output_dir bigger_demo
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

# torch's CPU reductions (matrix products, sums) split work by thread and add the parts in another order
# with another thread count; torch's default is the machine's core count, so the demo pins one number
DEMO_THREADS = 2
REAL_CLIP_NAMES = ("LipNet__bbaf2n.mpg", "video-retalking__2.mp4")
# real recordings of the corpus's TEST speakers (never trained, tuned or calibrated on), answered by the
# shipped default model at the end of the demo, plus one partial fake the independent recipe makes of one
# (its own audio time-stretched out of sync: the one splice type that needs no second speaker)
TEST_SPEAKER_CLIPS = (
    "AP0827__LAALM__test_set_sample5.mp4",
    "filby89__spectre__samples_MEAD_W040_level_3_happy_029.mp4",
    "yerfor__MimicTalk__data_raw_examples_Trump_10s.mp4",
)


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
    p.add_argument(
        "--threads",
        type=int,
        default=DEMO_THREADS,
        help=f"torch CPU threads for every stage (default {DEMO_THREADS}, whatever the machine: float sums "
        "depend on the thread count, so the same count gives the same numbers)",
    )


def _shared_folder(*parts: str) -> Path | None:
    """../shared/data/<parts> beside the checkout (or beside any parent of this file), if present."""
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        folder = base.parent.joinpath("shared", "data", *parts)
        if folder.is_dir():
            return folder
    return None


def _find_real_clip(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    folder = _shared_folder("real-clips")
    return next((folder / n for n in REAL_CLIP_NAMES if (folder / n).is_file()), None) if folder else None


def _test_speaker_clips() -> list[Path]:
    folder = _shared_folder("real-corpus", "clips")
    return [folder / n for n in TEST_SPEAKER_CLIPS if (folder / n).is_file()] if folder else []


def _real_footage_stage(out: Path, seed: int) -> None:
    """Real recordings of unseen speakers, and one spliced fake of the first, through the shipped model."""
    from vocalens.assets import default_localizer

    clips = _test_speaker_clips()
    if default_localizer() is None or not clips:
        print("\n(no shipped default model or no ../shared/data/real-corpus: real-footage stage skipped)")
        return
    src = out / "real_footage" / "source"
    src.mkdir(parents=True, exist_ok=True)
    link = src / clips[0].name
    if not link.exists():
        link.symlink_to(clips[0])
    spliced = out / "real_footage" / "spliced"
    if not (spliced / "metadata.min.json").is_file():
        _stage(
            "7/7 make one partial fake of a test speaker's clip (independent recipe)",
            [
                "splice",
                str(src),
                "--output_root",
                str(spliced),
                "--split",
                "test",
                "--fakes_per_video",
                "1",
                "--types",
                "stretch",
                "--seed",
                str(seed),
                "--no_progress",
            ],
        )
    fakes = sorted((spliced / "test").glob("*.mp4"))[1:]  # [0] is the real copy
    _stage(
        "7/7 detect on real recordings of unseen speakers + that fake, with the shipped default model",
        [
            "detect",
            *map(str, clips),
            *map(str, fakes),
            "--output_dir",
            str(out / "detections" / "real_footage"),
            "--plot",
        ],
    )


def _stage(title: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> None:
    """Run one `vocalens` command; an exit status outside ``ok`` stops the run (1 = some files failed)."""
    from vocalens.cli import main
    from vocalens.errors import UserError

    print(f"\n== {title}\n$ vocalens {shlex.join(argv)}", flush=True)
    t = time.time()
    rc = main(argv)
    if (rc or 0) not in ok:
        raise UserError(
            f"demo stage '{title}' failed (exit {rc}); fix the error above and run the demo again "
            "(finished stages are kept)"
        )
    print(f"-- {title}: {time.time() - t:.0f} s", flush=True)


def localizer_train_argv(feats: Path, output_dir: Path, epochs: int, settings: list[str]) -> list[str]:
    """`vocalens train` on the train and dev splits of ``feats``, resuming from ``output_dir``/last.pth if a
    killed run left one (the demo and default-model both train this way)."""
    argv = ["train", "--features_root", str(feats), "--splits", "train", "dev", "--output_dir", str(output_dir)]
    argv += ["--epochs", str(epochs), *settings]
    if (output_dir / "last.pth").is_file():
        argv += ["--resume", str(output_dir / "last.pth")]
    return argv


def _first_fake_test_video(data: Path) -> Path | None:
    from vocalens.data.metadata import read_lavdf

    return next((r.path for r in read_lavdf(data, splits=["test"]) if r.fake_periods), None)


def run(args) -> int:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, args.threads))  # every stage runs in this process (see DEMO_THREADS)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(before)


def _run(args) -> int:
    out = Path(args.output_dir)
    data, feats, ckpt = out / "data", out / "features", out / "checkpoints"
    results, viz, det = out / "results" / "test_results.json", out / "visualizations", out / "detections"
    t0 = time.time()

    if not (data / "metadata.min.json").is_file():
        _stage(
            "1/7 synthesize a LAV-DF-layout dataset",
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
        print(f"\n== 1/7 synthesize: {data} exists, kept")
    _stage(
        "2/7 extract features (default encoders, no weights needed)",
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
    settings = ["--d_model", str(args.d_model), "--num_layers", str(args.num_layers), "--nhead", "4"]
    settings += ["--batch_size", "8", "--lr", "1e-3", "--warmup_epochs", "1", "--max_frames", "256"]
    train_argv = localizer_train_argv(feats, ckpt, args.epochs, [*settings, "--seed", str(args.seed)])
    _stage("3/7 train the VOCA-Lens localizer", train_argv)
    _stage(
        "4/7 evaluate on the test split",
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
    _stage("5/7 visualize", ["visualize", "--input", str(results), "--output_dir", str(viz), "--max_videos", "12"])
    fake = _first_fake_test_video(data)
    if fake is not None:  # synthetic videos are face crops already, like LAV-DF
        _stage(
            "6/7 detect on a raw synthetic fake (a face crop: --face none)",
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
            "6/7 detect on a real clip (face detected and cropped: --face auto)",
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

    _real_footage_stage(out, args.seed)

    m = json.loads(results.read_text())["metrics"]
    lav = m["temporal"].get("lavdf", {})
    print(f"\n== done in {time.time() - t0:.0f} s")
    print(f"  dataset        {data}")
    print(f"  features       {feats}")
    print(f"  checkpoints    {ckpt} (best.pth, last.pth, TensorBoard: tensorboard --logdir {ckpt})")
    print(f"  results        {results}")
    print(f"  report         {viz / 'index.html'}")
    print(f"  detections     {det}/*/detections.json")
    print(f"\nheadline (test split) -- segments and AP/AR from the {m.get('proposals_from', 'frame probabilities')}:")
    print(
        f"  frame AUC {m['frame']['auc']:.4f}  frame AP {m['frame']['ap']:.4f}  "
        f"video AUC {m['video']['auc']:.4f}  "
        + "  ".join(f"{k} {v:.4f}" for k, v in lav.items() if k in ("AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@10"))
    )
    return 0
