"""vocalens serve on loopback: start-up, warm end-to-end latency for a 10 s clip, and a bounded load
test (uploads from several clients at once, a bad file among them) with the server's memory sampled.

    python benchmarks/bench_serve.py                       # the shipped model, else a tiny random one
    python benchmarks/bench_serve.py --checkpoint best.pth --workers 2 --clients 4 --uploads 20

The server is the real `vocalens serve` in a subprocess; clients use httpx. End to end = POST of the
file until GET answers done (upload, probe, queue, decode, faces, encoders, model, plot, poll).
Writes benchmarks/results/serve.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
from _common import publish  # noqa: E402

CLIPS = ROOT.parent / "shared" / "data" / "real-clips"
API = "/api/v1/detections"


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its worker processes (children, recursively), in MB."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except OSError:  # gone meanwhile
            continue
    return total


def ten_second_clip(out: Path) -> Path:
    """The first 10.0 s of a real talking clip (dreamtalk__acknowledgement_english.mp4, 16.6 s, speech), at 25 fps."""
    from vocalens.media.video import load_video, write_video

    m = load_video(CLIPS / "dreamtalk__acknowledgement_english.mp4", fps=25.0)
    return write_video(out, m.frames[:250], 25.0, m.audio[: 10 * m.sample_rate])


def one_job(client: httpx.Client, path: Path) -> tuple[str, float, str | None]:
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        r = client.post(API, files={"file": (path.name, f)})
    if r.status_code != 202:
        return f"http {r.status_code}", time.perf_counter() - t0, r.text[:120]
    job = r.json()["id"]
    while True:
        body = client.get(f"{API}/{job}").json()
        if body["status"] in ("done", "failed"):
            return body["status"], time.perf_counter() - t0, body.get("error")
        time.sleep(0.02)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5, help="warm latency runs (default 5)")
    ap.add_argument("--rounds", type=int, default=2, help="load rounds; RSS after each shows whether memory grows")
    ap.add_argument("--output", default=str(HERE / "results" / "serve.md"))
    args = ap.parse_args()

    from vocalens.assets import default_localizer

    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    ckpt, model = args.checkpoint, "given checkpoint"
    if ckpt is None and default_localizer() is not None:
        ckpt, model = str(default_localizer()), "the shipped default model"
    if ckpt is None:
        from serve_helpers import tiny_checkpoint

        ckpt, model = (
            str(tiny_checkpoint(tmp / "tiny.pth")),
            "a tiny random localizer (d_model 32, 1 layer; no shipped model in this build)",
        )
    clip10 = ten_second_clip(tmp / "clip10s.mp4")
    junk = tmp / "junk.mp4"
    junk.write_bytes(os.urandom(50_000))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vocalens",
            "serve",
            "--checkpoint",
            ckpt,
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--queue_size",
            str(max(16, args.uploads)),
            "--data_dir",
            str(tmp / "data"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        client = httpx.Client(base_url=base, timeout=600)
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited: {(tmp / 'server.log').read_text()[-2000:]}")
                time.sleep(0.05)
        startup = time.perf_counter() - t0
        rss = [rss_mb(proc.pid)]
        idle_rss = rss[0]
        first = one_job(client, clip10)  # warm-up (first call builds lazily-made parts)
        lat = [one_job(client, clip10) for _ in range(args.repeats)]
        assert all(s == "done" for s, _, _ in lat + [first]), lat
        warm = [t for _, t, _ in lat]

        # load: `clients` threads share `uploads` jobs over the real clips, one undecodable file among them
        clips = sorted(p for p in CLIPS.iterdir() if p.suffix in (".mp4", ".mpg"))
        work = [clips[i % len(clips)] for i in range(args.uploads - 1)] + [junk]
        results, lock, stop = [], threading.Lock(), threading.Event()

        def sampler():
            while not stop.is_set():
                rss.append(rss_mb(proc.pid))
                time.sleep(0.2)

        def client_loop(k):
            with httpx.Client(base_url=base, timeout=600) as c:
                for path in work[k :: args.clients]:
                    r = one_job(c, path)
                    with lock:
                        results.append((path.name, *r))

        threading.Thread(target=sampler, daemon=True).start()
        walls, after, peaks = [], [], []
        for _ in range(args.rounds):
            mark = len(rss)
            t1 = time.perf_counter()
            threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            walls.append(time.perf_counter() - t1)
            after.append(rss_mb(proc.pid))
            peaks.append(max(rss[mark:] + [after[-1]]))
        wall = sum(walls)
        stop.set()
        healthy = client.get("/healthz").json()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    done = sum(r[1] == "done" for r in results)
    failed = [r for r in results if r[1] == "failed"]
    other = [r for r in results if r[1] not in ("done", "failed")]
    audio_s = 0.0
    import av

    for name, *_ in results:
        if name != "junk.mp4":
            with av.open(str(CLIPS / name)) as c:
                audio_s += c.duration / 1e6
    threads_env = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        "## vocalens serve (loopback)",
        "",
        f"`python benchmarks/bench_serve.py --workers {args.workers} --clients {args.clients} --uploads {args.uploads} "
        f"--rounds {args.rounds}`; "
        f"model: {model}; OMP_NUM_THREADS={threads_env}; {os.cpu_count()} cores "
        "(shared with other work while measured).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| start-up (process start to /healthz 200, model loaded) | {startup:.1f} s |",
        f"| warm end-to-end latency, 10 s clip (250 frames, 1 face), median of {args.repeats} | "
        f"{statistics.median(warm):.2f} s (min {min(warm):.2f}, max {max(warm):.2f}) |",
        f"| first job after start-up (same clip) | {first[1]:.2f} s |",
        f"| load: {args.rounds} x {args.uploads} uploads from {args.clients} clients, {args.workers} worker(s) | "
        f"{wall:.1f} s wall, "
        f"{60 * len(results) / wall:.1f} jobs/min, {audio_s / wall:.2f} s of video per s |",
        f"| load outcome | {done} done, {len(failed)} failed cleanly, {len(other)} other |",
        f"| RSS of the server + its worker processes, idle | {idle_rss:.0f} MB |",
        "| same, peak / after, per load round | "
        + ", ".join(f"{p:.0f} / {a:.0f}" for p, a in zip(peaks, after))
        + " MB |",
        f"| /healthz after load | queued {healthy['queued']}, running {healthy['running']} |",
    ]
    if failed:
        lines += ["", "Failed jobs (expected: the random-bytes file): " + "; ".join(f"`{e}`" for *_, e in failed)]
    publish(lines, args.output)
    return 0 if not other and done + len(failed) == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
