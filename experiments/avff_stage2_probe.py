"""How fast does AVFF stage 2 learn from scratch? A probe on fixed, in-memory clips: variants of the
`small` preset trained for the same number of steps on the same clips, dev AUC every --eval_every steps.

    OMP_NUM_THREADS=1 PYTHONPATH=src HF_HUB_OFFLINE=1 python experiments/avff_stage2_probe.py --data D

D: a labelled LAV-DF-layout set (e.g. `vocalens synth --num_videos 1200 --max_duration 6 --seed 0`).
Why: the CLI's stage 2 from scratch sat at the class prior; this separates "the cue is not in the
input" from "the network does not reach it in the steps it gets" in minutes, not in full runs.
Writes experiments/results/avff_stage2_probe.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.avff.config import get_preset
from vocalens.avff.data import ClipDataset, prepare_all, read_items
from vocalens.avff.model import build_model
from vocalens.avff.predict import metrics_by_manipulation
from vocalens.eval.metrics import binary_metrics
from vocalens.train.schedule import build_scheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the shared publish()
from _common import publish  # noqa: E402

VARIANTS = {
    "small before (no highpass, no stream heads)": dict(highpass=False, stream_heads=False),
    "+ highpass input": dict(highpass=True, stream_heads=False),
    "+ highpass + stream heads (small now)": dict(highpass=True, stream_heads=True),
}


def load_clips(data: str, split: str, videos: int, clips: int, random: bool, cache: str, label_fraction: float) -> dict:
    cfg = get_preset("small")
    items, _ = prepare_all(read_items(data, [split])[:videos], cfg, cache, "center", desc=f"decode {split}")
    torch.manual_seed(0)
    ds = ClipDataset(items, cfg, cache, "center", clips, random=random, label_fraction=label_fraction)
    rows = [ds[i] for i in range(len(ds))]
    return {
        "frames": torch.stack([r["frames"] for r in rows]).half(),
        "wave": torch.stack([r["wave"] for r in rows]),
        "label": torch.stack([r["label"] for r in rows]),
        "video_label": np.array([it.label for it in items]),
        "kind": np.array([it.manipulation for it in items]),
        "clips": clips,
    }


@torch.no_grad()
def evaluate(model, dev: dict) -> dict:
    model.eval()
    probs = torch.cat(
        [
            torch.sigmoid(model(dev["frames"][i : i + 64].float(), dev["wave"][i : i + 64]))
            for i in range(0, len(dev["label"]), 64)
        ]
    ).numpy()
    model.train()
    video = probs.reshape(-1, dev["clips"]).max(1)  # clips are stored video by video
    by = metrics_by_manipulation(dev["video_label"], video, dev["kind"])
    return {
        "clip AUC": binary_metrics(dev["label"].numpy(), probs)["auc"],
        "video AUC": by["all"]["auc"],
        **{k: by[k]["auc"] for k in ("audio", "visual", "both")},
    }


def train_variant(overrides: dict, train: dict, dev: dict, args) -> list[tuple[int, float, dict]]:
    torch.manual_seed(args.seed)
    model = build_model(get_preset("small", **overrides)).train()
    model.set_stage("classify")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    sched = build_scheduler(opt, max(1, args.steps // 10), args.steps)  # the shared loop's warmup + cosine
    g = torch.Generator().manual_seed(args.seed)
    n, losses, rows = len(train["label"]), [], []
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, n, (args.batch_size,), generator=g)
        frames = train["frames"][idx].float()
        flip = torch.rand(args.batch_size, generator=g) < 0.5
        frames[flip] = frames[flip].flip(-1)
        loss = F.binary_cross_entropy_with_logits(model(frames, train["wave"][idx]), train["label"][idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % args.eval_every == 0 or step == args.steps:
            rows.append((step, float(np.mean(losses[-args.eval_every :])), evaluate(model, dev)))
            print(
                f"  step {step}: train loss {rows[-1][1]:.4f} "
                + " ".join(f"{k} {v:.3f}" for k, v in rows[-1][2].items()),
                flush=True,
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="labelled LAV-DF-layout set")
    ap.add_argument("--cache_dir", default=str(Path.home() / ".cache" / "vocalens" / "avff"))
    ap.add_argument("--videos", type=int, default=500, help="first N training videos")
    ap.add_argument("--clips", type=int, default=4, help="fixed random clips per training video")
    ap.add_argument("--dev_videos", type=int, default=180)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval_every", type=int, default=100)
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--label_fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    train = load_clips(args.data, "train", args.videos, args.clips, True, args.cache_dir, args.label_fraction)
    dev = load_clips(args.data, "dev", args.dev_videos, 4, False, args.cache_dir, 0.0)
    lines = [
        f"Command: `PYTHONPATH=src HF_HUB_OFFLINE=1 python experiments/avff_stage2_probe.py {' '.join(sys.argv[1:])}`",
        "",
        f"Stage 2 from random initialisation, `small` preset variants, {len(train['label'])} fixed training clips "
        f"({args.videos} videos x {args.clips}), batch {args.batch_size}, AdamW lr {args.lr}, cosine; "
        f"dev: {len(dev['video_label'])} videos x 4 evenly spaced clips, video score = max over clips; "
        f"audio/visual/both = video AUC of that manipulation vs the real videos. {args.threads} thread(s).",
        "",
        "| variant | step | train loss | clip AUC | video AUC | audio | visual | both |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, overrides in VARIANTS.items():
        print(name, flush=True)
        for step, loss, m in train_variant(overrides, train, dev, args):
            lines.append(
                f"| {name} | {step} | {loss:.4f} | "
                + " | ".join(f"{m[k]:.3f}" for k in ("clip AUC", "video AUC", "audio", "visual", "both"))
                + " |"
            )
    lines.append(f"\nWall time {time.time() - t0:.0f} s.")
    publish(lines, Path(__file__).parent / "results" / "avff_stage2_probe.md")


if __name__ == "__main__":
    main()
