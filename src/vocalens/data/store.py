"""The feature store: the seed's on-disk layout, written atomically.

    {root}/{split}/{video_id}/visual_embeddings.npz   {embeddings [T, Dv], frame_labels [T]}
                              audio_embeddings.npz    {embeddings [Ta, Da]}
                              meta.json               fps, audio_rate, encoders, duration, source, faces

A video's files are written into a hidden temporary folder that is renamed into place, and
``meta.json`` is written last, so a folder that exists under its own name is complete and
``--skip_existing`` can trust it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalens.constants import FPS
from vocalens.data.metadata import check_video_id
from vocalens.errors import UserError
from vocalens.fileio import atomic_path, dir_mode

VISUAL_FILE = "visual_embeddings.npz"
AUDIO_FILE = "audio_embeddings.npz"
META_FILE = "meta.json"
FAILURES_FILE = "failures.jsonl"


@dataclass
class VideoFeatures:
    video_id: str
    visual: np.ndarray  # [T, Dv]
    audio: np.ndarray  # [Ta, Da] at meta["audio_rate"] Hz
    frame_labels: np.ndarray | None  # [T] uint8, None for unlabelled videos
    meta: dict

    @property
    def num_frames(self) -> int:
        return int(self.visual.shape[0])

    @property
    def fps(self) -> float:
        return float(self.meta.get("fps", FPS))

    @property
    def audio_rate(self) -> float:
        return float(self.meta.get("audio_rate", self.fps))


def video_dir(root: str | Path, split: str, video_id: str) -> Path:
    """``root/split/video_id``; the id is checked, so the folder is always one level below the split."""
    return Path(root) / split / check_video_id(video_id, f"{root}/{split}")


def is_complete(path: str | Path) -> bool:
    p = Path(path)
    return (p / META_FILE).is_file() and (p / VISUAL_FILE).is_file() and (p / AUDIO_FILE).is_file()


def write_features(
    path: str | Path,
    visual: np.ndarray,
    audio: np.ndarray,
    frame_labels: np.ndarray | None,
    meta: dict,
    dtype=np.float16,
) -> Path:
    """Write one video's features to ``path`` atomically (temp folder + rename); ``path``'s name must be a
    video id (it replaces only that folder, never a split or anything above)."""
    path = Path(path)
    check_video_id(path.name, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
    try:
        os.chmod(tmp, dir_mode())  # mkdtemp makes 0700; the store is shared like any dataset
        vis = {"embeddings": np.asarray(visual, dtype=dtype)}
        if frame_labels is not None:
            fl = np.asarray(frame_labels, dtype=np.uint8)
            if len(fl) != len(vis["embeddings"]):
                raise ValueError(f"{path.name}: {len(fl)} labels for {len(vis['embeddings'])} frames")
            vis["frame_labels"] = fl
        np.savez(tmp / VISUAL_FILE, **vis)
        np.savez(tmp / AUDIO_FILE, embeddings=np.asarray(audio, dtype=dtype))
        meta = dict(meta)
        meta.setdefault("video_id", path.name)
        meta["num_frames"] = int(len(vis["embeddings"]))
        meta["visual_dim"] = int(vis["embeddings"].shape[1])
        meta["audio_dim"] = int(np.asarray(audio).shape[1])
        meta["audio_frames"] = int(np.asarray(audio).shape[0])
        with open(tmp / META_FILE, "w") as f:
            json.dump(meta, f, indent=1)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_meta(path: str | Path) -> dict:
    with open(Path(path) / META_FILE) as f:
        return json.load(f)


def read_features(path: str | Path) -> VideoFeatures:
    """Load one video's features (float32) from its folder."""
    path = Path(path)
    if not is_complete(path):
        raise UserError(f"{path}: not a complete feature folder (needs {VISUAL_FILE}, {AUDIO_FILE}, {META_FILE})")
    try:
        with np.load(path / VISUAL_FILE) as z:
            visual = z["embeddings"].astype(np.float32)
            labels = z["frame_labels"].astype(np.uint8) if "frame_labels" in z.files else None
        with np.load(path / AUDIO_FILE) as z:
            audio = z["embeddings"].astype(np.float32)
        meta = read_meta(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        # a truncated npz is a BadZipFile / EOFError, a corrupt member a zlib.error: the file is named either way
        raise UserError(f"{path}: unreadable feature files ({type(e).__name__}: {e})")
    check_counts(path, visual, audio, labels, meta)
    meta.setdefault("fps", FPS)
    meta.setdefault("audio_rate", meta["fps"])
    return VideoFeatures(video_id=path.name, visual=visual, audio=audio, frame_labels=labels, meta=meta)


def check_counts(path, visual: np.ndarray, audio: np.ndarray, labels, meta: dict) -> None:
    """The arrays agree with meta.json (frames, audio frames, dims, labels): a folder whose files come from
    different writes is refused with one line naming it, never evaluated on misaligned frames."""
    checks = [
        ("frames", VISUAL_FILE, len(visual), meta.get("num_frames")),
        ("audio frames", AUDIO_FILE, len(audio), meta.get("audio_frames")),
        ("visual dims", VISUAL_FILE, visual.shape[1] if visual.ndim == 2 else None, meta.get("visual_dim")),
        ("audio dims", AUDIO_FILE, audio.shape[1] if audio.ndim == 2 else None, meta.get("audio_dim")),
    ]
    for what, file, got, want in checks:
        if want is not None and got != want:
            raise UserError(f"{path}: {file} has {got} {what}, meta.json says {want} (files of different writes)")
    if labels is not None and len(labels) != len(visual):
        raise UserError(f"{path}: {len(labels)} frame labels for {len(visual)} frames in {VISUAL_FILE}")


def list_videos(root: str | Path, split: str | None = None) -> list[Path]:
    """Complete video folders under ``root/split`` (or under ``root`` itself when split is None), sorted."""
    base = Path(root) / split if split else Path(root)
    if not base.is_dir():
        raise UserError(f"{base}: feature folder not found")
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and is_complete(p))


