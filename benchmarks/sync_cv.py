"""How well does a sync-train recipe find the audio offset of people it never trained on? Cross-validated.

The dev split (5 clips, 65 % of whose windows are one clip) cannot tell two sync pairs apart, and the test
speakers may not be used to choose. So the corpus's 28 train clips are dealt by speaker into --folds folds
(vocalens.sync.cache.speaker_folds); for each fold, `vocalens sync-train --holdout I/K` trains the recipe
without that fold's speakers (short/ and --extra are always trained on), picks its epoch on dev as the
recipe does, and scores the held-out clips with the offset benchmark of sync-train's validation (1 s
windows, +-15 frames, the cached crops). Every train clip is scored once, by a pair that never saw its
speaker: 28 clips and their windows instead of dev's 5.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sync_cv.py --corpus ../shared/data/real-corpus \
        --extra ../shared/data/real-clips --cache runs/sync/cache.npz --work_dir runs/sync_cv \
        --recipe "shipped recipe=" --recipe "8 epochs=--epochs 8"

A recipe is LABEL=ARGS: ARGS added to the shipped sync recipe (vocalens.commands.default_model's SYNC_ARGS
and short/'s realignment); later flags win. Folds resume: a fold with its holdout.json is not retrained.
Writes benchmarks/results/sync_cv.md (or --output).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import labelled_args, publish, run_jobs, slug
from vocalens.commands.default_model import SHORT_LAG_HOPS, SYNC_ARGS


def recipe_argv(args, extra: str, out: Path, fold: int) -> list[str]:
    return [
        *("sync-train", "--corpus", args.corpus, "--extra", *args.extra, "--cache", args.cache),
        *("--output_dir", out, "--holdout", f"{fold}/{args.folds}", "--seed", args.seed, "--no_progress"),
        *(SYNC_ARGS + ["--shift", f"short={SHORT_LAG_HOPS}"]),
        *shlex.split(extra),
    ]


def export_last(run: Path) -> Path:
    """OUTPUT/sync_encoder_last.safetensors: the fold's pair at its last epoch (localizer_cv.py --pair last)."""
    out = run / "sync_encoder_last.safetensors"
    if not out.is_file():
        from vocalens.sync.model import SyncConfig, SyncNet
        from vocalens.sync.weights import load_weights, save_weights
        from vocalens.train import checkpoint as ckpt_io

        state = ckpt_io.load(run / "last.pth")
        model = SyncNet(SyncConfig.from_dict(state["task"]["sync_config"]))
        model.load_state_dict(state["model"])
        info = dict(load_weights(str(run / "sync_encoder.safetensors"))[1], epoch=int(state["epoch"]))
        info.update(
            dev_offset_acc=state["metrics"].get("offset_acc"), dev_offset_near=state["metrics"].get("offset_near")
        )
        save_weights(model, out, **info)
    return out


