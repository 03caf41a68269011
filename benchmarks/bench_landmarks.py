"""Face-mesh landmarks vs today's Haar box + fixed-fraction mouth crop, on the real footage.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_landmarks.py [--max_frames 250] [--refine]

Per clip (../shared/data/real-corpus/clips, all 48, and ../shared/data/real-clips, 20; nothing is trained
or tuned here, so reporting on test speakers is allowed): detection rate (Haar tracked face found; mesh
found), jitter, the audio-visual signal and speed on one thread.

- jitter, mesh: median frame-to-frame motion of the stable points (eye corners, nose bridge) / face scale;
  crop jitter: median frame-to-frame motion of the crop centre / crop side, for Haar's mouth box and for
  the aligned lower-face crop (what a visual encoder sees shake).
- AV signal: Pearson correlation, per clip, of a mouth feature with the speech log-energy per video frame,
  the best of lags -1, 0, +1 frames; the table gives the median over clips. Opening features: mesh
  inner-lip and outer-lip opening (lip_geometry); for the crops, darkness (255 - mean grey of the mouth
  region: an open mouth is dark, unless teeth show). Motion features: |d inner opening / dt| for the
  landmarks, mean |grey(t) - grey(t-1)| of the mouth region for the crops. "null" is the mesh inner
  opening against the audio reversed in time: what the best-of-3-lags correlation gives with no relation.
- speed: frames/s of detect_faces + crop (Haar) and detect_faces + detect_landmarks + align_lower_face
  (mesh), wall clock, cv2 and tflite on one thread.

``--calibrate`` also prints where the nose tip and chin sit below the eyes (units of face scale), the
numbers behind landmarks.LOWER_CENTER / LOWER_SIDE. Writes benchmarks/results/landmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _common import publish  # noqa: E402
from vocalens.media import faces  # noqa: E402
from vocalens.media import landmarks as L  # noqa: E402
from vocalens.media.video import iter_frames, load_audio  # noqa: E402

FPS = 25.0
SR = 16000
SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # landmark smoothing (Gaussian sigma, frames) swept post hoc


def log_energy(wav: np.ndarray, n: int) -> np.ndarray:
    hop = int(SR / FPS)
    wav = np.pad(wav, (0, max(0, n * hop - len(wav))))[: n * hop]
    return np.log(np.square(wav.reshape(n, hop)).mean(axis=1) + 1e-8)


def av_corr(feat: np.ndarray, energy: np.ndarray, signed: bool = True) -> float:
    """Best Pearson correlation over lags -1, 0, +1 frames (feature shifted against the audio); with
    ``signed=False`` the best |correlation| (crop darkness can go either way: teeth are bright)."""
    best = -1.0
    for lag in (-1, 0, 1):
        a = feat[max(0, lag) : len(feat) + min(0, lag)]
        b = energy[max(0, -lag) : len(energy) + min(0, -lag)]
        if len(a) > 3 and a.std() > 0 and b.std() > 0:
            c = float(np.corrcoef(a, b)[0, 1])
            best = max(best, c if signed else abs(c))
    return best if best > -1 else float("nan")


def centre_jitter(boxes_or_centres: np.ndarray, side: np.ndarray, ok: np.ndarray) -> float:
    c = boxes_or_centres
    both = ok[1:] & ok[:-1]
    if not both.any():
        return float("nan")
    d = np.linalg.norm(np.diff(c, axis=0), axis=1) / np.maximum(side[:-1], 1e-6)
    return float(np.median(d[both]))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1, y1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def darkness(crops: np.ndarray) -> np.ndarray:
    """255 - mean grey of the crops' central half (the open mouth is the dark part)."""
    h, w = crops.shape[1:3]
    c = crops[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].astype(np.float32).mean(axis=(1, 2, 3))
    return 255 - c


def motion(crops: np.ndarray) -> np.ndarray:
    """Mean |grey(t) - grey(t-1)| of the crops (mouth motion energy; frame 0 copies frame 1)."""
    g = crops.astype(np.float32).mean(axis=3)
    d = np.abs(np.diff(g, axis=0)).mean(axis=(1, 2))
    return np.concatenate([d[:1], d]) if len(d) else np.zeros(len(g), np.float32)


