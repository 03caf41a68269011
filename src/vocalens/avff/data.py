"""AVFF data: which videos (LAV-DF layout, AV-Deepfake1M, a folder, or a CSV of ``path,label``), their
decoded face crops + audio cached once on disk, and torch Datasets of aligned clips.

The cache (``--cache_dir``, default ``~/.cache/vocalens/avff`` or ``$VOCALENS_CACHE``) holds, per video and
face size, ``faces.npy`` (``[T, S, S, 3]`` uint8, read memory-mapped so
a clip touches only its frames) and ``audio.npy`` (16 kHz float32), written to a temporary folder and
renamed, so killed runs never leave a half-written entry. It is bounded (``VOCALENS_CACHE_MAX_GB``, default 20):
past the bound the least recently used entries go (:func:`prune_cache`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from vocalens.avff.config import CACHE_MAX_GB, AVFFConfig
from vocalens.avff.preprocess import make_clips, normalize_faces
from vocalens.constants import FPS, SAMPLE_RATE
from vocalens.data.labels import frame_labels
from vocalens.errors import MediaError, UserError, check_file
from vocalens.media.crops import face_mode


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int  # -1: unknown
    video_id: str
    manipulation: str = "unknown"
    fake_periods: tuple = ()  # seconds; () with label 1 means "the whole video"


@dataclass
class Prepared:
    """A decoded video: face crops and audio on the same time axis."""

    faces: np.ndarray  # [T, S, S, 3] uint8 (possibly memory-mapped)
    audio: np.ndarray  # [round(T / fps * SAMPLE_RATE)] float32
    fps: float
    faces_found: float

    @property
    def num_frames(self) -> int:
        return int(self.faces.shape[0])


_LABELS = {"0": 0, "1": 1, "real": 0, "fake": 1, "true": 1, "false": 0}


def read_csv_items(path: str | Path) -> list[VideoItem]:
    """``path,label`` rows (header optional; label 0/1 or real/fake; an optional ``manipulation`` column);
    relative paths are relative to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: CSV file not found")
    with open(path, newline="") as f:
        rows = [(n, r) for n, r in enumerate(csv.reader(f), 1) if r and not r[0].startswith("#")]
    header = ["path", "label", "manipulation"]
    if rows and rows[0][1][0].strip().lower() == "path":
        header = [h.strip().lower() for h in rows[0][1]]
        rows = rows[1:]
    items = []
    for n, r in rows:
        rec = dict(zip(header, (c.strip() for c in r)))
        if "label" not in rec or rec["label"].lower() not in _LABELS:
            raise UserError(f"{path}:{n}: label must be 0/1 or real/fake, got {rec.get('label')!r}")
        p = Path(rec["path"])
        p = p if p.is_absolute() else path.parent / p
        label = _LABELS[rec["label"].lower()]
        manip = rec.get("manipulation") or ("real" if label == 0 else "unknown")
        items.append(VideoItem(p, label, "__".join(Path(rec["path"]).with_suffix("").parts), manip))
    return items


