"""Summarize a dataset (LAV-DF or AV-Deepfake1M layout, or a folder of videos) or a feature store."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from vocalens.data.metadata import SkipCounter, read_dataset


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "root",
        help="dataset root (with metadata.json / metadata.min.json), a folder of videos, or a feature store "
        "(vocalens extract's --output_root)",
    )
    p.add_argument("--metadata", default=None, help="metadata file (default: found under root)")
    p.add_argument("--skip_invalid", action="store_true", help="skip and count invalid metadata entries")


def summarize(records) -> str:
    by_split = Counter(r.split for r in records)
    by_type = Counter((r.split, r.manipulation) for r in records)
    lines = [f"{'split':<6} {'videos':>7} {'real':>6} {'audio':>6} {'visual':>7} {'both':>6} {'hours':>7} {'fake%':>6}"]
    for split in sorted(
        by_split, key=lambda s: ("train", "dev", "test").index(s) if s in ("train", "dev", "test") else 9
    ):
        recs = [r for r in records if r.split == split]
        dur = sum(r.duration or 0.0 for r in recs)
        fake = sum(e - s for r in recs for s, e in r.fake_periods)
        lines.append(
            f"{split:<6} {by_split[split]:>7} {by_type[(split, 'real')]:>6} {by_type[(split, 'audio')]:>6} "
            f"{by_type[(split, 'visual')]:>7} {by_type[(split, 'both')]:>6} {dur / 3600:>7.3f} "
            f"{100 * fake / max(dur, 1e-9):>5.1f}%"
        )
    return "\n".join(lines)


def format_store(root, summary: dict) -> str:
    """vocalens.data.store.store_summary as a table: per split videos, labels, frames, hours, fake share, dims."""
    splits = summary["splits"]
    n = sum(s["videos"] for s in splits.values())
    lines = [f"{root}: feature store, {n} videos"]
    lines.append(
        f"{'split':<6} {'videos':>7} {'frames':>9} {'hours':>7} {'fake%':>6}  labels; dims (visual/audio); encoders"
    )
    for split, s in splits.items():
        labels = ", ".join(f"{k} {v}" for k, v in sorted(s["labels"].items()))
        fake = f"{100 * s['fake_seconds'] / s['labelled_seconds']:5.1f}%" if s["labelled_seconds"] else "    --"
        dims = ", ".join(f"{k} x{v}" if len(s["dims"]) > 1 else k for k, v in s["dims"].items())
        enc = ", ".join(f"{k} x{v}" if len(s["encoders"]) > 1 else k for k, v in s["encoders"].items())
        lines.append(
            f"{split:<6} {s['videos']:>7} {s['frames']:>9} {s['seconds'] / 3600:>7.3f} {fake}  "
            f"{labels or 'none'}; {dims or '-'}; {enc or '-'}"
            + (f"; {s['unreadable']} unreadable meta.json" if s["unreadable"] else "")
        )
    if summary["failures"] or summary["skipped"]:
        lines.append(
            f"{summary['failures']} failed videos, {summary['skipped']} skipped entries in {root}/failures.jsonl"
        )
    return "\n".join(lines)


def run(args) -> int:
    from vocalens.data.store import is_store, store_summary

    if args.metadata is None and is_store(args.root):
        print(format_store(args.root, store_summary(args.root)))
        return 0
    skipped = SkipCounter()
    records = read_dataset(Path(args.root), args.metadata, skip_invalid=args.skip_invalid, skipped=skipped)
    print(f"{args.root}: {len(records)} videos")
    print(summarize(records))
    if len(skipped):
        print(f"skipped {len(skipped)} invalid entries, e.g. {skipped.skipped[0]}")
    return 0