def stable_jitter(points: np.ndarray, scale: np.ndarray, ok: np.ndarray) -> float:
    p = points[:, list(L.STABLE)]
    d = np.linalg.norm(np.diff(p, axis=0), axis=2).mean(axis=1) / scale[1:]
    both = ok[1:] & ok[:-1]
    return float(np.median(d[both])) if both.any() else float("nan")


def smoothed(lm: L.LandmarkTrack, sigma: float) -> L.LandmarkTrack:
    pts = gaussian_filter1d(lm.points, sigma, axis=0, mode="nearest") if sigma > 0 and lm.found.any() else lm.points
    return L.LandmarkTrack(points=pts.astype(np.float32), found=lm.found, track=lm.track, backend=lm.backend)


def lower_mouth_box(size: int) -> tuple[slice, slice]:
    """Where the mouth sits in the aligned lower-face crop (mouth corners ~1.0 face scale below the eyes)."""
    y = (1.0 - (L.LOWER_CENTER - L.LOWER_SIDE / 2)) / L.LOWER_SIDE * size
    half = 0.2 * size
    return slice(int(y - half), int(y + half)), slice(int(size / 2 - 1.5 * half), int(size / 2 + 1.5 * half))


DLIB_STABLE = (36, 39, 42, 45, 27, 28)  # iBUG 68: eye corners, nose bridge


def dlib_front_end(frames: np.ndarray, track: faces.FaceTrack, predictor) -> dict:
    """dlib's 68-point shape predictor inside the same face track: jitter and lip features like the mesh's."""
    import dlib  # noqa: PLC0415

    pts = np.zeros((len(frames), 68, 2), np.float32)
    for i, (f, b) in enumerate(zip(frames, track.boxes)):
        sh = predictor(f, dlib.rectangle(int(b[0]), int(b[1]), int(b[2]), int(b[3])))
        pts[i] = [(q.x, q.y) for q in sh.parts()]
    out = {}
    for key, p in (("raw", pts), ("smooth", gaussian_filter1d(pts, 1.0, axis=0, mode="nearest"))):
        el, er = p[:, 36:42].mean(1), p[:, 42:48].mean(1)
        em = np.linalg.norm((p[:, 48] + p[:, 54]) / 2 - (el + er) / 2, axis=1)
        s = gaussian_filter1d((np.linalg.norm(er - el, axis=1) + em) / 2, 5.0, mode="nearest")
        d = np.linalg.norm(np.diff(p[:, list(DLIB_STABLE)], axis=0), axis=2).mean(1) / s[1:]
        both = track.found[1:] & track.found[:-1]
        out[key + "_jit"] = float(np.median(d[both])) if both.any() else float("nan")
        out[key + "_inner"] = np.linalg.norm(p[:, 62] - p[:, 66], axis=1) / s
        out[key + "_outer"] = np.linalg.norm(p[:, 51] - p[:, 57], axis=1) / s
    return out


def small_faces(clips: Path, out: Path) -> None:
    """A GRID face shrunk and pasted into a grey 1920x1080 frame: found by the 240 px full-frame pass
    (``get_detector``) vs ``detect_multiscale``, per detector and face size (10 frames each)."""
    frames = np.stack(list(itertools.islice(iter_frames(clips / "LipNet__bbaf2n.mpg", FPS), 10)))
    base = faces.detect_faces(frames, detector="haar")
    side0 = float(np.median(base.boxes[:, 2] - base.boxes[:, 0]))
    names = ["haar"] + (["mediapipe"] if faces.mediapipe_available() else [])
    lines = [
        "## Small faces in 1080p",
        "",
        "`python benchmarks/bench_landmarks.py --small_faces`: a GRID face "
        "(LipNet__bbaf2n, 10 frames) shrunk and pasted at (1200, 600) into a grey 1920x1080 frame; share of frames "
        "where the full-frame pass (240 px) / `detect_multiscale` finds it.",
        "",
        "| face box | " + " | ".join(f"{n} full frame | {n} multiscale" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    for scale in (1.0, 0.75, 0.5, 0.35):
        small = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in frames])
        canvas = np.full((len(frames), 1080, 1920, 3), 90, np.uint8)
        h, w = small.shape[1:3]
        canvas[:, 600 : 600 + h, 1200 : 1200 + w] = small
        cells = []
        for n in names:
            d = faces.get_detector(n)
            cells += [
                f"{np.mean([d(f) is not None for f in canvas]):.0%}",
                f"{np.mean([faces.detect_multiscale(d, f) is not None for f in canvas]):.0%}",
            ]
        lines.append(f"| ~{side0 * scale:.0f} px | " + " | ".join(cells) + " |")
    publish(lines, out)


