"""Torch dataset over the feature store: windows, padding masks, length buckets, stitching.

Each video's audio features are put on its T video frames by `resample_to_frames` (the one
alignment function) over the whole video, then cut into the same windows as the visual features.
A video longer than ``max_frames`` becomes windows of ``max_frames`` frames starting every
``max_frames`` frames, the last one ending at the video's end (it overlaps its neighbour), so every
window of a long video is full length. `stitch_windows` puts window outputs back together: frame
values are averaged where windows overlap, the video probability is the max over windows (a fake
anywhere makes the video fake).

Training can add out-of-sync negatives (``sync_aug``, see `splice_out_of_sync`): stretches of one
stream replaced by the same video's stream from elsewhere and labelled fake. Same face, voice and
room, only the audio-visual sync is wrong, so the one thing these frames teach is the sync signal.

Only meta.json is read when the dataset is built (lengths, dims, labels for pos_weight), so
building an index over a big split is cheap and nothing holds a split in memory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vocalens.constants import FPS
from vocalens.data.align import resample_to_frames
from vocalens.data.labels import frame_labels
from vocalens.data.store import VideoFeatures, list_videos, read_features, read_meta
from vocalens.errors import UserError
from vocalens.localizer.config import MODALITIES


def window_starts(num_frames: int, max_frames: int) -> list[int]:
    """Start frames of the windows covering [0, num_frames); all full length when num_frames > max_frames."""
    if max_frames <= 0 or num_frames <= max_frames:
        return [0]
    starts = list(range(0, num_frames - max_frames + 1, max_frames))
    if starts[-1] + max_frames < num_frames:
        starts.append(num_frames - max_frames)
    return starts


def apply_modality(visual: np.ndarray, audio: np.ndarray, modality: str) -> tuple[np.ndarray, np.ndarray]:
    """Ablations: 'visual' zeroes the audio stream, 'audio' zeroes the visual stream."""
    if modality not in MODALITIES:
        raise UserError(f"--modality: {modality!r} is not one of {', '.join(MODALITIES)}")
    if modality == "visual":
        audio = np.zeros_like(audio)
    elif modality == "audio":
        visual = np.zeros_like(visual)
    return visual, audio


def frames_of(feats: VideoFeatures) -> tuple[np.ndarray, np.ndarray]:
    """A video's visual [T,Dv] and its audio resampled onto the same T frames [T,Da]."""
    t = feats.num_frames
    return feats.visual, resample_to_frames(feats.audio, feats.audio_rate, t, feats.fps)


def splice_out_of_sync(
    visual: np.ndarray,
    audio: np.ndarray,
    labels: np.ndarray,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    max_segments: int = 2,
    min_len: int = 5,
    max_len: int = 40,
    min_shift: int = 8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of (visual [T,Dv], audio [T,Da], labels [T]) where 1..max_segments stretches inside frames
    [lo, hi) have one stream (audio or visual, at random) replaced by that stream from >= ``min_shift``
    frames away in the same video, and are labelled fake (1). ``min_shift`` is well past the natural
    mouth-after-sound lag (1-3 frames), so a replaced stretch is out of sync. Too short: unchanged."""
    visual, audio, labels = visual.copy(), audio.copy(), labels.copy()
    t = len(labels)
    for _ in range(int(rng.integers(1, max_segments + 1))):
        length = int(rng.integers(min_len, max_len + 1))
        length = min(length, hi - lo, t - min_shift)
        if length < min_len:
            break
        s = int(rng.integers(lo, hi - length + 1))
        sources = [x for x in range(0, t - length + 1) if abs(x - s) >= min_shift]
        if not sources:
            continue
        src = sources[int(rng.integers(len(sources)))]
        stream = audio if rng.random() < 0.5 else visual
        stream[s : s + length] = stream[src : src + length].copy()
        labels[s : s + length] = 1
    return visual, audio, labels


def _item_rng(index: int) -> np.random.Generator:
    """Per-item randomness that differs by epoch but not by process: in a DataLoader worker the key is
    the loader's base seed (drawn from the loop's per-epoch generator, equal on every rank), so one
    process and N DDP processes augment an item alike; in the main process (num_workers=0) it is a
    draw from torch's global RNG (restored on --resume)."""
    info = torch.utils.data.get_worker_info()
    key = (info.seed - info.id) if info is not None else int(torch.randint(0, 2**62, ()))
    return np.random.default_rng([key & 0x7FFFFFFFFFFFFFFF, index])


