"""Ablation table of the VOCA-Lens localizer: the boundary head against the seed's frame head (issue 14),
and the architecture ablations (seed section 10), broken down by manipulation type.

    PYTHONPATH=src python benchmarks/ablation.py --synth 2400 --epochs 8 --variants full no_boundary_head \
        -- --d_model 128 --num_layers 2 --nhead 4 --max_frames 256 ...   # makes its own data first
    PYTHONPATH=src python benchmarks/ablation.py --features_root feats --epochs 20 --out_dir runs/ablation -- ...

Trains, on ``{features_root}/train`` with ``dev`` for validation, each variant:
  full                      the defaults (boundary head on)
  no_boundary_head          --no_boundary_head: segments and proposals from thresholded frame probabilities
  boundary_head_v1          --no_boundary_streams --no_boundary_edges: the head on the fused encoding only,
                            without start/end probabilities (as first built)
  no_boundary_streams       --no_boundary_streams: the head without each stream's projection as input
  no_boundary_edges         --no_boundary_edges: the head without start/end probabilities
  seed_model                the seed's per-frame projections, no energy channels, no sync augmentation, no
                            boundary head
  no_similarity_loss        --similarity_loss_weight 0
  no_cross_attn             --no_cross_attn
  visual_only               --modality visual (audio stream zeroed)
  audio_only                --modality audio  (visual stream zeroed)
then runs its best.pth over ``{features_root}/test`` with the Predictor (vocalens.localizer.evaluate: the
path of `vocalens evaluate`) and reports temporal AP@0.5/0.75/0.95, AR@100 (LAV-DF), the AV-Deepfake1M++
score, frame AUC/AP and video AUC on all test videos, and per group (real + each manipulation type). A
model with the boundary head is also scored on its own frame head's proposals (row "... frame proposals").
The heads' cost: one training step (forward + loss + backward of a batch) and one video's inference
(windows + decoding), timed in this run on the trained models with one thread, as a ratio to the model
without the head. Arguments after ``--`` go to every `vocalens train` call. ``--jobs N`` trains N variants at
once (separate processes, one thread each). Writes benchmarks/results/ablation.md (and per-variant JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
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
from vocalens.eval.proposals import make_proposals
from vocalens.eval.report import summarize
from vocalens.fileio import write_json_atomic
from vocalens.localizer.config import LossConfig, ModelConfig
from vocalens.localizer.evaluate import evaluate_split
from vocalens.localizer.losses import localizer_loss
from vocalens.localizer.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the shared publish()
from _common import publish  # noqa: E402

VARIANTS = {
    "full": [],
    "no_boundary_head": ["--no_boundary_head"],
    # the boundary head as first built: fused encoding only, no start/end probabilities
    "boundary_head_v1": ["--no_boundary_streams", "--no_boundary_edges"],
    "no_boundary_streams": ["--no_boundary_streams"],
    "no_boundary_edges": ["--no_boundary_edges"],
    # before docs/quality.md's changes and the boundary head
    "seed_model": ["--conv_kernel", "1", "--no_energy", "--sync_aug", "0", "--no_boundary_head"],
    "no_similarity_loss": ["--similarity_loss_weight", "0"],
    "no_cross_attn": ["--no_cross_attn"],
    "visual_only": ["--modality", "visual"],
    "audio_only": ["--modality", "audio"],
}
GROUPS = ("all", "audio", "visual", "both")
TARGETS = {"AP@0.5": 0.90, "AP@0.75": 0.70, "AP@0.95": 0.25, "AR@100": 0.90, "frame AUC": 0.966}  # issue 14


def _row(m: dict) -> dict:
    """The table's numbers of one summarize() result (all videos or one group)."""
    lav = m["temporal"]["lavdf"]
    return {
        "AP@0.5": lav["AP@0.5"],
        "AP@0.75": lav["AP@0.75"],
        "AP@0.95": lav["AP@0.95"],
        "AR@100": lav["AR@100"],
        "AV1M++ score": m["temporal"]["av1m"]["score"],
        "frame AUC": m["frame"]["auc"],
        "frame AP": m["frame"]["ap"],
        "video AUC": m["video"]["auc"],
    }


