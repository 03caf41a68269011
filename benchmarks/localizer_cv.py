"""The localizer recipe cross-validated over the train speakers, on features no encoder trained on.

Dev (14 real sources) cannot separate two localizers: a second seed moves its frame AUC more than any
recipe change did. Here every train source is scored by a model that never saw its speaker, with
features from a sync pair that never saw its speaker either: benchmarks/sync_cv.py's fold pairs. For
fold k: the default-model run's train and dev fakes are extracted with fold k's pair; the localizer
recipe trains on the train sources whose speakers are not in fold k (selecting on dev, as the recipe
does), is calibrated on dev (`vocalens calibrate`, the recipe's fusion and video score), and
`vocalens evaluate` scores the held-out sources' real pieces and fakes. The folds' records are
pooled into one table (the real-footage table's columns), by manipulation type.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/localizer_cv.py --sync_cv runs/sync_cv/shipped_recipe \
        --default_model runs/default_model --work_dir runs/localizer_cv \
        --recipe "shipped recipe=" --recipe "20 epochs=--epochs 20" --calibration "top-10=--video_topk 10"

A recipe is LABEL=ARGS added to the shipped `vocalens train` settings (later flags win); a calibration
is LABEL=ARGS added to the shipped `vocalens calibrate` settings; every recipe is scored with every
calibration. Pieces of ../shared/data/real-clips (no speaker labels) are always trained on, never
scored. Everything resumes. Writes benchmarks/results/localizer_cv.md (or --output).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import labelled_args, publish, run_jobs, slug
from vocalens.commands.default_model import CALIBRATE_ARGS, LOCALIZER_ARGS

EPOCHS = 10  # the recipe's (vocalens default-model --epochs)


def clip_stem(piece: str) -> str:
    """A source piece's corpus clip: ``NAME__c03.mp4`` -> ``NAME`` (datagen.corpus.prepare_sources's names)."""
    return re.sub(r"__c\d+$", "", Path(piece).stem)


def source_pieces(folders: list[Path], forge_root: Path) -> dict[str, str]:
    """Feature folder name -> the source piece its video was forged from (the forge set's metadata)."""
    piece_of = {m["file"]: m["source"] for m in json.loads((forge_root / "metadata.json").read_text())}
    return {f.name: piece_of[json.loads((f / "meta.json").read_text())["file"]] for f in folders}


def held_out_folders(features: Path, forge_root: Path, held_stems: set[str]) -> tuple[list[Path], list[Path]]:
    """(train folders, held-out folders) of one fold's train features, by the speaker of each fake's source."""
    folders = sorted(p for p in (features / "train").iterdir() if (p / "meta.json").is_file())
    piece = source_pieces(folders, forge_root)
    keep = [f for f in folders if clip_stem(piece[f.name]) not in held_stems]
    return keep, [f for f in folders if clip_stem(piece[f.name]) in held_stems]


def link_split(folders: list[Path], dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in folders:
        link = dst / f.name
        if not link.is_symlink():
            link.symlink_to(f.resolve())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sync_cv", required=True, help="a recipe folder of benchmarks/sync_cv.py (fold0, fold1, ...)")
    p.add_argument("--default_model", required=True, help="a `vocalens default-model` run (its forge_train, forge_dev)")
    p.add_argument("--work_dir", default="runs/localizer_cv")
    p.add_argument("--recipe", action="append", help="LABEL=ARGS added to the shipped train settings (repeatable)")
    p.add_argument("--calibration", action="append", help="LABEL=ARGS added to the shipped calibrate settings")
    p.add_argument(
        "--pair",
        choices=("chosen", "last"),
        default="chosen",
        help="each fold's sync pair at the epoch sync-train chose (default) or at its last epoch",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="commands at once (one CPU thread each)")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "localizer_cv.md"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    sync_cv, dm, work = Path(args.sync_cv), Path(args.default_model), Path(args.work_dir)
    folds = sorted(sync_cv.glob("fold*/holdout.json"), key=lambda f: int(f.parent.name[4:]))
    specs = [json.loads(f.read_text())["holdout"] for f in folds]
    if not folds or specs != [f"{k}/{len(folds)}" for k in range(len(folds))]:
        raise SystemExit(f"{sync_cv}: needs every fold's holdout.json of one sync_cv.py run, has {specs}")
    recipes = labelled_args(args.recipe, "shipped recipe")
    calibrations = labelled_args(args.calibration, "shipped calibration")

    extract = {}  # 1: every fold's pair extracts the train and dev fakes
    for k, rec in enumerate(folds):
        weights = rec.parent / (
            "sync_encoder.safetensors" if args.pair == "chosen" else "sync_encoder_last.safetensors"
        )
        for part, split in (("train", "train"), ("dev", "dev")):
            extract[str(work / f"fold{k}" / f"extract_{part}")] = [
                *("extract", "--dataset_root", dm / f"forge_{part}", "--output_root", work / f"fold{k}" / "features"),
                *("--splits", split, "--face", "auto", "--visual_encoder", "sync", "--visual_weights", weights),
                *("--audio_encoder", "sync", "--audio_weights", weights, "--skip_existing", "--quiet"),
            ]
    run_jobs(extract, args.jobs, ok=(0, 1))  # 1: a video failed, is listed in failures.jsonl and left out

    held_total = {}
    for k, rec in enumerate(folds):  # 2: train / dev / holdout splits of symlinks per fold
        held_stems = {Path(c).stem for c in json.loads(rec.read_text())["clips"]}
        feats, cv = work / f"fold{k}" / "features", work / f"fold{k}" / "cv"
        keep, held = held_out_folders(feats, dm / "forge_train", held_stems)
        link_split(keep, cv / "train")
        link_split(held, cv / "holdout")
        if not (cv / "dev").is_symlink():
            (cv / "dev").symlink_to((feats / "dev").resolve())
        held_total[k] = (len(keep), len(held))

    train = {}  # 3: each recipe trains once per fold
    for label, extra in recipes:
        for k in range(len(folds)):
            out = work / f"fold{k}" / slug(label)
            if not (out / "last.pth").is_file() or not (out / "done").is_file():
                train[str(out)] = [
                    *("train", "--features_root", work / f"fold{k}" / "cv", "--splits", "train", "dev"),
                    *("--output_dir", out, "--epochs", EPOCHS, "--seed", args.seed, *LOCALIZER_ARGS),
                    *shlex.split(extra),
                    *(["--resume", out / "last.pth"] if (out / "last.pth").is_file() else []),
                ]
    run_jobs(train, args.jobs)
    for name in train:
        (Path(name) / "done").write_text("")

    evaluate = {}  # 4: every recipe x calibration, calibrated on dev, scored on the held-out fold
    for label, _ in recipes:
        for cal, cal_extra in calibrations:
            for k in range(len(folds)):
                run_dir = work / f"fold{k}" / slug(label)
                model, res = run_dir / f"model_{slug(cal)}.pth", run_dir / f"holdout_{slug(cal)}.json"
                if res.is_file():
                    continue
                cv = work / f"fold{k}" / "cv"
                calibrate = [
                    *("calibrate", "--checkpoint", run_dir / "best.pth", "--features_root", cv, "--split", "dev"),
                    *("--output", model, *CALIBRATE_ARGS, *shlex.split(cal_extra)),
                ]
                scored = ["evaluate", "--features_root", cv, "--split", "holdout", "--checkpoint", model]
                evaluate[str(res.with_suffix(""))] = (calibrate, [*scored, "--output", res])
    run_jobs({n: c for n, (c, _) in evaluate.items()}, args.jobs)
    run_jobs({n + "_eval": e for n, (_, e) in evaluate.items()}, args.jobs)

    from vocalens.eval.report import summarize

    lines = [
        "# The localizer recipe cross-validated over the train speakers",
        "",
        f"{len(folds)} speaker folds of the corpus's train clips ({sync_cv}); fold k's held-out sources are scored "
        "by a localizer trained without them, on features of a sync pair trained without them, calibrated on "
        "dev. Pooled over the folds: "
        + ", ".join(f"fold {k}: {n[1]} held-out videos ({n[0]} trained on)" for k, n in held_total.items())
        + ". Real pieces are up to 8 s of a held-out clip; FAKE means at or above its fold's video threshold.",
        "",
        "    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/localizer_cv.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "",
        "| recipe, calibration | material | videos | frame AUC | frame AP | video AUC | AP@0.5 | AP@0.75 | AR@100 "
        "| mean IoU (fakes) | real pieces FAKE |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, extra in recipes:
        for cal, cal_extra in calibrations:
            videos = []
            for k in range(len(folds)):
                res = work / f"fold{k}" / slug(label) / f"holdout_{slug(cal)}.json"
                videos += json.loads(res.read_text())["videos"]
            m = summarize(videos, 0.5)
            reals = [v for v in videos if not v["label"]]
            fake_calls = sum(v["video_prob"] >= v["video_threshold"] for v in reals)
            name = (
                f"{label}"
                + (f" (`{extra}`)" if extra else "")
                + f", {cal}"
                + (f" (`{cal_extra}`)" if cal_extra else "")
            )
            rows = [("all", m)] + [(t, x) for t, x in m["by_manipulation"].items() if t != "real"]
            for t, x in rows:
                lav = x["temporal"]["lavdf"]
                cells = [
                    x["frame"]["auc"],
                    x["frame"]["ap"],
                    x["video"]["auc"],
                    lav.get("AP@0.5"),
                    lav.get("AP@0.75"),
                    lav.get("AR@100"),
                    x["localization"]["iou"]["mean"],
                ]
                lines.append(
                    f"| {name if t == 'all' else ''} | {t} | {x.get('num_videos_of_type', x['num_videos'])} | "
                    + " | ".join("-" if c is None else f"{c:.3f}" for c in cells)
                    + f" | {f'{fake_calls} of {len(reals)}' if t == 'all' else ''} |"
                )
    (label, _), (cal, _) = recipes[0], calibrations[0]
    lines += [
        "",
        f"Per fold, {label}, {cal}: its held-out figures, and its real pieces' video probabilities (FAKE: at or "
        "above the fold's threshold):",
        "",
    ]
    for k in range(len(folds)):
        res = json.loads((work / f"fold{k}" / slug(label) / f"holdout_{slug(cal)}.json").read_text())["videos"]
        held = work / f"fold{k}" / "cv" / "holdout"
        piece = source_pieces([held / v["video_id"] for v in res if not v["label"]], dm / "forge_train")
        calls = [
            f"{piece[v['video_id']]} {v['video_prob']:.3f}"
            + (" **FAKE**" if v["video_prob"] >= v["video_threshold"] else "")
            for v in res
            if not v["label"]
        ]
        m = summarize(res, 0.5)
        lines.append(
            f"- fold {k} (frame AUC {m['frame']['auc']:.3f}, video AUC {m['video']['auc']:.3f}; threshold "
            f"{res[0]['video_threshold']:.3f}): " + "; ".join(calls)
        )
    lines += ["", f"({time.perf_counter() - t0:.0f} s for the steps run this time, {args.jobs} at a time.)"]
    publish(lines, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
