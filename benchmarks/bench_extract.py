"""Benchmark `vocalens extract` and measure the audio-visual signal of the default features.

    PYTHONPATH=src python benchmarks/bench_extract.py              # speed + A/V signal
    PYTHONPATH=src python benchmarks/bench_extract.py --only speed # or: signal

Speed: 224x224 25 fps videos with speech (made from ../shared/data/real-clips when present,
else synthetic), extracted with the default encoders. Baseline = decoding alone and the
sequential pipeline (no workers), measured in the same run. Also ViT-base / Wav2Vec2-base
forward throughput with random weights (default configs, nothing downloaded).

Signal: per real clip, the correlation between mouth proxies read off the default visual
features (motion: norm of the temporal difference; dc: mouth darkness) and the speech
log-energy per video frame, at lags -3..3 frames, plus a leave-one-clip-out linear read-out
of speech energy from all 512 visual dims.

Writes the tables to benchmarks/results/extract.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vocalens.constants import FPS
from vocalens.data.metadata import read_folder
from vocalens.encoders import build_audio_encoder, build_visual_encoder
from vocalens.localizer.extract import extract
from vocalens.media.video import load_video, write_video

ROOT = Path(__file__).resolve().parents[1]
REAL_CLIPS = ROOT.parent / "shared" / "data" / "real-clips"
RESULTS = ROOT / "benchmarks" / "results" / "extract.md"
LAGS = range(-3, 4)


def _faces_available() -> bool:
    try:
        import vocalens.media.faces  # noqa: F401

        return True
    except ImportError:
        return False


# ------------------------------------------------------------------------------------ speed


def make_videos(folder: Path, count: int, seconds: float, seed: int = 0) -> float:
    """224x224 25 fps clips with audio; real talking faces when the real clips are present."""
    rng = np.random.default_rng(seed)
    clips = sorted(p for p in REAL_CLIPS.glob("*") if p.suffix in (".mp4", ".mpg")) if REAL_CLIPS.is_dir() else []
    clips = [c for c in clips if "EAMM" not in c.name]
    total = 0.0
    n = int(seconds * FPS)
    for k in range(count):
        if clips:
            m = load_video(clips[k % len(clips)], fps=FPS, size=(224, 224))
            reps = int(np.ceil(n / m.num_frames))
            frames = np.concatenate([m.frames] * reps)[:n]
            wav = np.concatenate([m.audio] * reps)[: int(n / FPS * 16000)]
        else:  # a moving bright blob over noise, noise audio
            frames = rng.integers(0, 40, (n, 224, 224, 3), dtype=np.uint8)
            for i in range(n):
                c = 112 + int(40 * np.sin(i / 5))
                frames[i, c - 20 : c + 20, 92:132] = 200
            wav = (0.1 * rng.standard_normal(int(n / FPS * 16000))).astype(np.float32)
        write_video(folder / f"bench_{k:02d}.mp4", frames, FPS, wav)
        total += n / FPS
    return total


def _cpu() -> float:
    """CPU seconds of this process and its finished children (DataLoader workers)."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of fn()."""
    c, t = _cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t, _cpu() - c


