"""How much the sync encoder's raw cosine alone says, before any localizer: frame AUC of the negated,
smoothed per-frame cosine cos(visual_t, audio_t) on labelled feature stores (no training, no threshold).

  python benchmarks/sync_signal.py runs/real_quality/features_forge_KEY runs/real_quality/features_splice_KEY

Each fake type is scored with the store's real videos, as benchmarks/real_quality.py does. The gap between
this and the localizer's frame AUC is what the localizer adds on top of lip sync.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import publish  # noqa: E402
from vocalens.data.align import resample_to_frames  # noqa: E402
from vocalens.data.store import list_videos, read_features  # noqa: E402


def frame_scores(feats, smooth: int) -> np.ndarray:
    """-(cosine of the unit-normalised streams), box-smoothed over ``smooth`` frames: high = out of sync."""
    v = feats.visual.astype(np.float32)
    a = resample_to_frames(feats.audio.astype(np.float32), feats.audio_rate, len(v), feats.fps)
    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-6
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-6
    return -uniform_filter1d((v * a).sum(1), smooth)


def store_rows(root: Path, split: str, smooth: int) -> list[str]:
    by: dict[str, list] = {}
    for folder in list_videos(root, split):
        f = read_features(folder)
        by.setdefault(f.meta.get("manipulation", "unknown"), []).append((f.frame_labels, frame_scores(f, smooth)))
    real = by.get("real", [])
    rows = []
    for m in ["all"] + sorted(k for k in by if k != "real"):
        sub = [x for k, v in by.items() for x in v] if m == "all" else by[m] + real
        y = np.concatenate([lab for lab, _ in sub])
        s = np.concatenate([sc for _, sc in sub])
        rows.append(f"| {root.name} | {m} | {len(sub)} | {roc_auc_score(y, s):.3f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stores", nargs="+", type=Path, help="feature stores made with a sync encoder pair")
    ap.add_argument("--split", default="test")
    ap.add_argument("--smooth", type=int, default=9, help="box filter length, frames (default 9)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sync_signal.md"))
    args = ap.parse_args()
    lines = [
        "# The sync encoder's raw cosine as a frame score (no localizer)",
        "",
        "`python benchmarks/sync_signal.py " + " ".join(map(str, args.stores)) + "`",
        "",
        "| store | fake type (+ the real videos) | videos | frame AUC |",
        "|---|---|---|---|",
    ]
    for root in args.stores:
        lines += store_rows(root, args.split, args.smooth)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
