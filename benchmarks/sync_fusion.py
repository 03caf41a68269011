"""How the sync fusion of `vocalens calibrate --fuse_sync` was chosen: on the DEV speakers only.

The localizer (uncalibrated) is run over a dev feature store; every figure is a leave-one-source-out
(LOSO) estimate: a source's real video and its fakes are scored by a fusion fitted on the other
sources (vocalens.localizer.calibrate.fit_fusion, the code calibrate runs), so the dev figures are not
in-sample. Tables:

  1  frame AUC of the raw cosine alone (box-smoothed; per-video z-scored; max over lags) and of the model
  2  LOSO frame AUC of the fusion over a grid of box lengths (logit x cosine): the largest is chosen
  3  video scores from the LOSO-fused frames: AUC, share of fakes found at the threshold just above the
     highest dev real (calibrate's rule at --max_fpr 0.05 with 14 reals), and how often that rule, set
     on the other sources, calls a held-out real source FAKE
  4  (--train_root) video scores of the training split's real videos beside dev's: why training
     sources (e.g. ../shared/data/real-clips) cannot stand in for unseen speakers in calibration

  python benchmarks/sync_fusion.py --checkpoint runs/default_model/localizer/best.pth \\
      --features_root runs/default_model/features [--train_root runs/default_model/features]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.special import expit
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import publish  # noqa: E402
from vocalens.data.align import resample_to_frames  # noqa: E402
from vocalens.data.store import list_videos, read_features  # noqa: E402
from vocalens.localizer.calibrate import _logit, fit_fusion, fused_logits  # noqa: E402

LOGIT_BOX = (1, 9, 15, 21, 31)
COS_BOX = (9, 21, 31, 41, 51)
TOPK = (1, 5, 10, 15, 25, 50, 0)  # 0 = mean of all frames


def source_of(meta: dict, cache: dict) -> str:
    """The real source a (forged) video was made from: the forge set's metadata ``original``."""
    src = Path(meta.get("source", ""))
    root = src.parent.parent
    if root not in cache:
        path = root / "metadata.min.json"
        cache[root] = {m["file"]: m for m in json.loads(path.read_text())} if path.is_file() else {}
    m = cache[root].get(meta.get("file"), {})
    return m.get("original") or meta.get("file") or str(src)


def _mean_outputs(outs: list[dict]) -> dict:
    """Several localizers' outputs on one video: frame and video probabilities averaged as logits (the
    rest, e.g. the features' own sync cosine, is the same for all and taken from the first)."""
    if len(outs) == 1:
        return outs[0]
    o = dict(outs[0])
    for k in ("frame_probs", "video_prob"):
        o[k] = expit(np.mean([_logit(x[k]) for x in outs], axis=0))
    return o


def load(checkpoints: list[str], root: str, split: str) -> list[dict]:
    from vocalens.localizer.predict import Predictor

    preds = [Predictor.from_checkpoint(c, device="cpu") for c in checkpoints]
    for pred in preds:
        pred.calibration = None  # the model's own scores
    cache: dict = {}
    out = []
    for folder in list_videos(root, split):
        f = read_features(folder)
        o = _mean_outputs([pred.predict_features(f) for pred in preds])
        if o.get("raw_similarity") is None:
            raise SystemExit(f"{folder}: not a sync encoder pair's features")
        v = f.visual.astype(np.float32)
        a = resample_to_frames(f.audio.astype(np.float32), f.audio_rate, len(v), f.fps)
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-6
        a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-6
        lag = [(v[max(0, -k) : len(v) - max(0, k)] * a[max(0, k) : len(a) - max(0, -k)]).sum(1) for k in (-1, 1)]
        lagmax = o["raw_similarity"].copy()
        lagmax[1:] = np.maximum(lagmax[1:], lag[0])
        lagmax[:-1] = np.maximum(lagmax[:-1], lag[1])
        labels = f.frame_labels if f.frame_labels is not None else np.zeros(len(v), np.uint8)
        out.append(
            {
                "probs": o["frame_probs"],
                "cos": o["raw_similarity"],
                "cos_lagmax": lagmax,
                "head": o["video_prob"],
                "labels": np.asarray(labels).reshape(-1),
                "label": int(f.meta.get("label", int(labels.any()))),
                "group": source_of(f.meta, cache),
            }
        )
    return out


def frame_auc(videos, score) -> float:
    return roc_auc_score(np.concatenate([v["labels"] for v in videos]), np.concatenate([score(v) for v in videos]))


def loso_fused(videos, logit_box: int, cos_box: int) -> list[np.ndarray]:
    """Each video's fused logits from a fusion fitted without its source."""
    out = [None] * len(videos)
    for g in sorted({v["group"] for v in videos}):
        fit = fit_fusion([(v["probs"], v["cos"], v["labels"]) for v in videos if v["group"] != g], logit_box, cos_box)
        for i, v in enumerate(videos):
            if v["group"] == g:
                out[i] = fused_logits(v["probs"], v["cos"], fit)
    return out


def video_score(z: np.ndarray, k: int) -> float:
    return float(np.sort(z)[::-1][:k].mean()) if k else float(z.mean())