def clip_list(corpus: Path, clips: Path) -> list[tuple[str, str, Path]]:
    out = []
    tsv = corpus / "clips.tsv"
    if tsv.is_file():
        with open(tsv) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                out.append(("corpus", r["split"], corpus / "clips" / r["name"]))
    if clips.is_dir():
        out += [("real-clips", "-", p) for p in sorted(clips.iterdir()) if p.suffix in (".mp4", ".mpg")]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "real-corpus"))
    ap.add_argument("--clips", default=str(ROOT.parent / "shared" / "data" / "real-clips"))
    ap.add_argument("--max_frames", type=int, default=250, help="frames per clip from the start (10 s at 25 fps)")
    ap.add_argument("--refine", action="store_true", help="also the 478-point attention mesh")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--dlib", default="", help="path of shape_predictor_68_face_landmarks.dat: also dlib's 68 points")
    ap.add_argument("--limit", type=int, default=0, help="first N clips only (quick check)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "landmarks.md"))
    ap.add_argument(
        "--small_faces",
        action="store_true",
        help="only the small-faces-in-1080p table (benchmarks/results/landmarks_small_faces.md)",
    )
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.small_faces:
        small_faces(Path(args.clips), ROOT / "benchmarks" / "results" / "landmarks_small_faces.md")
        return 0
    clips = clip_list(Path(args.corpus), Path(args.clips))
    if args.limit:
        clips = clips[: args.limit]
    if not clips:
        print("no real clips found; nothing to measure", file=sys.stderr)
        return 1
    variants = [("mesh", False)] + ([("mesh refine", True)] if args.refine else [])
    predictor = None
    if args.dlib:  # dlib-bin + face-recognition-models installed beside the venv (see docs/faces.md)
        import dlib  # noqa: PLC0415

        predictor = dlib.shape_predictor(args.dlib)
    rows, calib = [], []
    ms = lower_mouth_box(96)
    for src, split, path in clips:
        frames = np.stack(list(itertools.islice(iter_frames(path, FPS), args.max_frames)))
        n = len(frames)
        try:
            energy = log_energy(load_audio(path, SR), n)
        except Exception:  # noqa: BLE001 - a clip without audio still counts for detection and speed
            energy = None
        r = {"src": src, "split": split, "clip": path.name, "size": f"{frames.shape[2]}x{frames.shape[1]}", "n": n}
        # today: Haar box, fixed-fraction mouth crop
        t0 = time.perf_counter()
        tr_h = faces.detect_faces(frames, detector="haar")
        mouths = faces.crop_mouths(frames, tr_h)
        r["haar_s"] = time.perf_counter() - t0
        r["haar_found"] = tr_h.found_ratio
        mb = faces.mouth_boxes(tr_h.boxes)
        r["haar_crop_jit"] = centre_jitter((mb[:, :2] + mb[:, 2:]) / 2, mb[:, 2] - mb[:, 0], tr_h.found)
        r["face_side"] = (
            float(np.median(tr_h.boxes[tr_h.found, 3] - tr_h.boxes[tr_h.found, 1]) / frames.shape[1])
            if tr_h.found.any()
            else float("nan")
        )
        if energy is not None and tr_h.found.sum() > 3:
            okh = tr_h.found
            r["haar_av"] = av_corr(darkness(mouths)[okh], energy[okh])
            r["haar_av_motion"] = av_corr(motion(mouths)[okh], energy[okh])
        for name, refine in variants:
            t0 = time.perf_counter()
            tr = faces.detect_faces(frames, detector="auto")
            t1 = time.perf_counter()
            raw = L.detect_landmarks(frames, tr, smooth=0.0, refine=refine)
            t2 = time.perf_counter()
            lm = smoothed(raw, 1.0)  # what detect_landmarks returns by default
            lower = L.align_lower_face(frames, lm, 96)
            t3 = time.perf_counter()
            r[name + "_det_s"], r[name + "_mesh_s"], r[name + "_s"] = t1 - t0, t2 - t1, t3 - t0
            r[name + "_found"] = lm.found_ratio
            both = tr.found & tr_h.found
            r["iou"] = float(np.median(box_iou(tr.boxes[both], tr_h.boxes[both]))) if both.any() else float("nan")
            r[name + "_face_found"] = tr.found_ratio
            ok = lm.found
            s = L.face_scale(lm) if ok.any() else np.ones(n)
            r[name + "_jit_raw"] = stable_jitter(raw.points, s, ok)
            r[name + "_jit"] = stable_jitter(lm.points, s, ok)
            if ok.any():
                mats = L.lower_face_matrices(lm, 96)
                cen = L.transform_points(
                    np.full((n, 1, 2), 48.0, np.float32), np.stack([cv2.invertAffineTransform(m) for m in mats])
                )[:, 0]
                r[name + "_crop_jit"] = centre_jitter(cen, L.LOWER_SIDE * s, ok)
            else:
                r[name + "_crop_jit"] = float("nan")
            if energy is not None and ok.sum() > 3:
                geo_raw, geo = L.lip_geometry(raw), L.lip_geometry(lm)
                r[name + "_av_inner_raw"] = av_corr(geo_raw[ok, 0], energy[ok])
                r[name + "_av_inner"] = av_corr(geo[ok, 0], energy[ok])
                r[name + "_av_outer"] = av_corr(geo[ok, 1], energy[ok])
                r[name + "_av_motion"] = av_corr(np.abs(geo[ok, 3]), energy[ok])
                r[name + "_av_crop"] = av_corr(darkness(lower[:, ms[0], ms[1]])[ok], energy[ok])
                r[name + "_av_crop_motion"] = av_corr(motion(lower[:, ms[0], ms[1]])[ok], energy[ok])
                r[name + "_av_null"] = av_corr(geo[ok, 0], energy[ok][::-1])  # audio reversed: no relation
            if not refine and energy is not None and ok.sum() > 3:  # how much smoothing: jitter vs lip signal
                for sig in SIGMAS:
                    o = smoothed(raw, sig)
                    r[f"sweep_jit_{sig}"] = stable_jitter(o.points, s, ok)
                    r[f"sweep_av_{sig}"] = av_corr(L.lip_geometry(o)[ok, 0], energy[ok])
            if args.calibrate and ok.any() and not refine:
                p = lm.points.astype(np.float64)
                el, er = L._mid(p, L.EYE_L), L._mid(p, L.EYE_R)
                ang = np.arctan2((er - el)[:, 1], (er - el)[:, 0])
                down = np.stack([-np.sin(ang), np.cos(ang)], 1)
                ec = (el + er) / 2
                rel = lambda k: np.einsum("ti,ti->t", p[:, k] - ec, down) / s  # noqa: E731
                calib.append(np.stack([rel(L.NOSE_TIP), rel(L.CHIN)], 1)[ok])
        if predictor is not None:
            t0 = time.perf_counter()
            tr = faces.detect_faces(frames, detector="auto")
            dl = dlib_front_end(frames, tr, predictor)
            r["dlib_s"] = time.perf_counter() - t0
            r["dlib_found"] = tr.found_ratio
            r["dlib_jit_raw"], r["dlib_jit"] = dl["raw_jit"], dl["smooth_jit"]
            ok = tr.found
            if energy is not None and ok.sum() > 3:
                r["dlib_av_inner_raw"] = av_corr(dl["raw_inner"][ok], energy[ok])
                r["dlib_av_inner"] = av_corr(dl["smooth_inner"][ok], energy[ok])
                r["dlib_av_outer"] = av_corr(dl["smooth_outer"][ok], energy[ok])
                r["dlib_av_motion"] = av_corr(np.abs(np.gradient(dl["smooth_inner"]))[ok], energy[ok])
        rows.append(r)
        print(
            f"{path.name[:60]:60s} {r['size']:>9s} haar {r['haar_found']:.2f} mesh {r['mesh_found']:.2f} "
            f"av haar {r.get('haar_av', float('nan')):.2f} inner {r.get('mesh_av_inner', float('nan')):.2f} "
            f"{n / r['mesh_s']:.0f} fps",
            file=sys.stderr,
            flush=True,
        )
    write(rows, variants, calib, args)
    return 0


def med(rows, k):
    v = np.array([r.get(k, np.nan) for r in rows], np.float64)
    return float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")


def write(rows, variants, calib, args) -> None:
    frames = sum(r["n"] for r in rows)
    nclip = len(rows)
    with_audio = sum(np.isfinite(r.get("mesh_av_inner", np.nan)) for r in rows)
    cols = [
        "found",
        "clips90",
        "jit",
        "crop_jit",
        "av_inner",
        "av_outer",
        "av_motion",
        "av_crop",
        "av_crop_motion",
        "av_n",
        "fps",
    ]

    def cell(k, v):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "-"
        return (
            v if isinstance(v, str) else f"{v:.4f}" if k.endswith("jit") else f"{v:.3f}" if k != "fps" else f"{v:.0f}"
        )

    def line(label, **v):
        return f"| {label} | " + " | ".join(cell(k, v.get(k)) for k in cols) + " |"

    def found(key):
        f = [r[key] for r in rows]
        return dict(found=float(np.mean(f)), clips90=f"{sum(x >= 0.9 for x in f)}/{nclip}")

    def n_av(key):
        return f"{sum(np.isfinite(r.get(key, np.nan)) for r in rows)}"

    lines = [
        "## Face landmarks (mediapipe face mesh) vs Haar + fixed-fraction mouth crop",
        "",
        f"`OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_landmarks.py --max_frames {args.max_frames}"
        f"{' --refine' if args.refine else ''}{' --calibrate' if args.calibrate else ''}"
        f"{' --dlib ...' if args.dlib else ''}`: {nclip} clips (real-corpus/clips + real-clips), first "
        f"{args.max_frames} frames each at 25 fps, {frames} frames, {with_audio} clips with audio. Medians over clips "
        "(found: mean). AV: Pearson correlation of the feature with speech log-energy per frame, best of lags -1/0/+1, "
        "on the frames with a face; 'AV clips' = clips where it could be computed. One thread; the 2-core machine "
        "was shared with other jobs, so frames/s are wall clock under load (compare within the table).",
        "",
        "| front end | found | clips >= 90 % | stable-point jitter (/ face scale) | crop jitter (/ crop side) | "
        "AV: inner lip | AV: outer lip | AV: lip motion | AV: crop darkness | AV: crop motion | AV clips | frames/s |",
        "|---|" + "---|" * len(cols),
    ]
    hs = sum(r["haar_s"] for r in rows)
    lines.append(
        line(
            "haar + fixed-fraction mouth crop (today)",
            **found("haar_found"),
            crop_jit=med(rows, "haar_crop_jit"),
            av_crop=med(rows, "haar_av"),
            av_crop_motion=med(rows, "haar_av_motion"),
            av_n=n_av("haar_av"),
            fps=frames / hs,
        )
    )
    for name, _ in variants:
        s = sum(r[name + "_s"] for r in rows)
        lines.append(
            line(
                f"{name}, no smoothing",
                **found(name + "_found"),
                jit=med(rows, name + "_jit_raw"),
                av_inner=med(rows, name + "_av_inner_raw"),
                av_n=n_av(name + "_av_inner_raw"),
            )
        )
        lines.append(
            line(
                f"{name} (default: smooth 1 frame) + aligned lower-face crop",
                **found(name + "_found"),
                jit=med(rows, name + "_jit"),
                crop_jit=med(rows, name + "_crop_jit"),
                av_inner=med(rows, name + "_av_inner"),
                av_outer=med(rows, name + "_av_outer"),
                av_motion=med(rows, name + "_av_motion"),
                av_crop=med(rows, name + "_av_crop"),
                av_crop_motion=med(rows, name + "_av_crop_motion"),
                av_n=n_av(name + "_av_inner"),
                fps=frames / s,
            )
        )
    if "dlib_s" in rows[0]:
        s = sum(r["dlib_s"] for r in rows)
        lines.append(
            line(
                "dlib 68 points in the same face track, no smoothing",
                **found("dlib_found"),
                jit=med(rows, "dlib_jit_raw"),
                av_inner=med(rows, "dlib_av_inner_raw"),
                av_n=n_av("dlib_av_inner_raw"),
            )
        )
        lines.append(
            line(
                "dlib 68 points, smooth 1 frame",
                **found("dlib_found"),
                jit=med(rows, "dlib_jit"),
                av_inner=med(rows, "dlib_av_inner"),
                av_outer=med(rows, "dlib_av_outer"),
                av_motion=med(rows, "dlib_av_motion"),
                av_n=n_av("dlib_av_inner"),
                fps=frames / s,
            )
        )
    lines += [
        "",
        "Landmark smoothing (Gaussian sigma in frames; default 1): stable-point jitter and AV inner lip, medians:",
        "",
        "| sigma | " + " | ".join(str(g) for g in SIGMAS) + " |",
        "|---|" + "---|" * len(SIGMAS),
        "| jitter | " + " | ".join(f"{med(rows, f'sweep_jit_{g}'):.4f}" for g in SIGMAS) + " |",
        "| AV inner lip | " + " | ".join(f"{med(rows, f'sweep_av_{g}'):.3f}" for g in SIGMAS) + " |",
    ]
    name = variants[0][0]
    det = sum(r[name + "_det_s"] for r in rows)
    mesh = sum(r[name + "_mesh_s"] for r in rows)
    lines += [
        "",
        f"No relation (mesh inner lip against the audio reversed in time, same best-of-3-lags): median "
        f"{med(rows, name + '_av_null'):+.3f}.",
        "",
        f"Time split of the mesh front end: detect_faces (auto = mediapipe BlazeFace, stride 5) "
        f"{frames / det:.0f} frames/s, face mesh on the crops {frames / mesh:.0f} frames/s, the rest is alignment.",
        "",
        "Per clip (face = median Haar box height / frame height; IoU: median over frames where both track a face):",
        "",
        "| set | split | clip | size | face | haar found | mesh found | haar vs mediapipe box IoU | "
        "AV haar crop darkness | "
        "AV haar crop motion | AV mesh inner lip | AV mesh lip motion | mesh jitter | mesh frames/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    f2 = lambda v: "-" if not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r['src']} | {r['split']} | {r['clip']} | {r['size']} | {f2(r['face_side'])} | {r['haar_found']:.2f} | "
            f"{r['mesh_found']:.2f} | {f2(r.get('iou', np.nan))} | {f2(r.get('haar_av', np.nan))} | "
            f"{f2(r.get('haar_av_motion', np.nan))} | "
            f"{f2(r.get('mesh_av_inner', np.nan))} | {f2(r.get('mesh_av_motion', np.nan))} | "
            f"{r['mesh_jit']:.4f} | {r['n'] / r['mesh_s']:.0f} |"
        )
    if calib:
        c = np.concatenate(calib)
        q = lambda k: f"{np.median(c[:, k]):.2f} [{np.percentile(c[:, k], 10):.2f}-{np.percentile(c[:, k], 90):.2f}]"  # noqa: E731
        lines += [
            "",
            f"Calibration (below the eye midpoint, face scales, median [10th-90th]): nose tip {q(0)}, "
            f"chin {q(1)} (97th percentile {np.percentile(c[:, 1], 97):.2f}); "
            f"crop spans {L.LOWER_CENTER - L.LOWER_SIDE / 2:.2f} to {L.LOWER_CENTER + L.LOWER_SIDE / 2:.2f}.",
        ]
    publish(lines, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
