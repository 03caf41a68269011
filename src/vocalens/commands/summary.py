"""Summarize a dataset (LAV-DF or AV-Deepfake1M layout, or a folder of videos) or a feature store."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from vocalens.data.metadata import SkipCounter, read_dataset


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="dataset root (with metadata.json / metadata.min.json) or a folder of videos")
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


def run(args) -> int:
    skipped = SkipCounter()
    records = read_dataset(Path(args.root), args.metadata, skip_invalid=args.skip_invalid, skipped=skipped)
    print(f"{args.root}: {len(records)} videos")
    print(summarize(records))
    if len(skipped):
        print(f"skipped {len(skipped)} invalid entries, e.g. {skipped.skipped[0]}")
    return 0
