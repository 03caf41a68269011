"""What the AVFF visual input keeps of the synthetic fakes' cues, before any training.

    PYTHONPATH=src python experiments/avff_diagnostics.py --data DATA [--videos 30]

DATA is a `vocalens synth` set (LAV-DF layout, metadata.json). Two checks, each on the frames the
model would see (`vocalens.avff.data.decode`, centre crop as for synthetic faces):

1. Blur: the mouth's high-frequency energy (mean |Laplacian| of grey) in the fake frames of
   `visual`/`both` videos, minus that in the same video's real frames, in units of the real frames'
   spread: for a 64 px whole-face crop (mouth area = `vocalens.media.faces` mouth box), a 64 px
   lower-face crop (`crop='mouth'`) and a 32 px one.
2. Sync: correlation of the lower-face crop's centre brightness (an open mouth is dark) with the
   audio's loudness per frame, at lags of -8..8 frames in real videos (positive lag: mouth after
   sound). A peak at a small positive lag says frames and audio are aligned and the lips carry the
   speech rhythm.
Prints markdown; writes nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from vocalens.avff.data import decode
from vocalens.data.labels import frame_labels

MOUTH_IN_FACE = (0.593, 0.807, 0.333, 0.667)  # top, bottom, left, right: vocalens.media.faces.mouth_box(1, 0.25)


def hf_energy(x: np.ndarray) -> np.ndarray:
    grey = x.astype(np.float32).mean(-1)
    return np.array([np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean() for g in grey])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--videos", type=int, default=30, help="videos per check")
    args = ap.parse_args()
    root = Path(args.data)
    meta = [m for m in json.loads((root / "metadata.json").read_text()) if m["split"] == args.split]

    blur: dict[str, list[float]] = {
        "64 px face crop, mouth area": [],
        "64 px lower-face crop": [],
        "32 px lower-face crop": [],
    }
    for m in [m for m in meta if m["modify_video"]][: args.videos]:
        face = decode(root / m["file"], 64, "center").faces
        lab = frame_labels(m["fake_periods"], len(face), 25.0).astype(bool)
        if lab.all() or not lab.any():
            continue
        t, b, left, r = (int(v * 64) for v in MOUTH_IN_FACE)
        crops = {
            "64 px face crop, mouth area": face[:, t:b, left:r],
            "64 px lower-face crop": decode(root / m["file"], 64, "center", crop="mouth").faces,
            "32 px lower-face crop": decode(root / m["file"], 32, "center", crop="mouth").faces,
        }
        for k, x in crops.items():
            h = hf_energy(x)
            blur[k].append((h[lab].mean() - h[~lab].mean()) / (h[~lab].std() + 1e-6))
    print(
        "| visual input | videos | HF energy, fake - real frames (sigma of real), mean | median | videos with a drop |"
    )
    print("|---|---|---|---|---|")
    for k, r in blur.items():
        r = np.asarray(r)
        print(f"| {k} | {len(r)} | {r.mean():+.2f} | {np.median(r):+.2f} | {np.mean(r < 0):.2f} |")

    lags = np.arange(-8, 9)
    cors = []
    for m in [m for m in meta if not m["n_fakes"]][: args.videos]:
        p = decode(root / m["file"], 64, "center", crop="mouth")
        n = p.num_frames
        g = p.faces[:, 20:44, 16:48].astype(np.float32).mean((1, 2, 3))
        a = np.zeros(n * 640, np.float32)
        a[: min(len(p.audio), n * 640)] = p.audio[: n * 640]
        loud = np.sqrt((a.reshape(n, 640) ** 2).mean(1))
        g, loud = (g - g.mean()) / (g.std() + 1e-6), (loud - loud.mean()) / (loud.std() + 1e-6)
        cors.append([np.mean(g[max(0, k) : n + min(0, k)] * loud[max(0, -k) : n - max(0, k)]) for k in lags])
    c = np.mean(cors, 0)
    print(f"\nSync ({len(cors)} real videos): correlation of lower-face centre brightness with loudness by lag\n")
    print("| lag (frames) | " + " | ".join(f"{k:+d}" for k in lags) + " |")
    print("|---|" + "---|" * len(lags))
    print("| correlation | " + " | ".join(f"{v:+.2f}" for v in c) + " |")


if __name__ == "__main__":
    main()