def video_label_of(meta: dict, labels: np.ndarray | None) -> int:
    if labels is not None:
        return int(labels.any())
    lab = meta.get("label")
    if isinstance(lab, str):
        return int(lab.lower() in ("fake", "1", "true"))
    return int(bool(lab)) if lab is not None else int(bool(meta.get("fake_periods")))


class FeatureDataset(Dataset):
    """Windows of the videos in ``root/split`` as dicts of tensors + metadata (see `collate`)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        max_frames: int = 512,
        modality: str = "both",
        require_labels: bool = False,
        sync_aug: float = 0.0,
    ):
        if modality not in MODALITIES:
            raise UserError(f"--modality: {modality!r} is not one of {', '.join(MODALITIES)}")
        self.root, self.split, self.max_frames, self.modality = Path(root), split, max_frames, modality
        self.require_labels = require_labels
        if not 0.0 <= sync_aug <= 1.0:
            raise UserError(f"--sync_aug: a probability in [0, 1], got {sync_aug}")
        self.sync_aug = float(sync_aug)  # chance a window gets out-of-sync stretches (training only)
        self.paths = list_videos(root, split)
        if not self.paths:
            raise UserError(f"{Path(root) / split}: no complete feature folders")
        self.metas = [read_meta(p) for p in self.paths]
        first = self.metas[0]
        self.visual_dim, self.audio_dim = int(first["visual_dim"]), int(first["audio_dim"])
        for p, m in zip(self.paths, self.metas):
            if (int(m["visual_dim"]), int(m["audio_dim"])) != (self.visual_dim, self.audio_dim):
                raise UserError(
                    f"{p}: feature dims {m['visual_dim']}/{m['audio_dim']} differ from "
                    f"{self.visual_dim}/{self.audio_dim} of {self.paths[0]} (mixed encoders?)"
                )
        self.windows: list[tuple[int, int]] = []  # (video index, start)
        lengths = []
        for vi, m in enumerate(self.metas):
            t = int(m["num_frames"])
            for s in window_starts(t, max_frames):
                self.windows.append((vi, s))
                lengths.append(min(t - s, max_frames) if max_frames > 0 else t)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.broken: set[Path] = set()

    @property
    def fps(self) -> float:
        return float(self.metas[0].get("fps", FPS))

    def __len__(self) -> int:
        return len(self.windows)

    def frame_label_counts(self) -> tuple[int, int]:
        """(fake, real) frames over the split's videos, from meta.json with `frame_labels`."""
        fake = total = 0
        for p, m in zip(self.paths, self.metas):
            t = int(m["num_frames"])
            if "fake_periods" in m:
                lab = frame_labels(m["fake_periods"], t, float(m.get("fps", FPS)))
            else:
                lab = read_features(p).frame_labels
                if lab is None:
                    continue
            fake += int(lab.sum())
            total += t
        return fake, total - fake

    def __getitem__(self, i: int) -> dict:
        """One window; a broken video is reported once and replaced by the next readable window, so a
        bad file never stops a run nor changes the batch size (which every DDP rank relies on)."""
        for k in range(len(self.windows)):
            j = (i + k) % len(self.windows)
            try:
                return self._load(j)
            except UserError as e:
                path = self.paths[self.windows[j][0]]
                if path not in self.broken:
                    self.broken.add(path)
                    print(f"vocalens: skipping {e}", file=sys.stderr)
        raise UserError(f"{self.root / self.split}: no readable feature folder")

    def unreadable(self) -> list[str]:
        """One line per video whose windows cannot be loaded (what ``__getitem__`` skips), checked in this
        process: DataLoader workers skip in their own copies of the dataset, so theirs are not seen here."""
        first: dict[int, int] = {}
        for j, (vi, _) in enumerate(self.windows):
            first.setdefault(vi, j)
        out = []
        for _, j in sorted(first.items()):
            try:
                self._load(j)
            except UserError as e:
                out.append(str(e))
        return out

    def _load(self, i: int) -> dict:
        vi, start = self.windows[i]
        path = self.paths[vi]
        feats = read_features(path)
        if self.require_labels and feats.frame_labels is None:
            raise UserError(f"{path}: no frame_labels in visual_embeddings.npz (needed to train)")
        if (
            feats.num_frames != int(self.metas[vi]["num_frames"])
            or feats.visual.shape[1] != self.visual_dim
            or feats.audio.shape[1] != self.audio_dim
        ):
            raise UserError(f"{path}: features disagree with its meta.json (frames or dims)")
        visual, audio = frames_of(feats)
        t = feats.num_frames
        end = min(t, start + self.max_frames) if self.max_frames > 0 else t
        labels = feats.frame_labels if feats.frame_labels is not None else np.zeros(t, np.uint8)
        if self.sync_aug > 0 and feats.frame_labels is not None:
            rng = _item_rng(i)
            if rng.random() < self.sync_aug:
                visual, audio, labels = splice_out_of_sync(visual, audio, labels, start, end, rng)
        visual, audio = apply_modality(visual, audio, self.modality)
        win_labels = labels[start:end]
        return {
            "visual": torch.from_numpy(np.ascontiguousarray(visual[start:end])),
            "audio": torch.from_numpy(np.ascontiguousarray(audio[start:end])),
            "labels": torch.from_numpy(win_labels.astype(np.float32)),
            "window_label": float(win_labels.any())
            if feats.frame_labels is not None
            else float(video_label_of(feats.meta, None)),
            "has_labels": feats.frame_labels is not None,
            "video_id": feats.video_id,
            "video_label": video_label_of(feats.meta, feats.frame_labels),
            "manipulation": str(feats.meta.get("manipulation", "unknown")),
            "start": int(start),
            "num_frames": int(t),
            "fps": feats.fps,
        }


