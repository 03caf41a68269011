"""Make docs/img/synth_vs_real.png: synthetic frames (top) next to face crops of real clips (bottom).

    PYTHONPATH=src python scripts/make_synth_figure.py [--real_clips ../shared/data/real-clips]
                                                       [--out docs/img/synth_vs_real.png]

Synthetic frames come from `vocalens synth`'s renderer (seed 7) after an H.264 round trip, one real
and one visually faked frame of the same video among them; real frames are the middle frames of
clips in ../shared/data/real-clips, cropped around the face (OpenCV's Haar detector) the way
LAV-DF's 224x224 crops are framed. The row of real clips is left out when the folder is absent.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vocalens.constants import FPS  # noqa: E402
from vocalens.constants import SAMPLE_RATE as SR  # noqa: E402
from vocalens.datagen.synth import SynthConfig, plan_dataset, render_video  # noqa: E402
from vocalens.media.video import load_video, write_video  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real-clips"
CLIPS = [
    "video-retalking__2.mp4",
    "LipNet__bbaf2n.mpg",
    "video-retalking__4.mp4",
    "LipNet__lbax4n.mpg",
    "lip-reading-deeplearning__sample_video.mp4",
    "video-retalking__5.mp4",
]


def synthetic_frames(n: int, seed: int = 7) -> tuple[list[np.ndarray], list[str]]:
    cfg = SynthConfig()
    plans = plan_dataset(40, seed, cfg)
    out, titles = [], []
    with tempfile.TemporaryDirectory() as tmp:
        vis = next(p for p in plans if p.kind == "visual")
        reals = [p for p in plans if p.kind == "real" and p.index != vis.content]
        rendered = {p.index: render_video(p, seed, cfg) for p in reals}
        # real videos spanning the skin tones, light to dark
        reals.sort(key=lambda p: -float(np.mean(rendered[p.index].extras["skin"])))
        pick = np.linspace(0, len(reals) - 1, n - 2).round().astype(int)
        for p in [vis] + [reals[i] for i in pick]:
            r = rendered.get(p.index) or render_video(p, seed, cfg)
            path = write_video(Path(tmp) / "v.mp4", r.frames, FPS, r.audio, SR, crf=r.crf)
            frames = load_video(path, audio="skip").frames
            if p.kind == "visual":  # the frame of the fake period where the mouth is widest
                s, e = p.periods[0]
                i = s + int(np.argmax(r.mouth_open[s:e]))
                out.append(frames[i])
                titles.append(f"synthetic, visual fake\n(frame {i}, in a fake period)")
                ro = render_video(plans[p.content], seed, cfg)  # its original, same moment
                po = write_video(Path(tmp) / "o.mp4", ro.frames, FPS, ro.audio, SR, crf=ro.crf)
                out.append(load_video(po, audio="skip").frames[i])
                titles.append(f"its real original\n(frame {i})")
            else:
                i = int(np.argmax(r.mouth_open)) if len(out) % 2 else len(frames) // 3
                out.append(frames[i])
                titles.append(f"synthetic, real\n(opening {r.mouth_open[i]:.2f})")
    return out[:n], titles[:n]


def real_frames(folder: Path, n: int) -> tuple[list[np.ndarray], list[str]]:
    det = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    out, titles = [], []
    for name in CLIPS:
        path = folder / name
        if not path.is_file():
            continue
        frames = load_video(path, audio="skip").frames
        img = frames[len(frames) // 2]
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        faces = det.detectMultiScale(grey, 1.1, 5, minSize=(40, 40))
        if len(faces) == 0:
            continue
        x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
        cx, cy, side = x + w / 2, y + h * 0.55, 1.35 * max(w, h)  # LAV-DF-like: whole face, a little margin
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        crop = img[y0 : y0 + int(side), x0 : x0 + int(side)]
        out.append(cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA))
        titles.append(f"real clip\n{name.split('__')[0]}")
        if len(out) == n:
            break
    return out, titles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real_clips", default=str(REAL))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "synth_vs_real.png"))
    ap.add_argument("--n", type=int, default=6)
    args = ap.parse_args()
    rows = [synthetic_frames(args.n)]
    if Path(args.real_clips).is_dir():
        rows.append(real_frames(Path(args.real_clips), args.n))
    fig, axes = plt.subplots(len(rows), args.n, figsize=(2.2 * args.n, 2.6 * len(rows)), squeeze=False)
    for r, (imgs, titles) in enumerate(rows):
        for c in range(args.n):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(imgs[c])
                ax.set_title(titles[c], fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
