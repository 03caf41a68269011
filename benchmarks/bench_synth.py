"""Speed and fairness of `vocalens synth`; prints markdown tables and writes benchmarks/results/synth.md.

    PYTHONPATH=src python benchmarks/bench_synth.py [--num_videos 16] [--workers 2] [--check_videos 48]

Speed: the same seeded plan is rendered stage by stage in one process (speech + face rendering,
then H.264/AAC encoding), then written end to end by `synthesize` with 1 and with ``--workers``
processes. The baseline, measured in the same run, is encoding alone (writing the pre-rendered
arrays): the floor any generator that writes H.264 pays. "x real time" = seconds of video made per
wall-clock second.
Fairness: per-frame ROC AUC of cheap cues (loudness, brightness, loudness jumps) as fake-frame
detectors on ``--check_videos`` rendered videos (0.5 = chance), and the mouth/speech correlations
of `vocalens.datagen.synth.checks.sync_correlations`.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from vocalens.constants import FPS
from vocalens.constants import SAMPLE_RATE as SR
from vocalens.datagen.synth import ENCODER_PRESET, SynthConfig, plan_dataset, render_video, synthesize
from vocalens.datagen.synth.checks import cue_aucs, frame_cues, sync_correlations
from vocalens.media.video import write_video

RESULTS = Path(__file__).resolve().parent / "results" / "synth.md"


def speed(num_videos: int, seed: int, workers: int) -> str:
    cfg = SynthConfig()
    plans = plan_dataset(num_videos, seed, cfg)
    seconds = sum(p.num_frames for p in plans) / FPS
    frames = sum(p.num_frames for p in plans)
    t_render = t_encode = c_render = c_encode = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for p in plans:
            t0, c0 = time.perf_counter(), time.process_time()
            r = render_video(p, seed, cfg)
            t1, c1 = time.perf_counter(), time.process_time()
            write_video(Path(tmp) / "v.mp4", r.frames, FPS, r.audio, SR, crf=r.crf, preset=ENCODER_PRESET)
            t2, c2 = time.perf_counter(), time.process_time()
            t_render += t1 - t0
            t_encode += t2 - t1
            c_render += c1 - c0
            c_encode += c2 - c1
        ends = {}
        for w in sorted({1, workers}):
            t0 = time.perf_counter()
            synthesize(Path(tmp) / f"w{w}", num_videos, seed, workers=w, progress=False)
            ends[w] = time.perf_counter() - t0

    def row(name, secs, cpu=None):
        c = f"{cpu / num_videos:.3f}" if cpu is not None else "-"
        return (
            f"| {name} | {num_videos / secs:.2f} | {secs / num_videos:.3f} | {c} | {1000 * secs / frames:.2f} | "
            f"{seconds / secs:.1f} | {secs / t_encode:.2f} |"
        )

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"load average {load:.1f} at the end (wall times stretch with it; CPU s/video much less); "
        f"{num_videos} videos, {seconds:.0f} s of video ({frames} frames, 224x224), seed {seed}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "",
        "| stage | videos/s | s/video | CPU s/video | ms/frame | x real time | x encode-only |",
        "|---|---|---|---|---|---|---|",
        row("encode only (baseline: H.264 + AAC of pre-rendered arrays)", t_encode, c_encode),
        row("speech + face rendering only", t_render, c_render),
        row("render + encode, one process", t_render + t_encode, c_render + c_encode),
    ]
    for w, secs in ends.items():
        lines.append(row(f"`synthesize`, {w} worker{'s' if w > 1 else ''} (incl. start-up, metadata)", secs))
    return "\n".join(lines)


def fairness(check_videos: int, seed: int) -> str:
    cfg = SynthConfig()
    import cv2

    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    cues, found = [], []
    for p in plan_dataset(check_videos, seed, cfg):
        r = render_video(p, seed, cfg)
        cues.append(frame_cues(p, r))
        for img in r.frames[::10]:  # would a stock face detector see these faces? (as extract runs it)
            grey = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
            found.append(len(haar.detectMultiScale(grey, scaleFactor=1.15, minNeighbors=5, minSize=(40, 40))) > 0)
    pooled, within = cue_aucs(cues, False), cue_aucs(cues, True)
    sync = sync_correlations(cues)
    n_frames = sum(len(c["label"]) for c in cues)
    n_fake = int(sum(c["label"].sum() for c in cues))
    lines = [
        f"{check_videos} rendered videos, {n_frames} frames ({n_fake} fake), seed {seed}",
        "",
        "| cheap cue as a fake-frame score | AUC pooled | AUC within video |",
        "|---|---|---|",
    ]
    for k in pooled:
        lines.append(f"| {k.replace('_', ' ')} | {pooled[k]:.3f} | {within[k]:.3f} |")
    lines += [
        "",
        "| audio-visual signal | value |",
        "|---|---|",
        f"| corr(mouth opening, speech envelope), real videos (n={sync['n_real']}) | {sync['real']:.3f} |",
        f"| same, inside audio-replaced periods (n={sync['n_audio_fake']}) | {sync['audio_fake']:.3f} |",
        f"| corr(mouth opening, mouth-box pixel change), median | {sync['pixels']:.3f} |",
        f"| frames where OpenCV's Haar frontal-face cascade finds the face (every 10th) | {np.mean(found):.3f} |",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num_videos", type=int, default=16)
    ap.add_argument("--check_videos", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    text = (
        "## vocalens synth: speed\n\n"
        + speed(args.num_videos, args.seed, args.workers)
        + "\n\n## vocalens synth: fairness\n\n"
        + fairness(args.check_videos, args.seed)
        + "\n"
    )
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