def _scores(videos: list, threshold: float) -> dict:
    m = summarize(videos, threshold)
    out = {"all": _row(m)}
    for g in GROUPS[1:]:
        if g in m["by_manipulation"]:
            out[g] = _row(m["by_manipulation"][g])
    fake = [v for v in videos if v["label"]]
    out["all"]["segments per fake video"] = float(np.mean([len(v["segments"]) for v in fake])) if fake else math.nan
    out["all"]["true per fake video"] = float(np.mean([len(v["fake_periods"]) for v in fake])) if fake else math.nan
    return out


DECODING = (
    "boundary_topk",
    "boundary_refine",
    "boundary_edge_weight",
    "boundary_fusion",
    "boundary_sigma",
    "boundary_voting",
    "boundary_snap",
    "boundary_proposals",
)


def load(checkpoint: Path, decoding: str = "checkpoint") -> Predictor:
    """The Predictor of a checkpoint; ``decoding="current"``: the boundary head decodes with today's defaults
    (vocalens.localizer.config.ModelConfig) instead of the settings the checkpoint was trained with. Decoding
    never enters training, so this is the model the same run with today's defaults would have produced."""
    pred = Predictor.from_checkpoint(checkpoint, "cpu")
    if decoding == "current" and pred.has_boundary_head:
        today = ModelConfig()
        pred.model.cfg = dataclasses.replace(pred.model.cfg, **{f: getattr(today, f) for f in DECODING})
    return pred


def evaluate(checkpoint: Path, root: str, split: str, decoding: str = "checkpoint") -> dict:
    """{"head": scores of the model's own segments/proposals, "frame_proposals": (boundary-head models) the
    same model scored on its frame head's proposals}, each {group: row}."""
    pred = load(checkpoint, decoding)
    res = evaluate_split(pred, root, split, progress=False)
    videos, thr = res["videos"], res["threshold"]
    out = {"head": _scores(videos, thr), "boundary_head": pred.has_boundary_head}
    if pred.has_boundary_head:
        frame = []
        for v in videos:
            segs = v["frame_segments"]
            frame.append(
                {**v, "segments": segs, "proposals": make_proposals(v["frame_probs"], v["fps"], v["video_prob"])}
            )
        out["frame_proposals"] = _scores(frame, thr)
    return out


def _cost_fns(checkpoint: Path, batch: int, frames: int, decoding: str = "checkpoint"):
    """(training step, inference, parameter counts) of one checkpoint: a step = forward + loss + backward of
    batch x frames; inference = Predictor.predict of one ``frames``-long video (windows, frame head, and
    the boundary head's decoding)."""
    pred = load(checkpoint, decoding)
    model, cfg = pred.model, pred.config
    dv, da = int(cfg["visual_dim"]), int(cfg["audio_dim"])
    g = torch.Generator().manual_seed(0)
    v, a = torch.randn(batch, frames, dv, generator=g), torch.randn(batch, frames, da, generator=g)
    mask = torch.ones(batch, frames, dtype=torch.bool)
    labels = torch.zeros(batch, frames)
    for j in range(batch // 2):  # one fake stretch in half the windows
        s0 = int(torch.randint(0, frames - 40, (), generator=g))
        labels[j, s0 : s0 + int(torch.randint(5, 40, (), generator=g))] = 1
    loss_cfg = LossConfig(pos_weight=3.0)

    def step():
        model.train()
        f, vl, sim, b = model(v, a, mask, all_heads=True)
        loss, _ = localizer_loss(f, vl, sim, labels, labels.amax(1), mask, loss_cfg, b, model.cfg.boundary_radius)
        model.zero_grad(set_to_none=True)
        loss.backward()
        model.eval()

    vis, aud = v[0].numpy(), a[0].numpy()

    def infer():
        pred.predict(vis, aud, audio_rate=float(cfg.get("fps", 25.0)), fps=float(cfg.get("fps", 25.0)))

    head = getattr(model, "boundary_head", None)
    counts = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "head_parameters": sum(p.numel() for p in head.parameters()) if head is not None else 0,
    }
    return step, infer, counts


