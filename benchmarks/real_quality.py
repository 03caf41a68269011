"""Real-footage quality on the corpus's TEST speakers (never trained, tuned or calibrated on).

Three kinds of test material, reported apart:
  forge   partial fakes of the test speakers' clips by `vocalens forge` (the training recipe's kind)
  splice  partial fakes by `vocalens splice`, the independent evaluation-only recipe (hard cuts, TTS,
          another person's mouth, time-stretched audio): numbers here do not reward forge's own traces
  real    the 15 whole real test recordings through `vocalens detect`: how many are called FAKE

  python benchmarks/real_quality.py --corpus ../shared/data/real-corpus \\
      --checkpoint runs/default_model/default_localizer.pth          # or no --checkpoint: the shipped one
  ... --baseline demo_out/checkpoints/best.pth                        # a second model, same material

Stages resume (test sources, fakes and features are kept under --work_dir). Writes
benchmarks/results/real_quality.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import publish  # noqa: E402
from vocalens.cli import main as vocalens  # noqa: E402

RECIPES = {"forge": 3, "splice": 2}  # fakes per test source


def run(argv: list[str]) -> None:
    print("$ vocalens " + " ".join(argv), flush=True)
    rc = vocalens(argv)
    if rc not in (0, None, 1):  # 1 = some files failed and were reported
        raise SystemExit(f"vocalens {argv[0]} failed (exit {rc})")


def file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weight_args(weights: str | None) -> list[str]:
    """--visual_weights/--audio_weights for encoder weights that are not the shipped ones (e.g. a sync-train run)."""
    return ["--visual_weights", weights, "--audio_weights", weights] if weights else []


def encoder_args(checkpoint: Path, weights: str | None) -> list[str]:
    """extract flags that rebuild the encoders the checkpoint's features came from."""
    from vocalens.train import checkpoint as ckpt_io

    task = ckpt_io.load(checkpoint)["task"]
    args = []
    for kind in ("visual", "audio"):
        enc = task[f"{kind}_encoder"]
        args += [f"--{kind}_encoder", enc["name"]]
        if enc.get("weights") and not weights:
            args += [f"--{kind}_weights", str(enc["weights"])]
    return args + weight_args(weights)


def make_material(corpus: str, work: Path) -> dict[str, Path]:
    from vocalens.datagen.corpus import prepare_sources, read_corpus

    s = prepare_sources(corpus, work / "sources", splits=("test",))
    print(f"test sources: {s.counts}", flush=True)
    roots = {}
    for recipe, n in RECIPES.items():
        root = work / recipe
        if not (root / "metadata.min.json").is_file():
            if recipe == "forge":
                run(
                    [
                        "forge",
                        "--videos",
                        str(work / "sources" / "test"),
                        "--output_root",
                        str(root),
                        "--split_ratios",
                        "0",
                        "0",
                        "1",
                        "--fakes_per_video",
                        str(n),
                        "--seed",
                        "2",
                        "--face_detector",
                        "auto",
                        "--no_progress",
                    ]
                )
            else:
                run(
                    [
                        "splice",
                        str(work / "sources" / "test"),
                        "--output_root",
                        str(root),
                        "--split",
                        "test",
                        "--fakes_per_video",
                        str(n),
                        "--seed",
                        "3",
                        "--face_detector",
                        "auto",
                        "--speakers",
                        str(Path(corpus) / "clips.tsv"),
                        "--no_progress",
                    ]
                )
        roots[recipe] = root
    roots["real"] = [c.path for c in read_corpus(corpus, ("test",))]
    return roots


def measure(checkpoint: Path, material: dict, work: Path, tag: str, weights: str | None = None) -> dict:
    res = {}
    enc = encoder_args(checkpoint, weights)
    from vocalens.train import checkpoint as ckpt_io

    task = ckpt_io.load(checkpoint)["task"]  # the recorded encoder configs carry the sync weights' digest
    key = hashlib.sha1(
        json.dumps(
            [
                enc,
                task.get("visual_encoder"),
                task.get("audio_encoder"),
                [file_digest(w) for w in enc if Path(w).is_file()],
            ],
            default=str,
        ).encode()
    )
    key = key.hexdigest()[:10]
    for recipe in RECIPES:
        feats = work / f"features_{recipe}_{key}"  # one store per encoder setting, shared by models that use it
        run(
            [
                "extract",
                "--dataset_root",
                str(material[recipe]),
                "--output_root",
                str(feats),
                "--splits",
                "test",
                "--face",
                "auto",
                "--skip_existing",
                "--quiet",
                *enc,
            ]
        )
        out = work / f"results_{tag}_{recipe}.json"
        run(
            [
                "evaluate",
                "--features_root",
                str(feats),
                "--split",
                "test",
                "--checkpoint",
                str(checkpoint),
                "--output",
                str(out),
            ]
        )
        res[recipe] = json.loads(out.read_text())["metrics"]
    det = work / f"detect_{tag}"
    run(
        [
            "detect",
            *map(str, material["real"]),
            "--checkpoint",
            str(checkpoint),
            "--output_dir",
            str(det),
            *weight_args(weights),
        ]
    )
    answers = [r for r in json.loads((det / "detections.json").read_text()) if "verdict" in r]
    res["real"] = {v: sum(r["verdict"] == v for r in answers) for v in ("REAL", "UNCERTAIN", "FAKE")}
    res["real"]["answered"] = len(answers)
    res["real"]["of"] = len(material["real"])
    return res


def fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def table(name: str, res: dict) -> list[str]:
    lines = [
        f"### {name}",
        "",
        "| test material | videos | frame AUC | frame AP | video AUC | AP@0.5 | AP@0.75 | AP@0.95 | AR@100 "
        "| mean IoU (fakes) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for recipe in RECIPES:
        m = res[recipe]
        rows = [("all", m)] + [(k, v) for k, v in m.get("by_manipulation", {}).items() if k != "real"]
        for sub, mm in rows:
            lav = mm["temporal"]["lavdf"]
            lines.append(
                f"| {recipe} {sub} | {mm.get('num_videos_of_type', mm['num_videos'])} | "
                f"{fmt(mm['frame']['auc'])} | {fmt(mm['frame']['ap'])} | {fmt(mm['video']['auc'])} | "
                f"{fmt(lav.get('AP@0.5'))} | {fmt(lav.get('AP@0.75'))} | {fmt(lav.get('AP@0.95'))} | "
                f"{fmt(lav.get('AR@100'))} | "
                f"{fmt(mm['localization']['iou']['mean'])} |"
            )
    r = res["real"]
    lines += [
        "",
        f"Real test recordings (whole clips, `vocalens detect`): {r['FAKE']} of {r['answered']} called FAKE, "
        f"{r['UNCERTAIN']} UNCERTAIN, {r['REAL']} REAL ({r['of'] - r['answered']} could not be answered).",
        "",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/data/real-corpus")
    ap.add_argument("--checkpoint", default=None, help="localizer checkpoint (default: the shipped model)")
    ap.add_argument(
        "--baseline", action="append", default=[], help="another checkpoint on the same material (repeatable)"
    )
    ap.add_argument(
        "--weights",
        default=None,
        help="encoder weights of --checkpoint when they are not the shipped ones (a sync-train run's file)",
    )
    ap.add_argument("--baseline_weights", default=None, help="the same for every --baseline")
    ap.add_argument("--note", default=None, help="a line printed under the command (e.g. where --baseline came from)")
    ap.add_argument("--work_dir", default="runs/real_quality")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "real_quality.md"))
    args = ap.parse_args()
    from vocalens.assets import default_localizer
    from vocalens.datagen.splice import espeak_binary

    if espeak_binary() is None:  # without it splice makes no tts fakes: other test material, other numbers
        raise SystemExit(
            "real_quality.py: espeak-ng not found (apt-get install espeak-ng): the splice recipe's tts fakes need it"
        )
    ckpt = Path(args.checkpoint) if args.checkpoint else default_localizer()
    if ckpt is not None and not args.checkpoint and ckpt.is_relative_to(Path.cwd()):
        ckpt = ckpt.relative_to(Path.cwd())  # the shipped model, named as the repository does
    if ckpt is None:
        raise SystemExit("no --checkpoint and no shipped default model")
    work = Path(args.work_dir)
    t0 = time.time()
    material = make_material(args.corpus, work)
    models = [("model", ckpt, args.weights)] + [
        (f"baseline{i + 1}" if len(args.baseline) > 1 else "baseline", Path(b), args.baseline_weights)
        for i, b in enumerate(args.baseline)
    ]
    lines = [
        "# Real-footage quality: the corpus's test speakers (never trained, tuned or calibrated on)",
        "",
        f"`python benchmarks/real_quality.py --corpus {args.corpus} --checkpoint {ckpt}"
        + (f" --weights {args.weights}" if args.weights else "")
        + "".join(f" --baseline {b}" for b in args.baseline)
        + (f" --baseline_weights {args.baseline_weights}" if args.baseline_weights else "")
        + "`",
        "",
        *([args.note, ""] if args.note else []),
        "Each fake type is scored together with the real copies of the same sources (AUCs need both).",
        "",
    ]
    for tag, path, weights in models:
        lines += table(f"{tag}: `{path}`", measure(path, material, work, tag, weights))
    lines.append(f"({time.time() - t0:.0f} s)")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
