"""Speed of the evaluation code: temporal AP/AR, proposals, figures.

Temporal AP/AR (vocalens.eval.metrics, numpy-vectorised per video) is timed against a plain-Python
loop implementation of the same official algorithm on the same data (the baseline; both must agree).
Seeded; prints a markdown table and writes benchmarks/results/eval.md.

    PYTHONPATH=src python benchmarks/bench_eval.py [--videos 300]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def loop_ap_ar(props, gts, ap_ious, ar_ns, ar_ious):
    """The official matching and integration, one element at a time (baseline)."""
    f32 = np.float32

    def iou(a, b):  # float32 like the officials: float64 flips IoUs that sit exactly on a threshold
        a0, a1, b0, b1 = f32(a[0]), f32(a[1]), f32(b[0]), f32(b[1])
        inter = max(min(a1, b1) - max(a0, b0), f32(0))
        return inter / (max(a1, b1) - min(a0, b0))

    ap = {}
    for t in ap_ious:
        rows, n = [], 0
        for k, g in gts.items():
            p = props.get(k, [])
            used = set()
            for gs in g:
                for j, pr in enumerate(p):
                    if j not in used and iou(pr[1:], gs) > f32(t):
                        used.add(j)
                        break
            rows += [(pr[0], j in used) for j, pr in enumerate(p)]
            n += len(g)
        rows.sort(key=lambda r: -r[0])
        curve, acc = [], 0
        for i, (_, tp) in enumerate(rows):
            acc += tp
            curve.append((acc / n, acc / (i + 1)))
        curve = [(1.0, 0.0)] + curve[::-1]
        s, ymax = 0.0, 0.0
        for i in range(len(curve) - 1):
            ymax = max(ymax, curve[i][1])
            s += abs(curve[i + 1][0] - curve[i][0]) * ymax
        ap[t] = s
    ar = {}
    for nmax in ar_ns:
        rec = []
        for t in ar_ious:
            tp = fn = 0
            for k, g in gts.items():
                p = props.get(k, [])[:nmax]
                for gs in g:
                    hit = any(iou(pr[1:], gs) > f32(t) for pr in p)
                    tp += hit
                    fn += not hit
            rec.append(tp / max(tp + fn, 1))
        ar[nmax] = sum(rec) / len(rec)
    return {"ap": ap, "ar": ar}


def make_case(n_videos, rng, fps=25.0):
    from vocalens.eval.proposals import make_proposals

    props, gts, curves = {}, {}, []
    for v in range(n_videos):
        T = 215  # LAV-DF's mean length (8.6 s)
        g = []
        lab = np.zeros(T)
        for _ in range(int(rng.integers(0, 3))):
            s = int(rng.integers(0, T - 30))
            e = s + int(rng.integers(5, 30))
            g.append([s / fps, e / fps])
            lab[s:e] = 1
        p = np.clip(np.convolve(lab * 0.7 + rng.random(T) * 0.5, np.ones(5) / 5, "same"), 0, 1)
        curves.append(p)
        gts[f"v{v}"] = g
        props[f"v{v}"] = make_proposals(p, fps)
    return props, gts, curves


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=300)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    from vocalens.eval.metrics import LAVDF_METRICS, temporal_ap_ar
    from vocalens.eval.proposals import make_proposals
    from vocalens.viz.plots import plot_video

    rng = np.random.default_rng(0)
    props, gts, curves = make_case(args.videos, rng)
    n_props = sum(len(p) for p in props.values())
    m = LAVDF_METRICS
    t_ours, ours = timed(lambda: temporal_ap_ar(props, gts, m["ap_ious"], m["ar_ns"], m["ar_ious"]))
    t_loop, loop = timed(lambda: loop_ap_ar(props, gts, m["ap_ious"], m["ar_ns"], m["ar_ious"]), repeat=1)
    diff = max(
        max(abs(ours["ap"][t] - loop["ap"][t]) for t in m["ap_ious"]),
        max(abs(ours["ar"][n] - loop["ar"][n]) for n in m["ar_ns"]),
    )
    t_prop, _ = timed(lambda: [make_proposals(c, 25.0) for c in curves[:100]])
    rec = {
        "video_id": "bench",
        "frame_probs": curves[0].tolist(),
        "similarity": (1 - curves[0]).tolist(),
        "video_prob": 0.9,
        "fps": 25.0,
        "segments": [],
        "fake_periods": gts["v0"],
    }
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        t_plot, _ = timed(lambda: [plot_video(rec, Path(d) / f"{i}.png", 0.5) for i in range(5)], repeat=1)
    rows = [
        (
            "temporal AP/AR, LAV-DF preset (loop baseline)",
            f"{args.videos} videos, {n_props} proposals",
            f"{t_loop:.3f} s",
            "1.0x",
        ),
        (
            "temporal AP/AR, LAV-DF preset (vocalens.eval.metrics)",
            f"{args.videos} videos, {n_props} proposals",
            f"{t_ours:.3f} s",
            f"{t_loop / t_ours:.1f}x",
        ),
        ("make_proposals", "100 videos x 215 frames", f"{t_prop / 100 * 1000:.2f} ms/video", ""),
        ("plot_video (PNG)", "215 frames", f"{t_plot / 5 * 1000:.0f} ms/video", ""),
    ]
    lines = ["| step | size | time | speed-up vs baseline |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines.append(f"\nmax |ours - loop baseline| over all AP/AR values: {diff:.2e}")
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).resolve().parent / "results" / "eval.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# eval\n\n`PYTHONPATH=src python benchmarks/bench_eval.py`\n\n" + table + "\n")


if __name__ == "__main__":
    main()
