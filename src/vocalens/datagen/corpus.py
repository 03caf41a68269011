"""Real recordings -> per-split folders of short source videos, ready for ``forge`` / ``splice``.

The real corpus (``../shared/data/real-corpus``) lists each clip with a by-speaker split in
``clips.tsv``. Its clips run 1.7-71 s; forge and the localizer learn more from many short sources
than from a few long ones, so each clip is cut into pieces of at most ``chunk_s`` seconds on the
25 fps / 16 kHz grid (the last piece is merged into the one before it when shorter than
``min_s``). Pieces keep their clip's split, so the split stays by speaker. Each piece is written
atomically and a finished piece is never rewritten, so a killed run resumes.

    prepare_sources("../shared/data/real-corpus", "runs/default/sources", splits=("train", "dev"))
    # -> runs/default/sources/train/<clip>__c00.mp4 ...  and  .../dev/...

Extra folders (``extra=[("train", "../shared/data/real-clips")]``) add every video in them to a split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vocalens.data.metadata import VIDEO_EXTENSIONS
from vocalens.errors import MediaError, UserError
from vocalens.media.video import SAMPLE_RATE, fit_length, iter_frames, load_audio, write_video

FPS = 25


@dataclass
class CorpusClip:
    path: Path
    split: str
    speaker: str


@dataclass
class PrepareSummary:
    written: int = 0
    reused: int = 0
    skipped: list[str] = field(default_factory=list)  # "PATH: why" for clips that could not be used
    counts: dict = field(default_factory=dict)  # split -> pieces


def read_corpus(corpus_dir: str | Path, splits=("train", "dev", "test")) -> list[CorpusClip]:
    """The clips of ``clips.tsv`` whose split is in ``splits`` (files that are missing are an error)."""
    root = Path(corpus_dir)
    table = root / "clips.tsv"
    if not table.is_file():
        raise UserError(f"{table}: not found (expected the real corpus's clip table)")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"name", "split", "speaker_id"} <= set(rows[0]):
        raise UserError(f"{table}: needs the columns name, split, speaker_id")
    clips = [CorpusClip(root / "clips" / r["name"], r["split"], r["speaker_id"]) for r in rows if r["split"] in splits]
    for c in clips:
        if not c.path.is_file():
            raise UserError(f"{c.path}: listed in {table} but missing")
    return clips


def folder_clips(folder: str | Path, split: str) -> list[CorpusClip]:
    d = Path(folder)
    if not d.is_dir():
        raise UserError(f"{d}: not a folder of videos")
    return [
        CorpusClip(p, split, p.stem)
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    ]


def link_short(corpus_dir: str | Path, output_dir: str | Path, n: int) -> int:
    """Symlink the first ``n`` clips of ``real-corpus/short`` (sorted by name) into ``output_dir``: they are
    1.0-1.3 s already, so forge can read them as they are. Returns how many are linked."""
    src = Path(corpus_dir) / "short"
    if n <= 0:
        return 0
    if not src.is_dir():
        raise UserError(f"{src}: not found (the corpus's short clips)")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clips = sorted(p for p in src.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)[:n]
    for p in clips:
        link = out / p.name
        if not link.is_symlink():
            link.symlink_to(p.resolve())
    return len(clips)


def chunk_bounds(num_frames: int, chunk: int, min_len: int) -> list[tuple[int, int]]:
    """[s, e) frame ranges of at most ``chunk`` frames; a tail shorter than ``min_len`` joins the piece before."""
    bounds = [(s, min(s + chunk, num_frames)) for s in range(0, num_frames, chunk)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_len:
        bounds[-2] = (bounds[-2][0], bounds[-1][1])
        bounds.pop()
    return bounds


def _cut_clip(clip: CorpusClip, out_dir: Path, chunk: int, min_len: int, max_side: int) -> tuple[int, int]:
    """Write the pieces of one clip; returns (written, reused)."""
    stem = clip.path.stem
    done = sorted(out_dir.glob(f"{stem}__c*.mp4"))
    marker = out_dir / f".{stem}.done"
    if marker.exists():
        return 0, len(done)
    frames = np.stack(list(iter_frames(clip.path, FPS, max_side=max_side)))
    audio = fit_length(load_audio(clip.path, SAMPLE_RATE), int(round(len(frames) / FPS * SAMPLE_RATE)))
    spf = SAMPLE_RATE // FPS
    bounds = chunk_bounds(len(frames), chunk, min_len)
    for i, (s, e) in enumerate(bounds):
        write_video(out_dir / f"{stem}__c{i:02d}.mp4", frames[s:e], FPS, audio[s * spf : e * spf], crf=18)
    marker.touch()
    return len(bounds), 0


def prepare_sources(
    corpus_dir: str | Path | None,
    output_dir: str | Path,
    *,
    splits=("train", "dev"),
    extra: list[tuple[str, str | Path]] = (),
    chunk_s: float = 8.0,
    min_s: float = 2.0,
    max_side: int = 360,
    progress: bool = True,
) -> PrepareSummary:
    """Cut the corpus clips of ``splits`` (and every video in each ``extra`` folder) into pieces under
    ``output_dir/{split}/``. Clips shorter than ``min_s`` are kept whole; undecodable ones are skipped."""
    clips = read_corpus(corpus_dir, splits) if corpus_dir is not None else []
    for split, folder in extra:
        clips += folder_clips(folder, split)
    out = Path(output_dir)
    chunk, min_len = int(round(chunk_s * FPS)), int(round(min_s * FPS))
    summary = PrepareSummary()
    for clip in tqdm(clips, desc="sources", unit="clip", disable=not progress):
        d = out / clip.split
        d.mkdir(parents=True, exist_ok=True)
        try:
            w, r = _cut_clip(clip, d, chunk, min_len, max_side)
        except MediaError as e:
            summary.skipped.append(str(e))
            continue
        summary.written += w
        summary.reused += r
        summary.counts[clip.split] = summary.counts.get(clip.split, 0) + w + r
    return summary
