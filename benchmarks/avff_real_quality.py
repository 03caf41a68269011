"""AVFF on real footage: stage 1 on real train-speaker recordings, stage 2 on `vocalens forge` partial
fakes of the train speakers (dev speakers pick the checkpoint), reported on the TEST speakers only.

    python benchmarks/avff_real_quality.py --corpus ../shared/data/real-corpus --work runs/avff_real_quality

Test material, reported apart (the same as benchmarks/real_quality.py measures the localizer on):
  forge   partial fakes of the test speakers' source pieces by `vocalens forge` (the training recipe)
  splice  partial fakes of the 15 whole test recordings by `vocalens splice`, the evaluation-only recipe
          (TTS, another speaker, time-stretch, a pasted lower face, both): other artefacts than forge's
  real    the 15 whole real test recordings through `vocalens avff detect`: how many are called FAKE

Data (built under --work when not given, else reused as given):
  --sources   `vocalens.datagen.corpus.prepare_sources` pieces of the corpus (+ --real_clips as train)
  --forge_train/--forge_dev/--forge_test   `vocalens forge` of sources/{train,dev,test}
  --splice_test                            `vocalens splice` of the whole test recordings
Stage 1 reads the train pieces, each listed ceil(duration / clip span) times so every second of
footage is drawn equally often, plus real-corpus/short (1.2 s word clips, train-only; a clip is
1.28 s, so they are padded by their last frame; --no_short leaves them out); the dev pieces validate.
Stage 2 (with and without stage 1, same seed and settings) trains on forge_train and picks best.pth
by video AUC on forge_dev. Test speakers are never trained, tuned or thresholded on: the verdict
threshold for `detect` is the checkpoint's (0.5), and a second one is picked on forge_dev (Youden's J).
Runs resume (a finished run leaves DONE in its folder). Writes benchmarks/results/avff_real_quality.md.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _avff_runs import evaluate_argv, pretrain_argv, train_argv, train_seconds
from _common import publish, run_jobs, vocalens_cmd

ROOT = Path(__file__).resolve().parents[1]
SPAN_S = 1.28  # the `small` preset's clip: 16 frames every 2nd frame of 25 fps


def log(msg: str) -> None:
    print(msg, flush=True)


def call(argv) -> None:
    """One vocalens command in a child process (its own torch state; the parent only orchestrates)."""
    cmd = vocalens_cmd(argv)
    log("$ vocalens " + " ".join(cmd[3:]))
    rc = subprocess.call(cmd)
    if rc not in (0, 1):  # 1 = some videos failed, were reported and left out (vocalens.errors.batch_exit)
        raise SystemExit(f"failed ({rc}): vocalens {' '.join(cmd[3:])}")


def duration(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        if c.duration is not None:
            return c.duration / 1e6
        s = c.streams.video[0]
        return float(s.frames / s.average_rate) if s.frames else 0.0


def write_meta(root: Path, entries: list[dict]) -> None:
    from vocalens.fileio import write_json_atomic

    write_json_atomic(root / "metadata.json", entries)


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(src.resolve())


def real_entry(file: str, split: str) -> dict:
    return {
        "file": file,
        "split": split,
        "n_fakes": 0,
        "fake_periods": [],
        "modify_video": False,
        "modify_audio": False,
    }


def build_ssl_root(sources: Path, short: Path | None, out: Path) -> dict:
    """LAV-DF-layout real-only set for stage 1: train = train pieces (repeated by length) + short clips,
    dev = dev pieces. Symlinks, so the decode cache (keyed by the resolved path) is shared."""
    entries, counts = [], {"train pieces": 0, "train draws of pieces": 0, "short clips": 0, "dev pieces": 0}
    for p in sorted((sources / "train").glob("*.mp4")):
        reps = max(1, math.ceil(duration(p) / SPAN_S))
        counts["train pieces"] += 1
        for k in range(reps):
            f = f"train/{p.stem}__r{k}.mp4"
            link(p, out / f)
            entries.append(real_entry(f, "train"))
            counts["train draws of pieces"] += 1
    if short is not None:
        for p in sorted(short.glob("*.mp4")):
            f = f"train/short__{p.stem}.mp4"
            link(p, out / f)
            entries.append(real_entry(f, "train"))
            counts["short clips"] += 1
    for p in sorted((sources / "dev").glob("*.mp4")):
        f = f"dev/{p.stem}.mp4"
        link(p, out / f)
        entries.append(real_entry(f, "dev"))
        counts["dev pieces"] += 1
    write_meta(out, entries)
    return counts


def build_cls_root(forge_train: Path, forge_dev: Path, out: Path) -> None:
    """One LAV-DF-layout root holding forge_train's train split and forge_dev's dev split (symlinks)."""
    entries = []
    for root, split in ((forge_train, "train"), (forge_dev, "dev")):
        for it in json.loads((root / "metadata.json").read_text()):
            if it.get("split", Path(it["file"]).parts[0]) != split:
                continue
            link(root / it["file"], out / it["file"])
            entries.append(it)
    write_meta(out, entries)


def make_material(args, work: Path) -> dict[str, Path]:
    from vocalens.datagen.corpus import prepare_sources, read_corpus

    sources = Path(args.sources) if args.sources else work / "sources"
    if not args.sources:
        extra = [("train", args.real_clips)] if args.real_clips and Path(args.real_clips).is_dir() else []
        s = prepare_sources(args.corpus, sources, splits=("train", "dev", "test"), extra=extra, progress=False)
        log(f"sources: {s.counts}")
    roots = {"sources": sources}
    forge = {
        "forge_train": ("train", (1, 0, 0), 6, 0),
        "forge_dev": ("dev", (0, 1, 0), 4, 1),
        "forge_test": ("test", (0, 0, 1), 3, 2),
    }
    for key, (split, ratios, n, seed) in forge.items():
        given = getattr(args, key)
        root = Path(given) if given else work / key
        if not given and not (root / "metadata.min.json").is_file():
            call(
                [
                    "forge",
                    "--videos",
                    sources / split,
                    "--output_root",
                    root,
                    "--split_ratios",
                    *ratios,
                    "--fakes_per_video",
                    n,
                    "--seed",
                    seed,
                    "--face_detector",
                    "auto",
                    "--no_progress",
                ]
            )
        roots[key] = root
    real = [c.path for c in read_corpus(args.corpus, ("test",))]
    splice = Path(args.splice_test) if args.splice_test else work / "splice_test"
    if not args.splice_test and not (splice / "metadata.min.json").is_file():
        src = work / "splice_src"
        for p in real:
            link(p, src / p.name)
        call(
            [
                "splice",
                src,
                "--output_root",
                splice,
                "--split",
                "test",
                "--fakes_per_video",
                2,
                "--seed",
                0,
                "--speakers",
                Path(args.corpus) / "clips.tsv",
                "--no_progress",
            ]
        )
    roots["splice_test"] = splice
    roots["real"] = real
    return roots


def epochs_log(run: Path, key: str) -> list[float]:
    f = run / "metrics.jsonl"
    if not f.is_file():
        return []
    recs = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return [r[key] for r in recs if isinstance(r.get(key), (int, float))]


def resume_args(run: Path) -> list:
    return ["--resume", run] if (run / "last.pth").is_file() else []


def youden_threshold(labels, scores) -> float:
    """The score threshold maximising TPR - FPR (ties: the higher threshold); chosen on dev only."""
    import numpy as np
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(np.asarray(labels), np.asarray(scores))
    j = tpr - fpr
    i = int(np.flatnonzero(j == j.max())[0])
    return float(min(thr[i], 1.0))


def by_kind(eval_json: Path, meta_root: Path, threshold: float) -> dict:
    """Metrics per the dataset's own `manipulation` field (splice: tts / other_speaker / ...), from
    the per-video scores evaluate wrote."""
    from vocalens.avff.predict import metrics_by_manipulation

    kinds = {
        Path(it["file"]).stem: it.get("manipulation", "unknown")
        for it in json.loads((meta_root / "metadata.json").read_text())
    }
    vids = json.loads(eval_json.read_text())["videos"]
    return metrics_by_manipulation(
        [v["label"] for v in vids],
        [v["score"] for v in vids],
        [kinds.get(Path(v["path"]).stem, "unknown") for v in vids],
        threshold,
    )


def fmt(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "real-corpus"))
    ap.add_argument(
        "--real_clips",
        default=str(ROOT.parent / "shared" / "data" / "real-clips"),
        help="extra real train footage for the sources (when --sources is not given)",
    )
    ap.add_argument("--sources", help="prepare_sources output with train/ dev/ test/ (default: built in --work)")
    ap.add_argument("--forge_train", help="forge set of sources/train (split train)")
    ap.add_argument("--forge_dev", help="forge set of sources/dev (split dev)")
    ap.add_argument("--forge_test", help="forge set of sources/test (split test)")
    ap.add_argument("--splice_test", help="splice set of the whole test recordings (split test)")
    ap.add_argument("--no_short", action="store_true", help="stage 1 without real-corpus/short")
    ap.add_argument("--work", default="runs/avff_real_quality")
    ap.add_argument("--ssl_epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=3, help="stage-2 epochs (both runs)")
    ap.add_argument(
        "--ssl_more_epochs",
        type=int,
        default=0,
        help="also continue stage 1 for N more epochs (--init from the first) and run stage 2 from it",
    )
    ap.add_argument("--ssl_clips_per_video", type=int, default=1)
    ap.add_argument("--clips_per_video", type=int, default=4, help="stage-2 random clips per video per epoch")
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--ssl_lr", type=float, default=5e-4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--no_scratch", action="store_true", help="skip the stage-2 run without stage 1")
    ap.add_argument("--sequential", action="store_true", help="the two stage-2 runs one after the other")
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "avff_real_quality.md"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    t0 = time.time()
    m = make_material(args, work)

    short = None if args.no_short else Path(args.corpus) / "short"
    ssl_data, cls_data = work / "ssl_data", work / "cls_data"
    counts = build_ssl_root(m["sources"], short if short and short.is_dir() else None, ssl_data)
    log(f"stage-1 set: {counts}")
    build_cls_root(m["forge_train"], m["forge_dev"], cls_data)

    base = [
        "--preset",
        "small",
        "--batch_size",
        args.batch_size,
        "--num_workers",
        0,
        "--cache_dir",
        cache,
        "--seed",
        1,
        "--faces",
        "auto",
        "--no_progress",
    ]
    ssl = work / "ssl"
    if not (ssl / "DONE").is_file():
        call(
            pretrain_argv(
                ssl_data, ssl, args.ssl_epochs, args.ssl_lr, 1.0, args.ssl_clips_per_video, *resume_args(ssl), *base
            )
        )
        (ssl / "DONE").write_text("")
    ssl_runs = [("stage 1", ssl)]
    if args.ssl_more_epochs:
        more = work / "ssl_more"
        if not (more / "DONE").is_file():
            call(
                pretrain_argv(
                    ssl_data,
                    more,
                    args.ssl_more_epochs,
                    args.ssl_lr,
                    1.0,
                    args.ssl_clips_per_video,
                    *("--init", ssl / "best.pth"),
                    *resume_args(more),
                    *base,
                )
            )
            (more / "DONE").write_text("")
        ssl_runs.append((f"stage 1 continued {args.ssl_more_epochs} epochs", more))
    stage2 = [
        *("--shift_fakes", 0.3, "--label_fraction", 0.25, "--clips_per_video", args.clips_per_video),
        *("--warmup_epochs", 0.5, *base),
    ]
    runs = {"with stage 1": (work / "cls_pretrained", ["--pretrained", ssl / "best.pth", "--encoder_lr_scale", 0.1])}
    if args.ssl_more_epochs:
        runs[f"with stage 1 x {args.ssl_epochs}+{args.ssl_more_epochs}"] = (
            work / "cls_pretrained_more",
            ["--pretrained", work / "ssl_more" / "best.pth", "--encoder_lr_scale", 0.1],
        )
    if not args.no_scratch:
        runs["without stage 1"] = (work / "cls_scratch", [])
    todo = {
        str(run): train_argv(cls_data, run, args.epochs, args.lr, *stage2, *extra, *resume_args(run))
        for run, extra in runs.values()
        if not (run / "DONE").is_file()
    }
    if args.sequential or len(todo) < 2:
        for run, argv in todo.items():
            call(argv)
            (Path(run) / "DONE").write_text("")
    else:
        run_jobs(todo, len(todo))  # all at once
        for run in todo:
            (Path(run) / "DONE").write_text("")

    results = {}
    for name, (run, _) in runs.items():
        ck = run / "best.pth"
        res = {"run": run, "dev_auc": epochs_log(run, "val_video_auc"), "time_s": train_seconds(run)}
        dev = run / "eval_dev.json"
        if not dev.is_file():
            call(evaluate_argv(ck, cls_data, "dev", dev, cache, "--faces", "auto"))
        d = json.loads(dev.read_text())
        res["threshold"] = d["threshold"]
        res["dev_threshold"] = youden_threshold([v["label"] for v in d["videos"]], [v["score"] for v in d["videos"]])
        for recipe, root in (("forge", m["forge_test"]), ("splice", m["splice_test"])):
            out = run / f"eval_test_{recipe}.json"
            if not out.is_file():
                call(evaluate_argv(ck, root, "test", out, cache, "--faces", "auto"))
            res[recipe] = json.loads(out.read_text())["metrics"]
            if recipe == "splice":
                res["splice_kinds"] = by_kind(out, root, res["threshold"])
        det = run / "detect_real_test"
        if not all((det / f"{p.stem}.avff.json").is_file() for p in m["real"]):
            call(
                ["avff", "detect", *m["real"], "--checkpoint", ck, "--output_dir", det, "--faces", "auto", "--no_plot"]
            )
        scores = {
            p.name: json.loads((det / f"{p.stem}.avff.json").read_text())["video_score"]
            for p in m["real"]
            if (det / f"{p.stem}.avff.json").is_file()
        }
        res["real_scores"] = scores
        results[name] = res

    lines = [
        "# AVFF on real footage: test speakers only (never trained, tuned or thresholded on)",
        "",
        "`python benchmarks/avff_real_quality.py " + " ".join(sys.argv[1:]) + "`",
        "",
        (
            f"Preset `small`, CPU, 1 thread (`nice -n 19`). Stage 1: {counts['train pieces']} real train pieces "
            f"(drawn {counts['train draws of pieces']} times per epoch, by length) + {counts['short clips']} "
            f"real-corpus/short word clips, {args.ssl_clips_per_video} clip per entry per epoch, "
            f"{args.ssl_epochs} epochs; validated on {counts['dev pieces']} dev pieces. Stage 2: forge fakes of the "
            f"train speakers ({m['forge_train']}), {args.epochs} epochs x {args.clips_per_video} clips per video, "
            f"shift_fakes 0.3, soft targets 0.25; best.pth by video AUC on forge fakes of the dev speakers "
            f"({m['forge_dev']}). Video score = max over 1.28 s clips. Each fake type is scored against all the "
            "real videos of the same set."
        ),
        "",
        "| test material | subset | videos | fakes | " + " | ".join(f"AUC {n}" for n in results) + " |",
        "|---|---|---|---|" + "---|" * len(results),
    ]
    first = next(iter(results.values()))
    for recipe, key in (("forge", "forge"), ("splice", "splice"), ("splice by kind", "splice_kinds")):
        for sub, mm in first[key].items():
            if key == "splice_kinds" and sub == "all":
                continue
            lines.append(
                f"| {recipe} | {sub} | {mm['n']} | {mm['n_fake']} | "
                + " | ".join(fmt(r[key][sub]["auc"]) for r in results.values())
                + " |"
            )
    lines += [
        "",
        (
            "| model | dev video AUC per epoch | training time (s) | dev threshold (Youden) | "
            "real test recordings called FAKE at 0.5 | ... at the dev threshold | AP forge / splice |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = list(r["real_scores"].values())
        lines.append(
            f"| {name} | {', '.join(fmt(x) for x in r['dev_auc'])} | {r['time_s']:.0f} | "
            f"{r['dev_threshold']:.3f} | {sum(x >= r['threshold'] for x in s)} of {len(s)} | "
            f"{sum(x >= r['dev_threshold'] for x in s)} of {len(s)} | "
            f"{fmt(r['forge']['all']['ap'])} / {fmt(r['splice']['all']['ap'])} |"
        )
    lines += [
        "",
        "Real test recordings, video score per model:",
        "",
        "| recording | " + " | ".join(results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for rec in first["real_scores"]:
        lines.append(f"| {rec} | " + " | ".join(fmt(r["real_scores"].get(rec)) for r in results.values()) + " |")
    for name, run in ssl_runs:
        lines += [
            "",
            (
                f"{name.capitalize()}: validation `sync_acc` per epoch (dev pieces, chance 0.5): "
                f"{', '.join(fmt(x) for x in epochs_log(run, 'val_sync_acc'))}; masked reconstruction loss "
                f"{', '.join(fmt(x) for x in epochs_log(run, 'val_rec'))}; {train_seconds(run):.0f} s."
            ),
        ]
    lines.append(f"\n({time.time() - t0:.0f} s this invocation; reused runs are not redone)")
    publish(lines, args.output)


if __name__ == "__main__":
    main()
