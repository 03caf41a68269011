"""Figures for one video (probability / similarity over time) and for a whole evaluation.

Built on ``matplotlib.figure.Figure`` directly (no pyplot state, no display needed), so they are
safe in servers, threads and headless machines.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from vocalens.constants import FPS
from vocalens.eval.segments import format_timestamp, probs_to_segments, segments_to_seconds

TRUE_COLOR = "#d62728"
PRED_COLOR = "#ff7f0e"
PROB_COLOR = "#1f77b4"
SIM_COLOR = "#2ca02c"


def _save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=dpi)
    tmp.replace(path)
    return path


def verdict(record: dict, threshold: float) -> str:
    return "FAKE" if record.get("video_prob", 0.0) >= threshold else "REAL"


def segments_at(record: dict, threshold: float, fps: float | None = None) -> list[list[float]]:
    """Predicted segments in seconds at ``threshold``: the record's own when it was made at that
    threshold (keeping its min_length/merge_gap), else recomputed so they match the line drawn."""
    fps = float(fps or record.get("fps", FPS))
    if record.get("segments") is not None and record.get("threshold") == threshold:
        return segments_to_seconds(record["segments"], fps)
    return segments_to_seconds(probs_to_segments(record["frame_probs"], threshold), fps)


def plot_video(record: dict, path: str | Path, threshold: float = 0.5, fps: float | None = None) -> Path:
    """Fake probability with threshold, true (shaded) and predicted (bars) segments, and the
    audio-visual similarity below it, on a time axis in seconds."""
    fps = float(fps or record.get("fps", FPS))
    probs = np.asarray(record["frame_probs"], dtype=np.float64)
    T = len(probs)
    t = (np.arange(T) + 0.5) / fps
    sim = record.get("similarity")
    has_sim = sim is not None and len(sim) == T
    height = 5.2 if has_sim else 3.6
    fig = Figure(figsize=(11, height))  # fixed margins: constrained layout would double the drawing time
    fig.subplots_adjust(left=0.07, right=0.80, bottom=0.55 / height, top=1 - 0.75 / height, hspace=0.08)
    axes = fig.subplots(
        2 if has_sim else 1, 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 2]} if has_sim else None
    )[:, 0]
    true_periods = record.get("fake_periods") or []
    pred = segments_at(record, threshold, fps)

    ax = axes[0]
    for s, e in true_periods:
        for a in axes:
            a.axvspan(s, e, color=TRUE_COLOR, alpha=0.18, lw=0)
    ax.plot(t, probs, color=PROB_COLOR, lw=1.4)
    ax.axhline(threshold, color="0.3", ls="--", lw=1)
    for s, e, _ in pred:
        ax.hlines(1.06, s, e, color=PRED_COLOR, lw=6)
    ax.set_ylim(-0.02, 1.12)
    ax.set_ylabel("fake probability")
    ax.grid(alpha=0.3)
    handles = [ax.lines[0], ax.lines[1], Patch(color=PRED_COLOR, label=f"predicted fake segments ({len(pred)})")]
    handles[0].set_label("frame fake probability")
    handles[1].set_label(f"threshold {threshold:.3g}")
    if "frame_labels" in record or true_periods:
        handles.append(Patch(color=TRUE_COLOR, alpha=0.3, label=f"true fake segments ({len(true_periods)})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)

    if has_sim:
        ax2 = axes[1]
        ax2.plot(t, np.asarray(sim, dtype=np.float64), color=SIM_COLOR, lw=1.2, label="audio-visual similarity")
        ax2.set_ylabel("A/V cosine similarity")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, max(T / fps, 1e-3))

    v = verdict(record, threshold)
    title = (
        f"{record['video_id']}  —  {v}  (video prob {record.get('video_prob', float('nan')):.3f}, "
        f"max frame {record.get('video_max_prob', float(probs.max()) if T else 0.0):.3f})"
    )
    sub = []
    if record.get("manipulation") not in (None, "unknown"):
        sub.append(f"truth: {record['manipulation']}")
    iou = record.get("iou")
    if iou is not None and not (isinstance(iou, float) and math.isnan(iou)):
        sub.append(f"frame IoU {iou:.3f}, F1 {record.get('f1', float('nan')):.3f}")
    if pred:
        segs = ", ".join(f"{format_timestamp(s)}–{format_timestamp(e)}" for s, e, _ in pred[:4])
        sub.append(f"predicted: {segs}{' …' if len(pred) > 4 else ''}")
    fig.suptitle(title + ("\n" + " · ".join(sub) if sub else ""), fontsize=10)
    return _save(fig, path)


def _finite(xs) -> np.ndarray:
    a = np.asarray([np.nan if x is None else x for x in xs], dtype=np.float64)
    return a


def plot_summary(videos: Sequence[dict], path: str | Path) -> Path:
    """The seed's four panels over fake videos: IoU and F1 histograms, each against the fake ratio."""
    fake = [v for v in videos if v.get("fake_ratio", 0) and v.get("iou") is not None]
    iou = _finite([v["iou"] for v in fake])
    f1 = _finite([v["f1"] for v in fake])
    ratio = _finite([v["fake_ratio"] for v in fake])
    manip = [v.get("manipulation", "unknown") for v in fake]
    fig = Figure(figsize=(11, 8), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    bins = np.linspace(0, 1, 21)
    for ax, vals, name, col in ((a, iou, "IoU", PROB_COLOR), (b, f1, "F1", SIM_COLOR)):
        ok = vals[np.isfinite(vals)]
        ax.hist(ok, bins=bins, color=col, alpha=0.8, edgecolor="white")
        if len(ok):
            ax.axvline(ok.mean(), color="k", ls="--", lw=1, label=f"mean {ok.mean():.3f}")
            ax.axvline(np.median(ok), color="0.5", ls=":", lw=1.5, label=f"median {np.median(ok):.3f}")
            ax.legend(fontsize=8)
        ax.set_xlabel(f"frame {name} per fake video")
        ax.set_ylabel("videos")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{name} distribution ({len(ok)} fake videos)")
        ax.set_xlim(0, 1)
    colors = {"audio": "#9467bd", "visual": "#8c564b", "both": "#e377c2", "unknown": "0.4", "real": "0.6"}
    for ax, vals, name in ((c, iou, "IoU"), (d, f1, "F1")):
        for m in dict.fromkeys(manip):
            idx = np.array([x == m for x in manip])
            ax.scatter(ratio[idx], vals[idx], s=18, alpha=0.75, color=colors.get(m, "0.4"), label=m)
        ax.set_xlabel("true fake ratio (fake frames / frames)")
        ax.set_ylabel(f"frame {name}")
        ax.set_title(f"{name} vs fake ratio")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlim(0, max(1e-3, float(np.nanmax(ratio)) * 1.05) if len(ratio) else 1)
        ax.grid(alpha=0.3)
        if manip:
            ax.legend(title="manipulation", fontsize=8)
    fig.suptitle("Localization summary over fake videos", fontsize=12)
    return _save(fig, path)