def bench_speed(count: int, seconds: float) -> list[str]:
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video_s = make_videos(tmp / "videos", count, seconds)
        records = read_folder(tmp / "videos")
        vis, aud = build_visual_encoder("default"), build_audio_encoder("default")
        load_video(records[0].path, fps=FPS, size=(224, 224))  # warm caches

        rows.append(
            (
                "decode only (224², PyAV)",
                *_timed(lambda: [load_video(r.path, fps=FPS, size=(224, 224)) for r in records]),
            )
        )
        m = load_video(records[0].path, fps=FPS, size=(224, 224))
        rows.append(("default visual encoder only", *_timed(lambda: [vis.encode(m.frames) for _ in records])))
        rows.append(("default audio encoder only", *_timed(lambda: [aud.encode(m.audio) for _ in records])))
        runs = [("none", 0, "thread"), ("none", 1, "thread"), ("none", 1, "process")]
        if _faces_available():
            runs += [("auto", 0, "thread"), ("auto", 1, "thread"), ("auto", 1, "process")]
        for face, workers, kind in runs:
            out = tmp / f"out_{face}_{workers}_{kind}"
            summary = []
            wall, cpu = _timed(
                lambda: summary.append(
                    extract(
                        records,
                        out,
                        vis,
                        aud,
                        fps=FPS,
                        face=face,
                        labelled=False,
                        num_workers=workers,
                        worker_kind=kind,
                        progress=False,
                    )
                )
            )
            assert summary[0].done == len(records), summary[0].failures
            name = f"extract --face {face} --num_workers {workers}" + (f" --worker_kind {kind}" if workers else "")
            rows.append((name, wall, cpu))
    base = next(r[1] for r in rows if r[0].startswith("extract --face none --num_workers 0"))
    load = os.getloadavg()[0]
    lines = [
        f"Default encoders, {count} videos x {seconds:g} s (224x224, 25 fps; "
        f"{'real clips' if REAL_CLIPS.is_dir() else 'synthetic'}), torch threads 2, "
        f"{video_s:g} s of video in all; {os.cpu_count()} cores, load average {load:.1f} during the run "
        "(wall times on a busy machine understate the speed; CPU s = this process + its workers).",
        "",
        "| step | wall s | x real time | CPU s | video s per CPU s | wall vs sequential --face none |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, wall, cpu in rows:
        lines.append(
            f"| {name} | {wall:.2f} | {video_s / wall:.1f}x | {cpu:.2f} | {video_s / max(cpu, 1e-9):.1f} | "
            f"{base / wall:.2f} |"
        )
    return lines


def bench_hf(frames: int = 16, audio_s: float = 10.0, device: str = "cpu") -> list[str]:
    """ViT-base / Wav2Vec2-base forward throughput, random weights from the default configs."""
    from transformers import ViTConfig, ViTModel, Wav2Vec2Config, Wav2Vec2Model
    from transformers.utils import logging as hf_logging

    from vocalens.encoders.hf import ViTEncoder, Wav2Vec2Encoder

    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    where = "CPU, 2 threads" if device == "cpu" else f"{torch.cuda.get_device_name(0)}, bf16 autocast"
    lines = [
        "",
        f"Hugging Face base-size encoders, random weights (default ViTConfig / Wav2Vec2Config), {where}:",
        "",
        "| encoder | input | seconds | frames/s | x real time (25 fps video) |",
        "|---|---|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ViTModel(ViTConfig(), add_pooling_layer=False).save_pretrained(Path(tmp) / "vit")
        Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(Path(tmp) / "w2v")
        vit = ViTEncoder(weights=Path(tmp) / "vit", batch_size=min(frames, 64), device=device)
        faces = np.random.default_rng(0).integers(0, 256, (frames, 224, 224, 3), dtype=np.uint8)
        vit.encode(faces[:2])
        t = _time(lambda: vit.encode(faces))
        lines.append(
            f"| vit-base (CLS, 768) | {frames} frames 224² | {t:.2f} | {frames / t:.1f} | {frames / t / FPS:.2f}x |"
        )
        w2v = Wav2Vec2Encoder(weights=Path(tmp) / "w2v", device=device)
        wav = (0.1 * np.random.default_rng(0).standard_normal(int(audio_s * 16000))).astype(np.float32)
        w2v.encode(wav[:16000])
        t = _time(lambda: w2v.encode(wav))
        lines.append(
            f"| wav2vec2-base (768 @ 50 Hz) | {audio_s:g} s audio | {t:.2f} | "
            f"{audio_s * FPS / t:.1f} (video frames) | {audio_s / t:.2f}x |"
        )
    return lines


# ------------------------------------------------------------------------------------ signal


def speech_log_energy(wave: np.ndarray, num_frames: int) -> np.ndarray:
    """dB energy of the audio under each 40 ms video frame."""
    x = wave[: num_frames * 640].reshape(num_frames, 640)
    return 10 * np.log10((x.astype(np.float64) ** 2).mean(1) + 1e-10)


def lagged_r(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """corr(a[t], b[t + lag])."""
    if lag > 0:
        a, b = a[:-lag], b[lag:]
    elif lag < 0:
        a, b = a[-lag:], b[:lag]
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def clip_crops(path: Path, faces: bool):
    """Face crops as `vocalens extract --face auto` makes them, speech energy, fraction of frames with a face."""
    if faces:
        from vocalens.media.faces import crop_faces, detect_faces

        m = load_video(path, fps=FPS, max_side=640)
        track = detect_faces(m.frames, stride=5, detector="auto")
        crops, found = crop_faces(m.frames, track, size=224), float(track.found.mean())
    else:
        m = load_video(path, fps=FPS, size=(224, 224))
        crops, found = m.frames, float("nan")
    return crops, speech_log_energy(m.audio, m.num_frames), found


def bench_signal(variants: dict[str, dict]) -> list[str]:
    from sklearn.linear_model import Ridge

    torch.set_num_threads(2)
    faces = _faces_available()
    clips = sorted(p for p in REAL_CLIPS.glob("*") if p.suffix in (".mp4", ".mpg"))
    crops = {c.name: clip_crops(c, faces) for c in clips}  # decode + faces once, every variant reuses them
    lines = [
        "",
        f"A/V signal of the default visual features on {len(clips)} real clips "
        f"({'faces: vocalens.media.faces auto, crop 224' if faces else 'no face module: whole frame'}). "
        "energy = speech dB per 40 ms frame; r at lag L = corr(proxy[t], energy[t+L]). "
        "motion = L2 norm of the temporal-difference half of the features (mouth motion); "
        "dc = minus the DC coefficient of the mouth crop (darker mouth = open), lag 0; "
        "read-out = Ridge(alpha=100) from all 512 dims to z-scored energy, fitted on the other speech clips "
        "(leave-one-clip-out), r on the held-out clip at lag 0. Silent-audio clips are left out.",
        "",
    ]
    for vname, opts in variants.items():
        enc = build_visual_encoder("default", **opts)
        feats = {k: enc.encode(v[0]) for k, v in crops.items()}
        speech = [k for k in crops if crops[k][1].max() >= -60]
        lines += [
            "",
            f"**variant `{vname}`** ({opts or 'defaults'})",
            "",
            "| clip | faces | " + " | ".join(f"motion r@{lag:+d}" for lag in LAGS) + " | dc r@0 | read-out r |",
            "|---|---:|" + "---:|" * (len(LAGS) + 2),
        ]
        rows = []
        for name in speech:
            f, energy, found = feats[name], crops[name][1], crops[name][2]
            motion = np.linalg.norm(f[:, enc.dim // 2 :], axis=1)
            rs = [lagged_r(motion, energy, lag) for lag in LAGS]
            dc = lagged_r(-f[:, 0], energy, 0)
            train = [k for k in speech if k != name]
            z = lambda e: (e - e.mean()) / (e.std() + 1e-9)  # noqa: E731
            model = Ridge(alpha=100.0).fit(
                np.concatenate([feats[k] for k in train]), np.concatenate([z(crops[k][1]) for k in train])
            )
            ro = lagged_r(model.predict(f), energy, 0)
            rows.append((name, rs + [dc, ro]))
            lines.append(f"| {name} | {found:.2f} | " + " | ".join(f"{r:+.2f}" for r in rs + [dc, ro]) + " |")
        for label, keep in (
            ("mean, GRID (LipNet) clips", lambda n: n.startswith("LipNet")),
            ("mean, all speech clips", lambda n: True),
        ):
            m = np.nanmean(np.array([r for n, r in rows if keep(n)]), 0)
            lines.append(f"| **{label}** | | " + " | ".join(f"**{r:+.2f}**" for r in m) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("speed", "hf", "signal"), default=None)
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--device", default="cpu", help="for the vit/wav2vec2 throughput: cpu or cuda")
    p.add_argument(
        "--hf_frames", type=int, default=None, help="frames for the ViT timing (default 16 on CPU, 512 on GPU)"
    )
    args = p.parse_args(argv)
    lines = ["# Extraction benchmark", "", "`PYTHONPATH=src python benchmarks/bench_extract.py`", ""]
    if args.only in (None, "speed"):
        lines += bench_speed(args.videos, args.seconds)
    if args.only in (None, "hf"):
        lines += bench_hf(
            args.hf_frames or (16 if args.device == "cpu" else 512), 10.0 if args.device == "cpu" else 60.0, args.device
        )
    if args.only in (None, "signal"):
        if REAL_CLIPS.is_dir():
            lines += bench_signal(
                {
                    "default": {},
                    "wider, lower box": {"mouth_box": (0.55, 0.95, 0.22, 0.78)},
                    "detrended over 1 s": {"detrend": 25},
                }
            )
        else:
            lines += ["", f"A/V signal: skipped ({REAL_CLIPS} not present)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.only is None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