def head_costs(checkpoints: dict, batch: int, frames: int, reps: int = 10, decoding: str = "checkpoint") -> dict:
    """{name: {train_step_s, infer_video_s, parameters, head_parameters}}: the median over ``reps`` rounds, each
    round timing every checkpoint once in turn (so a shared machine's load changes hit all variants alike)."""
    fns = {name: _cost_fns(ck, batch, frames, decoding) for name, ck in checkpoints.items()}
    times = {name: {"train_step_s": [], "infer_video_s": []} for name in fns}
    for rep in range(reps + 1):  # round 0 warms up
        for name, (step, infer, _) in fns.items():
            for key, fn in (("train_step_s", step), ("infer_video_s", infer)):
                t0 = time.perf_counter()
                fn()
                if rep:
                    times[name][key].append(time.perf_counter() - t0)
    return {name: {**{k: float(np.median(v)) for k, v in times[name].items()}, **fns[name][2]} for name in checkpoints}


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
        help="a variant whose OUT_DIR/<variant>/train_time.json exists (its training finished) is not trained "
        "again; it is evaluated again (to add variants to a table, change the evaluation, or finish a killed run)",
    )
    ap.add_argument(
        "--decoding",
        choices=("checkpoint", "current"),
        default="checkpoint",
        help="the boundary head's decoding settings: the checkpoint's (default) or today's defaults (for "
        "models trained before a decoding default changed; decoding is not part of training)",
    )
    ap.add_argument("--cost_reps", type=int, default=10, help="timed repetitions of the cost measurements")
    ap.add_argument("--jobs", type=int, default=1, help="variants trained at once (processes of one thread each)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ablation.md"))
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
        done = Path(args.out_dir) / name / "train_time.json"
        if args.reuse and done.is_file():
            t = json.loads(done.read_text())
            seconds[name], cpu[name] = t["train_seconds"], t["train_cpu_seconds"]
            print(f"{name}: reusing the training in {done.parent}")
    todo = [n for n in args.variants if n not in seconds]
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
        if args.jobs <= 1:
            t0, c0 = time.perf_counter(), time.process_time()
            rc = vocalens(train_argv(name))
            if rc:
                raise SystemExit(f"training {name} failed (exit {rc})")
            seconds[name], cpu[name] = time.perf_counter() - t0, time.process_time() - c0
        write_json_atomic(
            Path(args.out_dir) / name / "train_time.json",
            {"train_seconds": seconds[name], "train_cpu_seconds": cpu[name]},
        )
    results = {}
    batch, frames = _train_shape(extra)
    costs = head_costs(
        {name: Path(args.out_dir) / name / "best.pth" for name in args.variants},
        batch,
        frames,
        args.cost_reps,
        args.decoding,
    )
    for name in args.variants:
        run_dir = Path(args.out_dir) / name
        results[name] = evaluate(run_dir / "best.pth", args.features_root, args.test_split, args.decoding)
        results[name].update(train_seconds=seconds[name], train_cpu_seconds=cpu[name], cost=costs[name])
        write_json_atomic(run_dir / f"{args.test_split}_metrics.json", results[name])
        print(name, json.dumps(results[name]["head"]["all"]))
    publish(table(args, extra, results), args.out)


def _train_shape(extra: list) -> tuple[int, int]:
    """(batch size, window frames) the variants train with: --batch_size / --max_frames after ``--`` (else 8, 512)."""

    def get(flag, default):
        return int(extra[extra.index(flag) + 1]) if flag in extra else default

    return get("--batch_size", 8), get("--max_frames", 512)