def read_items(source: str | Path, splits=None, metadata: str | None = None) -> list[VideoItem]:
    """Videos of a dataset root (LAV-DF / AV-Deepfake1M / folder) or a CSV file, with labels."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return read_csv_items(source)
    if not source.exists():
        raise UserError(f"{source}: no such dataset folder or CSV")
    from vocalens.data.metadata import read_dataset

    recs = read_dataset(source, metadata=metadata, splits=splits, check_files=False)
    has_labels = (
        (source / "metadata.json").is_file()
        or (source / "metadata.min.json").is_file()
        or metadata
        or any((source / f"{s}_metadata.json").is_file() for s in ("train", "val", "test"))
    )
    return [
        VideoItem(
            r.path,
            r.label if has_labels else -1,
            r.video_id,
            r.manipulation if has_labels else "unknown",
            tuple(r.fake_periods),
        )
        for r in recs
    ]


def _cache_key(path: Path, image_size: int, faces: str, crop: str = "face") -> str:
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{image_size}|{faces}" + (
        "" if crop == "face" else f"|{crop}"
    )
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def decode(path: str | Path, image_size: int, faces: str = "auto", fps: float = FPS, crop: str = "face") -> Prepared:
    """Decode a video and crop faces, or their ``crop`` region (``'mouth'``: the lower face) cut from a
    face crop large enough that the region comes out at ``image_size`` px (no cache). Streamed as
    `avff detect` reads a video (vocalens.avff.preprocess.stream_faces): only the crops are held."""
    from vocalens.avff.preprocess import stream_faces

    plan, audio, chunks = stream_faces(path, image_size, faces, fps, crop)
    crops = np.concatenate(list(chunks))
    found = float(np.mean(plan.found)) if plan.found is not None and len(plan.found) else 0.0
    audio = audio.take(0, int(round(len(crops) / fps * SAMPLE_RATE)))  # the streamed track, whole: a short clip
    return Prepared(crops, audio.astype(np.float32), fps, found)


def prepare(
    path: str | Path,
    image_size: int,
    cache_dir: str | Path | None,
    faces: str = "auto",
    fps: float = FPS,
    crop: str = "face",
) -> Prepared:
    """Decoded face crops + audio of one video, from the cache when present (MediaError if unreadable)."""
    path = check_file(path)
    if cache_dir is None:
        return decode(path, image_size, faces, fps, crop)
    entry = Path(cache_dir) / _cache_key(path, image_size, face_mode(faces), crop)
    try:
        os.utime(entry / "meta.json")  # last use: the cache forgets the least recently used first
    except OSError:
        p = decode(path, image_size, faces, fps, crop)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
        np.save(tmp / "faces.npy", p.faces)
        np.save(tmp / "audio.npy", p.audio)
        (tmp / "meta.json").write_text(
            json.dumps({"path": str(path), "fps": fps, "faces_found": p.faces_found, "num_frames": p.num_frames})
        )
        try:
            os.replace(tmp, entry)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
        global _last_prune
        if time.monotonic() - _last_prune > PRUNE_EVERY_S:  # a walk over the cache per minute, not per write
            _last_prune = time.monotonic()
            prune_cache(entry.parent, keep=entry.name)
    meta = json.loads((entry / "meta.json").read_text())
    return Prepared(
        np.load(entry / "faces.npy", mmap_mode="r"), np.load(entry / "audio.npy"), meta["fps"], meta["faces_found"]
    )


PRUNE_EVERY_S = 60.0  # the bound is checked on the first new entry and then at most once a minute
_last_prune = -float("inf")


def cache_max_bytes() -> int:
    """The cache's bound: ``VOCALENS_CACHE_MAX_GB`` (default 20; 0 = no bound)."""
    try:
        return int(float(os.environ.get("VOCALENS_CACHE_MAX_GB", CACHE_MAX_GB)) * 1e9)
    except ValueError:
        raise UserError(f"VOCALENS_CACHE_MAX_GB={os.environ['VOCALENS_CACHE_MAX_GB']!r}: expected a number of GB")


def prune_cache(cache_dir: str | Path, max_bytes: int | None = None, keep: str | None = None) -> list[str]:
    """Keep the decoded-video cache under ``max_bytes`` (default :func:`cache_max_bytes`): entries are removed
    least recently used first (their meta.json's mtime, touched on every use), never ``keep`` (the entry
    just written); unfinished temporary folders of killed runs older than an hour go too. Returns the
    removed names. An entry removed while another process reads it is decoded again when next needed."""
    max_bytes = cache_max_bytes() if max_bytes is None else max_bytes
    root = Path(cache_dir)
    removed, entries = [], []
    for d in root.iterdir() if root.is_dir() else ():
        if not d.is_dir():
            continue
        if d.name.startswith(".tmp-"):
            if time.time() - d.stat().st_mtime > 3600:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d.name)
            continue
        try:
            used = (d / "meta.json").stat().st_mtime
            size = sum(f.stat().st_size for f in d.iterdir())
        except OSError:  # removed meanwhile, or half-gone
            continue
        entries.append((used, size, d))
    if max_bytes <= 0:
        return removed
    total = sum(size for _, size, _ in entries)
    for _, size, d in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if d.name == keep:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d.name)
        total -= size
    return removed


def prepare_all(
    items: list[VideoItem], cfg: AVFFConfig, cache_dir, faces: str = "auto", progress: bool = True, desc: str = "decode"
) -> tuple[list[VideoItem], list[str]]:
    """Decode (and cache) every video once; broken ones are reported and left out."""
    ok, bad = [], []
    for it in tqdm(items, desc=desc, unit="video", disable=not progress):
        try:
            prepare(it.path, cfg.image_size, cache_dir, faces, cfg.fps, cfg.crop)
            ok.append(it)
        except MediaError as e:
            bad.append(str(e))
            tqdm.write(f"skipped: {e}")
    return ok, bad


def clip_fake_fraction(item: VideoItem, start: int, span: int, num_frames: int, fps: float) -> float:
    """Fraction of the clip's span ``[start, start + span)`` whose frames are fake (frame rule of
    vocalens.data.labels; frames past the video's end count as its last frame); a fake video without
    periods is fake everywhere."""
    if item.label <= 0:
        return 0.0
    if not item.fake_periods:
        return 1.0
    lab = frame_labels(item.fake_periods, num_frames, fps)
    idx = np.minimum(np.arange(start, start + span), num_frames - 1)
    return float(lab[idx].mean())


def clip_label(item: VideoItem, start: int, span: int, num_frames: int, fps: float) -> int:
    """A clip is fake when any frame of its span is fake (frame rule of vocalens.data.labels); a fake
    video without periods is fake everywhere."""
    return int(clip_fake_fraction(item, start, span, num_frames, fps) > 0)