def failure_key(record: dict) -> tuple:
    """Which failure a failures.jsonl line is about: a video (split + id, else its source), or for entries
    of no video (stage 'metadata' / 'skipped') the stage and what it names."""
    if record.get("video_id") is not None:
        return ("video", record.get("split"), record["video_id"])
    return (record.get("stage", "video"), record.get("source") or record.get("error"))


@contextmanager
def _failures_locked(root: Path):
    """failures.jsonl's lines under an exclusive lock (shards of one store share the file); what the body
    leaves in the list is written back atomically."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".failures.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / FAILURES_FILE
        lines = []
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except ValueError:  # a line cut short by a kill
                    continue
        before = list(lines)
        yield lines
        if lines != before:
            with atomic_path(path) as tmp:
                tmp.write_text("".join(json.dumps(r) + "\n" for r in lines))


def append_failure(root: str | Path, record: dict) -> None:
    """Record one failure in failures.jsonl: a line per failed video, replacing that video's line from an
    earlier run (a rerun never duplicates lines)."""
    key = failure_key(record)
    with _failures_locked(Path(root)) as lines:
        lines[:] = [r for r in lines if failure_key(r) != key] + [record]


def replace_failures(root: str | Path, stage: str, records: list[dict]) -> None:
    """This run's entries of one ``stage`` ('metadata', 'skipped') replace the earlier run's."""
    with _failures_locked(Path(root)) as lines:
        lines[:] = [r for r in lines if r.get("stage") != stage] + [dict(r, stage=stage) for r in records]


class FailureLog:
    """The videos failures.jsonl lists at the start of a run; :meth:`succeeded` drops a video's line once it
    is extracted, so the file lists what is failed now (read once, rewritten only for those videos)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / FAILURES_FILE
        self.listed = set()
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    self.listed.add(failure_key(json.loads(line)))
                except ValueError:
                    continue

    def succeeded(self, split: str, video_id: str) -> None:
        key = ("video", split, video_id)
        if key in self.listed:
            self.listed.discard(key)
            with _failures_locked(self.root) as lines:
                lines[:] = [r for r in lines if failure_key(r) != key]


def is_store(root: str | Path) -> bool:
    """A feature store: some ``root/split/video_id`` folder is complete."""
    from vocalens.data.metadata import SPLITS

    root = Path(root)
    return any((root / s).is_dir() and any(is_complete(p) for p in (root / s).iterdir()) for s in SPLITS)


def store_summary(root: str | Path) -> dict:
    """Per split of a feature store, from the meta.json files alone (no arrays read): videos, labels
    (real / fake by manipulation / unlabelled), frames, seconds, fake share of the labelled seconds,
    feature dims and encoders, plus failures.jsonl's failed videos and skipped entries (metadata, folder)."""
    from vocalens.data.metadata import SPLITS

    root = Path(root)
    out: dict = {"splits": {}, "failures": 0}
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        s = {"videos": 0, "labels": Counter(), "frames": 0, "seconds": 0.0, "fake_seconds": 0.0}
        s.update(labelled_seconds=0.0, dims=Counter(), encoders=Counter(), unreadable=0)
        for p in list_videos(root, split):
            try:
                m = read_meta(p)
            except (OSError, ValueError):
                s["unreadable"] += 1
                continue
            s["videos"] += 1
            s["frames"] += int(m.get("num_frames", 0))
            sec = float(m.get("duration") or m.get("num_frames", 0) / float(m.get("fps", FPS)))
            s["seconds"] += sec
            if m.get("label") is None:
                s["labels"]["unlabelled"] += 1
            else:
                s["labels"][m.get("manipulation") or ("real" if not m["label"] else "unknown")] += 1
                s["labelled_seconds"] += sec
                s["fake_seconds"] += sum(e - b for b, e in m.get("fake_periods") or ())
            s["dims"][f"{m.get('visual_dim')}/{m.get('audio_dim')}"] += 1
            enc = [(m.get(k) or {}).get("name", "?") for k in ("visual_encoder", "audio_encoder")]
            s["encoders"]["/".join(enc)] += 1
        out["splits"][split] = s
    out["skipped"] = 0
    fail = root / FAILURES_FILE
    for line in fail.read_text().splitlines() if fail.is_file() else ():
        try:
            stage = json.loads(line).get("stage")
        except ValueError:
            continue
        out["skipped" if stage in ("metadata", "skipped") else "failures"] += 1
    return out