def fold_rows(run: Path) -> list[dict]:
    """Every epoch's metrics of one fold's run (metrics.jsonl; the val_ prefix dropped)."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [{k.removeprefix("val_"): v for k, v in r.items()} for r in rows]


def pooled(records: list[dict]) -> dict[str, float]:
    """Held-out figures added up over folds: windows pooled, and each clip once (clip means weighted by clips)."""
    hits, near, windows, clips = (
        sum(r[f"holdout_{k}"] for r in records) for k in ("hits", "near_hits", "windows", "clips")
    )
    c_acc = sum(r["holdout_clip_acc"] * r["holdout_clips"] for r in records) / max(clips, 1)
    c_near = sum(r["holdout_clip_near"] * r["holdout_clips"] for r in records) / max(clips, 1)
    return {
        "acc": hits / max(windows, 1),
        "near": near / max(windows, 1),
        "c_acc": c_acc,
        "c_near": c_near,
        "windows": windows,
        "clips": clips,
    }


def clip_offsets(cache, run: Path) -> list[dict]:
    """Each held-out clip's window estimates by its fold's pair (which never saw its speaker): how many
    windows, their modal offset and its share, and the share at 0 (the clip's top-1)."""
    import numpy as np
    import torch

    from vocalens.sync.task import window_offsets
    from vocalens.sync.weights import load_weights

    model = load_weights(str(run / "sync_encoder.safetensors"))[0].eval()
    index = {n: i for i, n in enumerate(cache.names)}
    rows = []
    for name in json.loads((run / "holdout.json").read_text())["clips"]:
        crops, audio = cache.clip(index[name])
        with torch.no_grad():  # the windows of sync-train's validation
            est = window_offsets(model, torch.from_numpy(crops), torch.from_numpy(audio.astype(np.float32)))
        values, counts = np.unique(est, return_counts=True)
        mode = int(values[np.argmax(counts)]) if len(est) else 0
        rows.append(
            {"clip": name, "speaker": str(cache.speakers[index[name]]), "frames": len(crops), "windows": len(est),
             "mode": mode, "mode_share": float(counts.max() / len(est)) if len(est) else 0.0,
             "top1": float((est == 0).mean()) if len(est) else 0.0}
        )  # fmt: skip
    return rows


def lag_rule(row: dict, min_lag: float, min_share: float, min_windows: float) -> int:
    """The lag the clip table reports for a clip taken to be out of sync itself: its modal offset when that is
    clear and large, else 0 (reported only: no clip is realigned, docs/sync.md says why)."""
    clear = row["windows"] >= min_windows and row["mode_share"] >= min_share and abs(row["mode"]) >= min_lag
    return row["mode"] if clear else 0


def fmt(p: dict) -> str:
    return f"{int(p['clips'])} | {int(p['windows'])} | " + " | ".join(
        f"{p[k]:.3f}" for k in ("acc", "near", "c_acc", "c_near")
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="../shared/data/real-corpus")
    p.add_argument("--extra", nargs="*", default=["../shared/data/real-clips"])
    p.add_argument("--cache", required=True, help="the recipe's sync cache (--crop aligned; built here when missing)")
    p.add_argument("--work_dir", default="runs/sync_cv")
    p.add_argument("--recipe", action="append", help="LABEL=ARGS added to the shipped sync recipe (repeatable)")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="folds trained at once (one CPU thread each)")
    p.add_argument(
        "--lag_rule",
        nargs=3,
        type=float,
        default=(2, 0.4, 4),
        metavar=("FRAMES", "SHARE", "WINDOWS"),
        help="a held-out clip counts as out of sync when its modal offset is at least FRAMES away from 0, on at "
        "least SHARE of at least WINDOWS windows (default 2 0.4 4): the clip table's last column",
    )
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "sync_cv.md"))
    args = p.parse_args(argv)
    recipes = labelled_args(args.recipe, "shipped recipe")
    t0 = time.perf_counter()
    if not Path(args.cache).is_file():
        from vocalens.sync.cache import build_cache, corpus_clips

        build_cache(corpus_clips(args.corpus, args.extra), args.cache, crop="aligned")
    runs = {label: Path(args.work_dir) / slug(label) for label, _ in recipes}
    jobs = {
        str(runs[label] / f"fold{k}"): recipe_argv(args, extra, runs[label] / f"fold{k}", k)
        for label, extra in recipes
        for k in range(args.folds)
        if not (runs[label] / f"fold{k}" / "holdout.json").is_file()
    }
    run_jobs(jobs, args.jobs)
    for label, _ in recipes:
        for k in range(args.folds):
            export_last(runs[label] / f"fold{k}")

    lines = [
        "# The sync recipe cross-validated over the train speakers",
        "",
        f"The corpus's train clips dealt by speaker into {args.folds} folds; each fold's pair is trained without "
        "that fold's speakers (short/ and the extra clips always in), its epoch picked on dev as the recipe does, "
        "and the held-out clips scored: true audio offset among -15..+15 frames for 1 s windows (a window every "
        "5 frames; sync-train's validation on the cached crops). Top-1 and within +-1 frame, over the pooled "
        "windows and per clip (each clip once). Chance top-1: 1/31 = 0.032.",
        "",
        "    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sync_cv.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "",
        "| recipe | epoch | held-out clips | windows | top-1 | within +-1 | top-1, per clip | within +-1, per clip "
        "| dev clip_both |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    curves, fold_times = [], {}
    for label, extra in recipes:
        folds = [json.loads((runs[label] / f"fold{k}" / "holdout.json").read_text()) for k in range(args.folds)]
        rows = [fold_rows(runs[label] / f"fold{k}") for k in range(args.folds)]
        fold_times[label] = rows
        name = label + (f" (`{extra}`)" if extra else "")
        for k, f in enumerate(folds):
            m = f["metrics"]
            lines.append(f"| {name}, fold {k} | {f['epoch']} | {fmt(pooled([m]))} | {m['clip_both']:.3f} |")
        lines.append(
            f"| **{name}, all folds** (epoch by dev) | | {fmt(pooled([f['metrics'] for f in folds]))} | "
            f"{sum(f['metrics']['clip_both'] for f in folds) / len(folds):.3f} |"
        )
        by_clip = [max(r, key=lambda e: e["clip_both"]) for r in rows]  # the first of equal epochs, as fit does
        lines.append(f"| {name}, all folds, epoch by dev clip_both | | {fmt(pooled(by_clip))} | |")
        lines.append(f"| {name}, all folds, last epoch | | {fmt(pooled([r[-1] for r in rows]))} | |")
        n = min(len(r) for r in rows)
        curves.append((name, [pooled([r[e] for r in rows]) for e in range(n)]))
    lines += [
        "",
        "Held-out per-clip top-1 / within +-1 at every epoch (all folds; what picking by dev leaves on the table):",
        "",
    ]
    for name, c in curves:
        lines.append(
            f"- {name}: " + ", ".join(f"{e + 1}: {x['c_acc']:.2f} / {x['c_near']:.2f}" for e, x in enumerate(c))
        )
    speakers = {
        k: json.loads((runs[recipes[0][0]] / f"fold{k}" / "holdout.json").read_text())["speakers"]
        for k in range(args.folds)
    }
    from vocalens.sync.cache import load_cache

    cache = load_cache(args.cache)
    lag, share, windows = args.lag_rule
    lines += [
        "",
        f"Each held-out clip by its fold's pair ({recipes[0][0]}, the chosen epoch): the modal window estimate and "
        f"its share of the clip's windows. A clip whose mode is at least {lag:g} frames from 0 on at least "
        f"{share:.0%} of at least {windows:g} windows is taken to be out of sync itself (last column: the lag, "
        "in frames, by which its audio trails its lips; negative: it leads):",
        "",
        "| fold | clip | speaker | frames | windows | top-1 | modal offset | its share | out of sync by |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k in range(args.folds):
        for r in clip_offsets(cache, runs[recipes[0][0]] / f"fold{k}"):
            d = lag_rule(r, lag, share, windows)
            lines.append(
                f"| {k} | {r['clip']} | {r['speaker']} | {r['frames']} | {r['windows']} | {r['top1']:.2f} | "
                f"{r['mode']:+d} | {r['mode_share']:.2f} | {f'{d:+d}' if d else ''} |"
            )
    lines += [
        "",
        "Speakers held out per fold: " + "; ".join(f"{k}: {', '.join(s)}" for k, s in speakers.items()),
        "",
        "Training time per fold (the epochs' time_s in metrics.jsonl, 2 folds at a time on this 2-core machine): "
        + "; ".join(
            f"{label}: " + ", ".join(f"{sum(r['time_s'] for r in rs):.0f} s" for rs in fold_times[label])
            for label, _ in recipes
        )  # fmt: skip
        + f". (This run: {time.perf_counter() - t0:.0f} s.)",
    ]
    publish(lines, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