def table(args, extra: list, results: dict) -> list[str]:
    cols = ["AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AV1M++ score", "frame AUC", "frame AP", "video AUC"]
    command = "`PYTHONPATH=src python benchmarks/ablation.py " + (
        f"--toy {args.toy}" if args.toy else f"--synth {args.synth}" if args.synth else "--features_root FEATS"
    )
    command += f" --epochs {args.epochs} --variants {' '.join(args.variants)}"
    command += f" --decoding {args.decoding}" if args.decoding != "checkpoint" else ""
    command += " -- " + " ".join(extra) if extra else ""
    base = "no_boundary_head" if "no_boundary_head" in results else None
    lines = [
        "# Localizer ablations: the boundary head (issue 14) and the architecture",
        "",
        command + "`",
        "",
        f"Metrics on the `{args.test_split}` split with each variant's best.pth (best dev frame AP), through "
        "`vocalens evaluate`'s code (vocalens.localizer.evaluate): AP/AR are the official LAV-DF ones on each "
        "video's ranked proposals (the boundary head's when the model has one, else the frame-probability "
        "proposals of vocalens.eval.proposals); AV1M++ score = 1/8 sum AP@{0.5,0.75,0.9,0.95} + 1/10 sum "
        "AR@{50,30,20,10,5}. `... frame proposals`: the same model scored on its frame head's proposals. "
        "segs/fake: shown segments per fake video (the boundary head's, else frames >= threshold) and true ones.",
        *([f"Data: {args.data_note}"] if args.data_note else []),
        f"One thread per training process (`--threads {args.threads}`, `--jobs {args.jobs}`)"
        + (
            "; trainings of an earlier run of the same command reused (`--reuse`), evaluated again"
            if args.reuse
            else ""
        )
        + (
            "; `--decoding current`: the boundary head decodes with today's ModelConfig defaults, not the "
            "settings stored at training"
            if args.decoding == "current"
            else ""
        )
        + ".",
        "",
        "| variant | " + " | ".join(cols) + " | segs/fake (true) | train wall s | train CPU s |",
        "|" + "---|" * (len(cols) + 4),
    ]
    for name, res in results.items():
        rows = [(name, res["head"])] + (
            [(f"{name}, frame proposals", res["frame_proposals"])] if "frame_proposals" in res else []
        )
        for label, sc in rows:
            a = sc["all"]
            seg = f"{a['segments per fake video']:.2f} ({a['true per fake video']:.2f})"
            times = [f"{res['train_seconds']:.0f}", f"{res['train_cpu_seconds']:.0f}"] if label == name else ["", ""]
            lines.append("| " + " | ".join([label] + [fmt(a[c]) for c in cols] + [seg] + times) + " |")
    lines += [
        "",
        "By manipulation (each fake type with all real videos): AP@0.5 / AP@0.75 / AP@0.95 / AR@100 / frame AUC",
        "",
    ]
    lines += ["| variant | " + " | ".join(GROUPS[1:]) + " |", "|" + "---|" * len(GROUPS)]
    for name, res in results.items():
        cells = []
        for g in GROUPS[1:]:
            r = res["head"].get(g)
            cells.append(
                " / ".join(fmt(r[c]) for c in ("AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "frame AUC")) if r else "–"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    batch, frames = _train_shape(extra)
    lines += [
        "",
        f"Cost, measured in this run on each best.pth, one thread, median of {args.cost_reps} rounds (each round "
        "times every variant once in turn, so load changes of a shared machine hit them alike): a training step = "
        f"forward + loss + backward of a batch of {batch} x {frames} frames; inference = Predictor.predict of one "
        f"{frames}-frame video (frame head, and the boundary head's decoding: top-k, soft-NMS, 100 proposals)"
        + (f"; ratios to `{base}`" if base else "")
        + ".",
        "",
        "| variant | parameters | head parameters | train step ms | ratio | inference ms | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        c = res["cost"]
        b = results[base]["cost"] if base else None
        lines.append(
            f"| {name} | {c['parameters']:,} | {c['head_parameters']:,} | {1000 * c['train_step_s']:.1f} | "
            + (f"{c['train_step_s'] / b['train_step_s']:.2f}" if b else "–")
            + f" | {1000 * c['infer_video_s']:.1f} | "
            + (f"{c['infer_video_s'] / b['infer_video_s']:.2f}" if b else "–")
            + " |"
        )
    if "full" in results:
        a = results["full"]["head"]["all"]
        verdicts = [f"{k} {fmt(a[k])} ({'met' if a[k] >= v else 'NOT met'}, target {v:g})" for k, v in TARGETS.items()]
        lines += ["", "Issue 14's targets for `full`: " + "; ".join(verdicts) + "."]
    return lines


if __name__ == "__main__":
    main()
