"""Decode the real corpus once into one cache file of lower-face crops + log-mel frames.

Decoding and face detection are the slow part of sync training, so they run once: every clip of
``real-corpus/clips.tsv`` (with its by-speaker split), ``real-corpus/short`` (train) and an extra
folder of clips (train) becomes ``crops [T, h, w] uint8`` (the crop kind's size: 32 x 48 or 40 x 48)
+ ``audio [T, 320] float16`` rows in one ``.npz`` (no pickle), with per-clip offsets, names, splits and
speakers. The crop is one of ``features.CROP_KINDS``, recorded in the file so a cache is never reused
with another.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vocalens.errors import UserError
from vocalens.fileio import atomic_path
from vocalens.media.crops import DETECT_MAX_SIDE  # frames are decoded at most this large, as for extract
from vocalens.media.video import load_video
from vocalens.sync.features import CROP_KINDS, FPS, audio_frames, sync_crops

VIDEO_EXTS = (".mp4", ".mpg", ".mov", ".avi", ".mkv", ".flv", ".webm")


def face_crops(frames: np.ndarray, detector: str = "auto") -> tuple[np.ndarray, float]:
    """Frames -> the face crops ``vocalens extract`` hands its visual encoder (``detect_faces`` ->
    ``crop_faces(224, margin 0.25)``) and the fraction of frames with a face."""
    from vocalens.media import faces  # noqa: PLC0415 - OpenCV only when decoding

    track = faces.detect_faces(frames, stride=5, detector=detector)
    return faces.crop_faces(frames, track, size=224), track.found_ratio


@dataclass
class Clip:
    name: str
    path: Path
    split: str
    speaker: str


def corpus_clips(corpus: str | Path | None, extra: list[str | Path] = (), short: bool = True) -> list[Clip]:
    """The clips to cache: corpus clips.tsv (its split), corpus short/ (train), extra folders (train)."""
    clips: list[Clip] = []
    if corpus:
        root = Path(corpus)
        tsv = root / "clips.tsv"
        if not tsv.is_file():
            raise UserError(f"{tsv}: not found (--corpus must be the real-corpus folder)")
        with open(tsv, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                clips.append(Clip(row["name"], root / "clips" / row["name"], row["split"], row["speaker_id"]))
        if short and (root / "short").is_dir():
            for p in sorted((root / "short").iterdir()):
                if p.suffix.lower() in VIDEO_EXTS:
                    clips.append(Clip("short/" + p.name, p, "train", "short"))
    for folder in extra:
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder}: not a folder of clips")
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in VIDEO_EXTS:
                clips.append(Clip(f"{folder.name}/{p.name}", p, "train", f"{folder.name}/{p.stem}"))
    if not clips:
        raise UserError("no clips to cache (give --corpus and/or --extra)")
    return clips


def decode_clip(clip: Clip, crop: str = "face") -> tuple[np.ndarray, np.ndarray, float]:
    """One clip -> (crops [T, h, w] uint8, audio [T, 320] float16, face-found ratio)."""
    media = load_video(clip.path, fps=FPS, max_side=DETECT_MAX_SIDE, audio="required")
    faces, found = face_crops(media.frames)
    crops = sync_crops(faces, crop)
    return crops, audio_frames(media.audio, frames=len(crops)), found


def build_cache(clips: list[Clip], path: str | Path, crop: str = "face", progress: bool = True) -> Path:
    """Decode every clip into ``path`` (atomic); clips that fail to decode are skipped and listed."""
    if crop not in CROP_KINDS:
        raise UserError(f"unknown crop {crop!r} (choose from {', '.join(CROP_KINDS)})")
    crops, audio, kept, failed, found = [], [], [], [], []
    for clip in tqdm(clips, desc="sync cache", unit="clip", disable=not progress, dynamic_ncols=True):
        try:
            c, a, fr = decode_clip(clip, crop)
        except UserError as e:
            failed.append(f"{clip.name}: {e}")
            continue
        if len(c) < 8:
            failed.append(f"{clip.name}: only {len(c)} frames")
            continue
        crops.append(c)
        audio.append(a)
        kept.append(clip)
        found.append(fr)
    if not kept:
        raise UserError("no clip could be decoded: " + "; ".join(failed[:3]))
    offsets = np.cumsum([0] + [len(c) for c in crops]).astype(np.int64)
    info = {"crop": crop, "fps": FPS, "failed": failed}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                crops=np.concatenate(crops),
                audio=np.concatenate(audio),
                offsets=offsets,
                names=np.array([c.name for c in kept]),
                splits=np.array([c.split for c in kept]),
                speakers=np.array([c.speaker for c in kept]),
                found=np.array(found, np.float32),
                info=np.array(json.dumps(info)),
            )
    return Path(path)


@dataclass
class SyncCache:
    crops: np.ndarray
    audio: np.ndarray
    offsets: np.ndarray
    names: list[str]
    splits: list[str]
    speakers: list[str]
    found: np.ndarray
    info: dict

    def __len__(self) -> int:
        return len(self.names)

    def clip(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, e = self.offsets[i], self.offsets[i + 1]
        return self.crops[s:e], self.audio[s:e]

    def indices(self, split: str) -> list[int]:
        return [i for i, s in enumerate(self.splits) if s == split]


def load_cache(path: str | Path) -> SyncCache:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: sync cache not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            return SyncCache(
                crops=z["crops"],
                audio=z["audio"],
                offsets=z["offsets"],
                names=list(z["names"]),
                splits=list(z["splits"]),
                speakers=list(z["speakers"]),
                found=z["found"],
                info=json.loads(str(z["info"])),
            )
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"{path}: not a sync cache ({e})")


def speaker_folds(cache: SyncCache, clips: list[int], folds: int) -> dict[int, int]:
    """Fold (0..folds-1) of each clips.tsv clip among ``clips``, for cross-validation by speaker.

    Speakers are dealt whole, those with most clips (then frames) first, each to the fold with the fewest
    clips so far (then frames, then the lower fold): every fold scores about as many clips and no speaker
    is on both sides. short/ and extra-folder clips are left out (no speaker labels: always trained on)."""
    own = [i for i in clips if "/" not in cache.names[i]]  # clips.tsv's clips; the others are "folder/name"
    size: dict[str, list[int]] = {}
    for i in own:
        n = size.setdefault(str(cache.speakers[i]), [0, 0])
        n[0], n[1] = n[0] + 1, n[1] + int(cache.offsets[i + 1] - cache.offsets[i])
    load, fold_of = [[0, 0] for _ in range(folds)], {}
    for spk in sorted(size, key=lambda s: (-size[s][0], -size[s][1], s)):
        k = min(range(folds), key=lambda f: (*load[f], f))
        fold_of[spk] = k
        load[k] = [load[k][0] + size[spk][0], load[k][1] + size[spk][1]]
    return {i: fold_of[str(cache.speakers[i])] for i in own}