def threshold_rows(videos, scores: np.ndarray) -> tuple[float, float, int]:
    """(AUC, share of fakes above the highest real, held-out real sources the rule calls FAKE)."""
    y = np.array([v["label"] for v in videos])
    groups = np.array([v["group"] for v in videos])
    found = float(np.mean(scores[y == 1] > scores[y == 0].max()))
    alarms = 0
    for g in sorted(set(groups)):
        held, others = groups == g, (groups != g) & (y == 0)
        alarms += int(np.any(scores[held & (y == 0)] > scores[others].max()))
    return float(roc_auc_score(y, scores)), found, alarms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="the localizer (its calibration is ignored); several: their outputs averaged as logits (a seed ensemble)",
    )
    ap.add_argument("--features_root", required=True, help="a store with the dev split (sync pair features)")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--train_root", default=None, help="a store with the train split, for table 4")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sync_fusion.md"))
    args = ap.parse_args()
    t0 = time.time()
    dev = load(args.checkpoint, args.features_root, args.split)
    n_src = len({v["group"] for v in dev})
    n_real = sum(v["label"] == 0 for v in dev)
    lines = [
        "# Sync fusion: the choices, on the dev speakers only",
        "",
        f"`python benchmarks/sync_fusion.py --checkpoint {' '.join(args.checkpoint)} "
        f"--features_root {args.features_root}" + (f" --train_root {args.train_root}" if args.train_root else "") + "`",
        "",
        f"{len(dev)} {args.split} videos from {n_src} sources ({n_real} real). LOSO = each source scored by a "
        "fusion fitted on the others.",
        "",
        "### 1. Frame AUC of single scores",
        "",
        "| score | box 1 | box 9 | box 21 | box 31 |",
        "|---|---|---|---|---|",
    ]

    def box(x, n):
        return uniform_filter1d(np.asarray(x, np.float64), n)

    def z(x):
        return (x - x.mean()) / (x.std() + 1e-3)

    singles = {
        "model frame logit": lambda v, n: box(_logit(v["probs"]), n),
        "raw cosine (negated)": lambda v, n: -box(v["cos"], n),
        "raw cosine, per-video z-scored": lambda v, n: -z(box(v["cos"], n)),
        "raw cosine, max over lags -1..1": lambda v, n: -box(v["cos_lagmax"], n),
    }
    for name, fn in singles.items():
        cells = [f"{frame_auc(dev, lambda v, n=n: fn(v, n)):.3f}" for n in (1, 9, 21, 31)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "### 2. LOSO frame AUC of the fusion (rows: logit box, columns: cosine box)", ""]
    lines += ["| logit box | " + " | ".join(f"cos {c}" for c in COS_BOX) + " |", "|---" * (len(COS_BOX) + 1) + "|"]
    grid = {}
    y_all = np.concatenate([v["labels"] for v in dev])
    for lb in LOGIT_BOX:
        for cb in COS_BOX:
            fused = loso_fused(dev, lb, cb)
            grid[(lb, cb)] = (roc_auc_score(y_all, np.concatenate(fused)), fused)
        lines.append(f"| {lb} | " + " | ".join(f"{grid[(lb, cb)][0]:.3f}" for cb in COS_BOX) + " |")
    (lb, cb) = max(grid, key=lambda k: grid[k][0])
    fused = grid[(lb, cb)][1]
    model_auc = frame_auc(dev, lambda v: v["probs"])
    lines += [
        "",
        f"Chosen: logit box {lb}, cosine box {cb}: LOSO frame AUC {grid[(lb, cb)][0]:.3f} "
        f"(the model alone {model_auc:.3f}).",
        "",
        "### 3. Video scores (LOSO-fused frames)",
        "",
        "| video score | video AUC | fakes found above the highest real | held-out real sources called FAKE |",
        "|---|---|---|---|",
    ]
    head = np.array([_logit(v["head"]) for v in dev])
    auc, found, alarms = threshold_rows(dev, head)
    lines.append(f"| video head (shipped) | {auc:.3f} | {found:.2f} | {alarms} of {n_real} |")
    for k in TOPK:
        s = np.array([video_score(zv, k) for zv in fused])
        auc, found, alarms = threshold_rows(dev, s)
        name = f"mean of the top {k} fused frame logits" if k else "mean of all fused frame logits"
        lines.append(f"| {name} | {auc:.3f} | {found:.2f} | {alarms} of {n_real} |")
    if args.train_root:
        train = load(args.checkpoint, args.train_root, "train")
        fit = fit_fusion([(v["probs"], v["cos"], v["labels"]) for v in dev], lb, cb)
        lines += [
            "",
            "### 4. Real videos: training sources vs unseen (dev) speakers",
            "",
            "| real videos | n | video head prob, median / max | top-25 fused video prob, median / max |",
            "|---|---|---|---|",
        ]
        for name, vids in (("train split (seen in training)", train), (f"{args.split} split", dev)):
            r = [v for v in vids if v["label"] == 0]
            hp = np.array([v["head"] for v in r])
            tp = 1 / (1 + np.exp(-np.array([video_score(fused_logits(v["probs"], v["cos"], fit), 25) for v in r])))
            lines.append(
                f"| {name} | {len(r)} | {np.median(hp):.3f} / {hp.max():.3f} | {np.median(tp):.3f} / {tp.max():.3f} |"
            )
    lines += ["", f"({time.time() - t0:.0f} s)"]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