def collate(items: Sequence[dict]) -> dict:
    """Pad to the longest window; mask [B,L] is True on real frames."""
    b = len(items)
    lmax = max(int(it["visual"].shape[0]) for it in items)
    dv, da = items[0]["visual"].shape[1], items[0]["audio"].shape[1]
    visual = torch.zeros(b, lmax, dv)
    audio = torch.zeros(b, lmax, da)
    labels = torch.zeros(b, lmax)
    mask = torch.zeros(b, lmax, dtype=torch.bool)
    for j, it in enumerate(items):
        n = int(it["visual"].shape[0])
        visual[j, :n] = it["visual"]
        audio[j, :n] = it["audio"]
        labels[j, :n] = it["labels"]
        mask[j, :n] = True
    out = {
        "visual": visual,
        "audio": audio,
        "labels": labels,
        "mask": mask,
        "window_label": torch.tensor([float(it["window_label"]) for it in items]),
    }
    for key in ("has_labels", "video_id", "video_label", "manipulation", "start", "num_frames", "fps"):
        out[key] = [it[key] for it in items]
    return out


def stitch_windows(outputs: Sequence[dict]) -> dict[str, dict]:
    """Window outputs {video_id, start, num_frames, video_prob, <per-frame arrays [L]>, ...} -> per video:
    every per-frame numpy array (frame_probs, similarity, labels, ...) back at full length [T], averaged
    where windows overlap; video_prob = max over windows; other keys from the first window."""
    videos: dict[str, dict] = {}
    for o in outputs:
        vid = o["video_id"]
        t = int(o["num_frames"])
        s = int(o["start"])
        arrays = {k: v for k, v in o.items() if isinstance(v, np.ndarray) and v.ndim == 1}
        v = videos.get(vid)
        if v is None:
            v = videos[vid] = {k: val for k, val in o.items() if k not in arrays and k not in ("start", "video_prob")}
            v["_arrays"] = {k: np.zeros(t, np.float64) for k in arrays}
            v["_n"] = np.zeros(t, np.int64)
            v["video_prob"] = -np.inf
        n = len(next(iter(arrays.values()))) if arrays else 0
        for k, a in arrays.items():
            v["_arrays"][k][s : s + n] += a
        v["_n"][s : s + n] += 1
        v["video_prob"] = max(v["video_prob"], float(o["video_prob"]))
    for v in videos.values():
        n = np.maximum(v.pop("_n"), 1)
        for k, a in v.pop("_arrays").items():
            v[k] = (a / n).astype(np.float32)
    return videos
