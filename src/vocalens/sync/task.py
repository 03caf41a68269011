"""Sync training as a task of the shared loop: InfoNCE between per-frame lips and sound.

A training item is a random segment of one clip (``length`` frames plus the model's context). Every
frame's visual embedding must pick its own audio frame among the segment's frames at the other
offsets (time-shifted negatives of the same video: the sync task itself), and, with weight
``cross_weight``, among all audio frames of the batch (other clips: easy negatives, which alone
teach speaker identity rather than sync); symmetric cross-entropy with a learned temperature. The
same frame of the same clip drawn twice is masked, never a negative.
Validation is the offset benchmark itself on the dev clips (top-1 of the true offset among +-15).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.sync.cache import SyncCache
from vocalens.sync.features import N_MELS
from vocalens.sync.model import SyncConfig, SyncNet
from vocalens.sync.offset import cosine_offset_scores, estimated_offsets, window_starts
from vocalens.train.loop import Task


class Segments(torch.utils.data.Dataset):
    """Random ``span``-frame segments of the cache's clips, about one per ``length`` frames per epoch.

    Augmentation: ``flip`` mirrors the segment's crops half the time; ``shift`` moves them by up to
    that many pixels (edge-padded, one shift per segment: the face does not jump within it);
    ``freq_mask`` zeroes a random band of up to that many mel bins (SpecAugment-style).
    """

    def __init__(
        self,
        cache: SyncCache,
        clips: list[int],
        length: int,
        span: int,
        flip: bool = True,
        shift: int = 0,
        freq_mask: int = 0,
    ):
        self.cache, self.span, self.flip, self.shift, self.freq_mask = cache, span, flip, int(shift), int(freq_mask)
        self.clips = [i for i in clips if cache.offsets[i + 1] - cache.offsets[i] >= span]
        self.items = [
            i for i in self.clips for _ in range(max(1, int(cache.offsets[i + 1] - cache.offsets[i]) // length))
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int):
        i = self.items[k]
        crops, audio = self.cache.clip(i)
        s = np.random.randint(0, len(crops) - self.span + 1)
        c, a = crops[s : s + self.span], audio[s : s + self.span]
        if self.flip and np.random.rand() < 0.5:
            c = c[:, :, ::-1]
        if self.shift:
            p = self.shift
            dy, dx = np.random.randint(0, 2 * p + 1, 2)
            c = np.pad(c, ((0, 0), (p, p), (p, p)), mode="edge")[:, dy : dy + crops.shape[1], dx : dx + crops.shape[2]]
        if self.freq_mask:
            a = a.reshape(len(a), -1, N_MELS).copy()
            w = np.random.randint(0, self.freq_mask + 1)
            f0 = np.random.randint(0, N_MELS - w + 1)
            a[:, :, f0 : f0 + w] = 0
            a = a.reshape(len(a), -1)
        return {
            "crops": torch.from_numpy(np.ascontiguousarray(c)),
            "audio": torch.from_numpy(np.ascontiguousarray(a)),
            "key": torch.tensor(i * 1_000_000 + s, dtype=torch.long),
        }


class WholeClips(torch.utils.data.Dataset):
    """Whole clips for validation, each tagged with its group (``dev``, or ``holdout`` under cross-validation)."""

    def __init__(self, cache: SyncCache, clips: list[int], groups: list[str] | None = None):
        self.cache, self.clips = cache, clips
        self.groups = groups or ["dev"] * len(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, k: int):
        crops, audio = self.cache.clip(self.clips[k])
        return {
            "crops": torch.from_numpy(crops),
            "audio": torch.from_numpy(audio.astype(np.float32)),
            "group": self.groups[k],
        }


def window_offsets(model: SyncNet, crops, audio, length: int = 25, max_offset: int = 15, stride: int = 5):
    """The estimated audio offset of every window of the offset search on one whole clip (0 = in sync)."""
    v = model.embed_visual(crops).cpu().numpy()
    a = model.embed_audio(audio).cpu().numpy()
    starts = window_starts(len(v), length, max_offset, stride)
    return estimated_offsets(cosine_offset_scores(v, a, starts, length, max_offset), max_offset)


def offset_hits(model: SyncNet, crops, audio, length: int = 25, max_offset: int = 15, stride: int = 5):
    """(correct, windows, within +-1 frame) of the offset search on one whole clip."""
    est = window_offsets(model, crops, audio, length, max_offset, stride)
    return int((est == 0).sum()), len(est), int((np.abs(est) <= 1).sum())


class SyncTask(Task):
    unit = "frames"
    best_metric = "offset_acc"
    best_mode = "max"

    def __init__(
        self,
        cache: SyncCache,
        cfg: SyncConfig | None = None,
        length: int = 20,
        cross_weight: float = 0.25,
        flip: bool = True,
        shift: int = 0,
        freq_mask: int = 0,
        train_clips: list[int] | None = None,
        holdout_clips: list[int] = (),
    ):
        self.cache, self.cfg, self.length = cache, cfg or SyncConfig(), int(length)
        self.train_clips = cache.indices("train") if train_clips is None else list(train_clips)
        # cross-validation: train clips left out of training, scored every epoch as holdout_*, never selecting
        self.holdout_clips = list(holdout_clips)
        if set(self.holdout_clips) & set(self.train_clips):
            raise ValueError("a held-out clip is also a training clip")
        self.cross_weight = float(cross_weight)
        self.augment = {"flip": bool(flip), "shift": int(shift), "freq_mask": int(freq_mask)}

    def build_model(self):
        return SyncNet(self.cfg)

    def train_dataset(self):
        return Segments(self.cache, self.train_clips, self.length, self.length + 2 * self.cfg.context, **self.augment)

    def val_dataset(self):
        dev = self.cache.indices("dev")
        return WholeClips(
            self.cache, dev + self.holdout_clips, ["dev"] * len(dev) + ["holdout"] * len(self.holdout_clips)
        )

    def lengths(self, dataset):
        return None

    def count(self, batch) -> int:
        return int(batch["crops"].shape[0] * self.length)

    def collate(self, items):
        if "key" in items[0]:
            return torch.utils.data.default_collate(items)
        return items  # whole clips of different lengths

    def step(self, model, batch):
        c = self.cfg.context
        v = F.normalize(model.visual(batch["crops"]).float(), dim=-1)  # [B, L, D]
        a = F.normalize(model.audio(batch["audio"]).float(), dim=-1)
        b, t = v.shape[:2]
        scale = model.logit_scale.exp().clamp(max=100)
        target = torch.arange(t, device=v.device).expand(b, t)
        # the offset task: each frame against its own segment's frames at every other shift
        own = torch.einsum("bid,bjd->bij", v, a) * scale  # [B, L, L]
        shift_loss = (
            F.cross_entropy(own.reshape(b * t, t), target.reshape(-1))
            + F.cross_entropy(own.transpose(1, 2).reshape(b * t, t), target.reshape(-1))
        ) / 2
        loss, logs = shift_loss, {"shift_loss": shift_loss}
        if self.cross_weight > 0:  # and against every other clip of the batch (another voice is out of sync too)
            key = (batch["key"][:, None] + c + torch.arange(t, device=v.device)[None]).reshape(-1)
            logits = v.reshape(b * t, -1) @ a.reshape(b * t, -1).T * scale
            dup = (key[:, None] == key[None, :]) & ~torch.eye(b * t, dtype=torch.bool, device=v.device)
            logits = logits.masked_fill(dup, float("-inf"))
            flat = torch.arange(b * t, device=v.device)
            cross = (F.cross_entropy(logits, flat) + F.cross_entropy(logits.T, flat)) / 2
            loss = loss + self.cross_weight * cross
            logs["batch_loss"] = cross
        with torch.no_grad():
            logs["shift_acc"] = (own.argmax(-1) == target).float().mean()
            logs["temperature"] = 1 / scale
        return loss, logs

    def predict(self, model, batch):
        return [(*offset_hits(model, item["crops"], item["audio"]), item["group"]) for item in batch]

    def validate(self, outputs):
        """The offset figures of the dev clips (which pick the epoch) and, under cross-validation, the same
        figures of the held-out clips prefixed ``holdout_`` with their raw counts (so folds add up exactly)."""
        metrics = self._offset_metrics([o[:3] for o in outputs if o[3] == "dev"])
        held = [o[:3] for o in outputs if o[3] == "holdout"]
        if held:
            metrics.update({f"holdout_{k}": v for k, v in self._offset_metrics(held).items()})
            metrics.update(
                holdout_hits=float(sum(h for h, _, _ in held)),
                holdout_near_hits=float(sum(n for _, _, n in held)),
                holdout_clips=float(sum(1 for _, t, _ in held if t)),  # clip_* x clips: the per-clip sums
            )
        return metrics

    @staticmethod
    def _offset_metrics(outputs) -> dict[str, float]:
        hits, total, near = (sum(o[k] for o in outputs) for k in range(3))
        acc, near = hits / max(total, 1), near / max(total, 1)
        # per clip, then averaged over the clips with a window: the pooled figures are mostly the longest
        # clip's (289 of dev's 441 windows are one clip, whose sub-frame offset flips top-1 between pairs)
        clips = [(h / t, n / t) for h, t, n in outputs if t]
        c_acc = float(np.mean([c[0] for c in clips])) if clips else 0.0
        c_near = float(np.mean([c[1] for c in clips])) if clips else 0.0
        # offset_both: a steadier criterion than top-1 alone, which swings as a long clip moves between 0 and +1
        return {
            "offset_acc": acc,
            "offset_near": near,
            "offset_both": acc + near,
            "clip_acc": c_acc,
            "clip_near": c_near,
            "clip_both": c_acc + c_near,
            "windows": float(total),
        }

    def checkpoint_extra(self, metrics):
        return {"sync_config": self.cfg.to_dict(), "crop": self.cache.info.get("crop", "face"), "length": self.length}