def training_target(fake_fraction: float, label_fraction: float = 0.0) -> float:
    """Stage-2 training target of a clip: 1 when any frame is fake (``label_fraction`` 0, the project's
    rule), else ``min(1, fake_fraction / label_fraction)``: a clip with one fake frame in 32 looks
    real and gets a target near 0 instead of 1; real clips stay 0, clips at least that fake 1."""
    if label_fraction <= 0:
        return float(fake_fraction > 0)
    return float(min(1.0, fake_fraction / label_fraction))


def shifted_audio(audio: np.ndarray, shift: int) -> np.ndarray:
    """The video's audio rolled by ``shift`` samples (circular): same voice and words, wrong time."""
    return np.roll(np.asarray(audio, np.float32), int(shift))


def random_shift(num_samples: int, min_shift: int, generator: torch.Generator | None = None) -> int:
    """A circular shift in ``[min_shift, num_samples - min_shift]`` samples (so the clip's audio comes
    from at least ``min_shift`` away in either direction); ``min_shift`` itself when the audio is too short."""
    hi = num_samples - min_shift
    if hi <= min_shift:
        return min_shift
    return int(torch.randint(min_shift, hi + 1, (), generator=generator))


class ClipDataset(Dataset):
    """``clips_per_video`` aligned clips per video: random starts (``random=True``, training) or evenly
    spaced fixed starts (validation). Items: ``frames [F, 3, S, S]`` (ImageNet-normalised),
    ``wave [N]``, ``label`` (clip label, or the soft :func:`training_target` with ``label_fraction``),
    ``index`` (video index).

    Sync negatives (same face, same voice, audio from >= ``min_shift`` s away in the same video):
    ``hard_negatives`` adds ``wave_shift [N]`` (stage-1 contrastive negatives); ``shift_fake_prob``
    replaces a real clip's audio by it with that probability and labels the clip fake (stage 2)."""

    def __init__(
        self,
        items: list[VideoItem],
        cfg: AVFFConfig,
        cache_dir,
        faces: str = "auto",
        clips_per_video: int = 1,
        random: bool = True,
        flip: bool = False,
        hard_negatives: bool = False,
        shift_fake_prob: float = 0.0,
        min_shift: float = 0.4,
        label_fraction: float = 0.0,
    ):
        self.items, self.cfg, self.cache_dir, self.faces = items, cfg, cache_dir, faces
        self.label_fraction = label_fraction
        self.clips_per_video, self.random, self.flip = clips_per_video, random, flip
        self.hard_negatives, self.shift_fake_prob, self.min_shift = hard_negatives, shift_fake_prob, min_shift

    def __len__(self) -> int:
        return len(self.items) * self.clips_per_video

    def __getitem__(self, i: int) -> dict:
        c = self.cfg
        vi, j = divmod(i, self.clips_per_video)
        item = self.items[vi]
        p = prepare(item.path, c.image_size, self.cache_dir, self.faces, c.fps, c.crop)
        span = c.span_frames
        last = max(0, p.num_frames - span)
        if self.random:
            start = int(torch.randint(0, last + 1, ()))  # torch RNG: seeded per loader worker
        else:
            start = int(round(last * (j + 0.5) / self.clips_per_video)) if self.clips_per_video > 1 else last // 2
        frames, waves = make_clips(p.faces, p.audio, [start], c.num_frames, c.frame_stride, c.fps, c.sample_rate)
        x = normalize_faces(frames[0], c.image_size)
        if self.flip and float(torch.rand(())) < 0.5:
            x = x.flip(-1)
        label = training_target(clip_fake_fraction(item, start, span, p.num_frames, c.fps), self.label_fraction)
        wave = waves[0]
        out = {}
        if self.hard_negatives or self.shift_fake_prob > 0:
            g = None if self.random else torch.Generator().manual_seed(i)  # fixed validation negatives
            shift = random_shift(len(p.audio), int(round(self.min_shift * c.sample_rate)), g)
            _, w = make_clips(
                p.faces, shifted_audio(p.audio, shift), [start], c.num_frames, c.frame_stride, c.fps, c.sample_rate
            )
            if self.hard_negatives:
                out["wave_shift"] = torch.from_numpy(w[0])
            if label == 0 and self.shift_fake_prob > 0 and float(torch.rand((), generator=g)) < self.shift_fake_prob:
                wave, label = w[0], 1.0
        return {
            "frames": x,
            "wave": torch.from_numpy(np.ascontiguousarray(wave)),
            "label": torch.tensor(float(label)),
            "index": torch.tensor(vi),
            **out,
        }


def video_clips(p: Prepared, cfg: AVFFConfig, hop: int | None = None):
    """All clips tiling a prepared video: ``(starts, frames [C, F, S, S, 3] uint8, waves [C, N])``."""
    from vocalens.avff.preprocess import clip_starts

    starts = clip_starts(p.num_frames, cfg.span_frames, hop)
    frames, waves = make_clips(p.faces, p.audio, starts, cfg.num_frames, cfg.frame_stride, cfg.fps, cfg.sample_rate)
    return starts, frames, waves
