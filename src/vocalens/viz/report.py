"""An HTML report from evaluation (or inference) results: summary figure, per-video figures and the
metrics table, all in one folder that can be opened or shared as is."""

from __future__ import annotations

import html
import math
from pathlib import Path

from vocalens.viz.plots import plot_summary, plot_video, segments_at, verdict


def safe_name(video_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in video_id)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.4f}" if isinstance(x, float) else html.escape(str(x))


def metrics_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """(group, metric, value) rows of the headline metrics."""
    rows = []
    for group, key in (
        ("frame", "frame"),
        ("video (video head)", "video"),
        ("video (max of frames)", "video_max_frame"),
    ):
        for name in ("auc", "ap", "f1", "precision", "recall"):
            rows.append((group, name.upper() if len(name) <= 3 else name, _fmt(metrics[key][name])))
    loc = metrics["localization"]
    for name in ("mean", "median", "std"):
        rows.append((f"localization IoU ({loc['n_fake_videos']} fake videos)", name, _fmt(loc["iou"][name])))
    rows.append(
        (
            f"real videos ({loc['n_real_videos']})",
            "frames flagged fake (mean)",
            _fmt(loc["real_false_positive_rate"]["mean"]),
        )
    )
    for bench, title in (("lavdf", "LAV-DF"), ("av1m", "AV-Deepfake1M")):
        for k, v in metrics["temporal"][bench].items():
            rows.append((title, k, _fmt(v)))
    return rows


def _table(rows) -> str:
    body = "\n".join(
        f"<tr><td>{html.escape(g)}</td><td>{html.escape(m)}</td><td class=n>{v}</td></tr>" for g, m, v in rows
    )
    return f"<table><tr><th>group</th><th>metric</th><th>value</th></tr>\n{body}\n</table>"


def _breakdown(by: dict) -> str:
    if not by:
        return ""
    head = (
        "<tr><th>type</th><th>videos</th><th>frame AUC</th><th>frame F1</th><th>video AUC</th>"
        "<th>video acc.</th><th>IoU mean</th><th>LAV-DF AP@0.5</th><th>LAV-DF AR@100</th></tr>"
    )
    rows = [
        f"<tr><td>{html.escape(m)}</td><td class=n>{r['num_videos_of_type']}</td>"
        f"<td class=n>{_fmt(r['frame']['auc'])}</td><td class=n>{_fmt(r['frame']['f1'])}</td>"
        f"<td class=n>{_fmt(r['video']['auc'])}</td><td class=n>{_fmt(r['video']['accuracy'])}</td>"
        f"<td class=n>{_fmt(r['localization']['iou']['mean'])}</td>"
        f"<td class=n>{_fmt(r['temporal']['lavdf']['AP@0.5'])}</td>"
        f"<td class=n>{_fmt(r['temporal']['lavdf']['AR@100'])}</td></tr>"
        for m, r in by.items()
    ]
    return (
        "<h2>By manipulation</h2><p>Each fake type is scored together with all real videos.</p>"
        f"<table>{head}{''.join(rows)}</table>"
    )


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}
td.n{text-align:right;font-family:monospace}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.fig{margin-bottom:2em}"""


def write_report(
    results: dict,
    output_dir: str | Path,
    threshold: float | None = None,
    fps: float | None = None,
    max_videos: int = 20,
    progress: bool = True,
) -> dict[str, Path | list[Path]]:
    """summary_statistics.png, one PNG per video (the first ``max_videos``) and index.html."""
    from tqdm.auto import tqdm

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    videos = results.get("videos", [])
    threshold = float(threshold if threshold is not None else results.get("threshold", 0.5))
    written: dict = {"videos": []}
    labelled = [v for v in videos if "frame_labels" in v]
    if labelled:
        written["summary"] = plot_summary(labelled, out / "summary_statistics.png")
    for v in tqdm(videos[:max_videos], desc="plots", unit="video", disable=not progress):
        written["videos"].append(plot_video(v, out / f"{safe_name(v['video_id'])}.png", threshold, fps))

    parts = [
        f"<!doctype html><meta charset=utf-8><title>vocalens report</title><style>{CSS}</style>",
        "<h1>vocalens localization report</h1>",
        f"<p>{len(videos)} videos, split <b>{html.escape(str(results.get('split', '-')))}</b>, "
        f"threshold {threshold:.4g}, checkpoint <code>{html.escape(str(results.get('checkpoint', '-')))}</code>. "
        "Video score = video head probability.</p>",
    ]
    if results.get("metrics"):
        parts += [
            "<h2>Metrics</h2>",
            _table(metrics_rows(results["metrics"])),
            _breakdown(results["metrics"].get("by_manipulation", {})),
        ]
    if "summary" in written:
        parts += ["<h2>Summary statistics</h2>", '<img src="summary_statistics.png" alt="summary statistics">']
    parts.append(f"<h2>Videos (first {len(written['videos'])} of {len(videos)})</h2>")
    for v, png in zip(videos, written["videos"]):
        segs = ", ".join(f"{s:.2f}–{e:.2f} s" for s, e, _ in segments_at(v, threshold, fps)) or "none"
        parts.append(
            f"<div class=fig><b>{html.escape(v['video_id'])}</b>: {verdict(v, threshold)} "
            f"(video prob {_fmt(v.get('video_prob'))}); predicted fake segments: {segs}<br>"
            f'<img src="{html.escape(png.name)}" alt="{html.escape(v["video_id"])}"></div>'
        )
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text("\n".join(parts) + "\n")
    tmp.replace(index)
    written["index"] = index
    return written
