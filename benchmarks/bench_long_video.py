"""Peak memory and speed of `vocalens detect` (the shipped model) against video length: 1, 10, 60 minutes of
a 720p talking face.

The video is made once: a real talking-face clip from the shared corpus (dreamtalk, 16.6 s with its
speech), scaled to a 360 px face drifting slowly over a 1280x720 background, 1 minute encoded with x264
(ultrafast), then looped by re-muxing its packets (no re-encoding) to 10 and 60 minutes. Each run is a
fresh process; its peak RSS is the child's ``ru_maxrss`` (the kernel's high-water mark of resident
memory, not a sample). ``--old TREE`` also runs a checkout of the whole-video path (the last commit before
streaming, e.g. ``git worktree add /tmp/old 6b3b39b``) on the 1-minute video, the baseline that fits;
``--old_minutes`` / ``--old_name`` run another tree (e.g. the commit before the audio streamed) at other
lengths. ``--avff CHECKPOINT`` also runs `vocalens avff detect` at ``--avff_minutes``.

    python benchmarks/bench_long_video.py [--minutes 1 10 60] [--old /tmp/old] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from _common import publish  # noqa: E402

CLIP = Path("/work/shared/data/real-clips/dreamtalk__acknowledgement_english.mp4")
W, H, FPS, SR = 1280, 720, 25, 16000


def make_minute(path: Path) -> Path:
    """One minute of 720p: the clip's face (looped) at 360 px drifting over a grey gradient, its audio looped."""
    import av
    import cv2

    from vocalens.media.video import load_video

    src = load_video(CLIP)
    n = 60 * FPS
    bg = np.tile(np.linspace(60, 160, W, dtype=np.uint8)[None, :, None], (H, 1, 3))
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "26"}
        a_s = c.add_stream("aac", rate=SR, layout="mono")
        for i in range(n):
            j = i % (2 * src.num_frames - 2)  # forth and back: no jump at the loop point
            j = j if j < src.num_frames else 2 * src.num_frames - 2 - j
            face = cv2.resize(src.frames[j], (360, 360), interpolation=cv2.INTER_LINEAR)
            x = int(300 + 200 * np.sin(2 * np.pi * i / (20 * FPS)))
            img = bg.copy()
            img[180:540, x : x + 360] = face
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        reps = int(np.ceil(n / src.num_frames))
        wave = np.concatenate([src.audio] * reps)[: n * SR // FPS].reshape(1, -1).astype(np.float32)
        af = av.AudioFrame.from_ndarray(np.clip(wave, -1, 1), format="flt", layout="mono")
        af.sample_rate, af.pts = SR, 0
        for p in a_s.encode(af):
            c.mux(p)
        for p in a_s.encode():
            c.mux(p)
    return path


def loop(base: Path, minutes: int, path: Path) -> Path:
    """``minutes`` copies of the 1-minute ``base``, packets re-muxed with shifted timestamps (seconds to make)."""
    import av

    with av.open(str(base)) as src, av.open(str(path), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in (src.streams.video[0], src.streams.audio[0])}
        packets = [p for p in src.demux() if p.dts is not None and p.stream.index in streams]
        span = {}
        for p in packets:  # one copy's length per stream, in its own time base (from time 0: AAC priming
            span[p.stream.index] = max(span.get(p.stream.index, 0), p.pts + (p.duration or 0))  # has pts < 0)
        last = {}
        for k in range(minutes):
            for p in packets:
                i = p.stream.index
                dts = p.dts + k * span[i]
                if dts <= last.get(i, -(2**62)):  # a later copy's priming packet overlaps the copy before
                    continue
                q = av.Packet(bytes(p))
                q.pts, q.dts, last[i] = p.pts + k * span[i], dts, dts
                q.duration, q.time_base = p.duration, p.time_base
                q.is_keyframe = p.is_keyframe
                q.stream = streams[i]
                dst.mux(q)
    return path


RUN = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); rc = subprocess.call(sys.argv[1:]); "
    "print('BENCH', rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def measure(src: Path, video: Path, out: Path, avff: Path | None = None) -> dict:
    """`vocalens detect VIDEO` (or `avff detect --checkpoint AVFF`) from the tree ``src`` in a fresh
    process: wall seconds, peak RSS, frames."""
    env = dict(os.environ, PYTHONPATH=str(src), HF_HUB_OFFLINE="1")
    sub = ["avff", "detect", "--checkpoint", str(avff), "--no_plot"] if avff else ["detect"]
    cmd = [sys.executable, "-c", RUN, sys.executable, "-m", "vocalens", *sub, str(video), "--output_dir", str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = [x for x in res.stdout.splitlines() if x.startswith("BENCH")]
    if not line or line[0].split()[1] != "0":
        raise RuntimeError(f"detect failed on {video}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    _, _, wall, rss_kb = line[0].split()
    det = json.loads((out / "detections.json").read_text())
    d = det[0] if isinstance(det, list) else (det.get("videos") or det.get("results") or [det])[0]
    frames = int(round(float(d["duration"]) * FPS))
    return {"wall": float(wall), "rss_mb": int(rss_kb) / 1024, "frames": frames, "verdict": d.get("verdict")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, nargs="+", default=[1, 10, 60])
    ap.add_argument("--old", type=Path, help="a checkout of the whole-video path (run at 1 minute only)")
    ap.add_argument("--old_minutes", type=int, nargs="+", default=[1], help="lengths to run --old at")
    ap.add_argument("--old_name", default="whole video (old)", help="the --old tree's row name")
    ap.add_argument("--avff", type=Path, help="an AVFF checkpoint: also run `vocalens avff detect`")
    ap.add_argument("--avff_minutes", type=int, nargs="+", default=[10], help="lengths to run --avff at")
    ap.add_argument("--note", default="", help="a sentence for the table's text (what --old and --avff are)")
    ap.add_argument("--work", type=Path, help="folder for the videos and outputs (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "long_video.md")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="vocalens-long-"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / "720p_1min.mp4"
    if not base.is_file():
        t = time.perf_counter()
        make_minute(base)
        print(f"made {base} in {time.perf_counter() - t:.0f} s", flush=True)
    rows = []
    load0 = os.getloadavg()[0]
    for m in sorted(set(args.minutes) | (set(args.avff_minutes) if args.avff else set())):
        video = base if m == 1 else work / f"720p_{m}min.mp4"
        if not video.is_file():
            loop(base, m, video)
        runs = [("streamed (this tree)", ROOT / "src", None)] if m in args.minutes else []
        if args.old is not None and m in args.old_minutes:
            runs.append((args.old_name, args.old / "src", None))
        if args.avff is not None and m in args.avff_minutes:
            runs.append(("`avff detect` (this tree)", ROOT / "src", args.avff))
        for k, (name, src, avff) in enumerate(runs):
            r = measure(src, video, work / f"out_{m}_{k}", avff)
            rows.append((m, name, r))
            print(f"{m} min, {name}: {r}", flush=True)
    load1 = os.getloadavg()[0]
    lines = [
        "## Long videos: `vocalens detect` memory and speed against length",
        "",
        f"`python benchmarks/bench_long_video.py --minutes {' '.join(map(str, args.minutes))}"
        + (f" --old OLD_TREE --old_minutes {' '.join(map(str, args.old_minutes))}" if args.old else "")
        + (f" --avff CHECKPOINT --avff_minutes {' '.join(map(str, args.avff_minutes))}" if args.avff else "")
        + "`: the shipped model (sync encoders, face auto) on a 1280x720 25 fps talking face (a real clip's face at "
        "360 px, looped); each run a fresh process, peak RSS its `ru_maxrss`. "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, niceness {os.nice(0)}. "
        f"Load average {load0:.1f} at the start, {load1:.1f} at the end (2 cores shared with other jobs: "
        "wall times are inflated by it)." + (f" {args.note}" if args.note else ""),
        "",
        "| minutes | path | frames | wall s | frames/s | x real time | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, name, r in rows:
        fps = r["frames"] / r["wall"]
        lines.append(
            f"| {m} | {name} | {r['frames']} | {r['wall']:.0f} | {fps:.0f} | {fps / FPS:.2f} | {r['rss_mb']:.0f} |"
        )
    publish(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
