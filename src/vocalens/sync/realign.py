"""Measure and undo the audio offset of training clips (SyncNet-style data cleaning).

A sync encoder learns whatever lag its training clips have as "in sync": if most of them come from
one source whose audio is 40 ms off its video, the model's zero is 40 ms off too. Here a first
model scores each train clip at audio shifts of whole mel hops (10 ms): the mean cosine of
``visual[t]`` and the audio shifted by ``h`` hops over the frames every shift keeps inside the clip.
The curves are pooled per source (``short/``, the corpus clips, each extra folder), and a source's
offset is its pooled argmax *relative to the pooled argmax of the reference sources*: the first
model's own bias cancels, and only train clips are looked at (never dev or test).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vocalens.sync.cache import SyncCache
from vocalens.sync.features import N_MELS, STACK
from vocalens.sync.model import SyncNet

HOP_MS = 1000 // (25 * STACK)  # 10 ms per mel hop at 25 fps and 4 hops per frame


def source_of(name: str) -> str:
    """A cached clip's source: ``short`` (real-corpus/short), the extra folder's name, or ``clips``."""
    return name.split("/", 1)[0] if "/" in name else "clips"


def shift_audio(audio: np.ndarray, hops: int) -> np.ndarray:
    """[T, STACK * N_MELS] audio frames -> the same with row hop ``k`` replaced by hop ``k + hops``
    (edge-padded): content the video shows at frame t is heard ``hops`` hops later in the input,
    so ``shift_audio(audio, d)`` undoes an audio lag of ``d`` hops."""
    a = np.asarray(audio)
    if hops == 0 or len(a) == 0:
        return a
    x = a.reshape(len(a) * STACK, N_MELS)
    idx = np.clip(np.arange(len(x)) + int(hops), 0, len(x) - 1)
    return x[idx].reshape(a.shape)


@torch.no_grad()
def offset_curve(model: SyncNet, crops: np.ndarray, audio: np.ndarray, max_hops: int = 12) -> np.ndarray | None:
    """[2 * max_hops + 1] mean cosine of visual[t] and the audio shifted by h hops, h = -max_hops..max_hops,
    over the frames at least ``ceil(max_hops / STACK)`` from either end; None for a clip too short."""
    margin = math.ceil(max_hops / STACK)
    t = min(len(crops), len(audio))
    if t - 2 * margin < 1:
        return None
    v = model.embed_visual(torch.as_tensor(crops[:t]))[margin : t - margin]
    shifted = np.stack([shift_audio(audio[:t], h) for h in range(-max_hops, max_hops + 1)]).astype(np.float32)
    c = model.cfg.context
    x = torch.from_numpy(shifted)
    x = torch.cat([x[:, :1].expand(-1, c, -1), x, x[:, -1:].expand(-1, c, -1)], dim=1) if c else x
    a = torch.nn.functional.normalize(model.audio(x), dim=-1)[:, margin : t - margin]  # [H, T', D]
    return (a * v[None]).sum(-1).mean(-1).numpy()


def clip_curves(model: SyncNet, cache: SyncCache, clips: list[int], max_hops: int = 12) -> dict[int, np.ndarray]:
    """Offset curves of the given cache clips (those long enough), keyed by clip index."""
    model.eval()
    out = {}
    for i in clips:
        curve = offset_curve(model, *cache.clip(i), max_hops=max_hops)
        if curve is not None:
            out[i] = curve
    return out


def source_offsets(
    curves: dict[int, np.ndarray], cache: SyncCache, reference: list[str] | None = None
) -> tuple[dict[str, int], dict[str, int], int]:
    """(shift per source in hops, clips per source, reference argmax in hops).

    A source's pooled curve is the mean of its clips' curves; its shift is its argmax minus the
    argmax of the reference sources' pooled curve (default: every source but the largest one),
    so that the reference sources keep their audio and the others are moved onto them."""
    if not curves:
        raise ValueError("no clip long enough to measure an offset")
    max_hops = (len(next(iter(curves.values()))) - 1) // 2
    groups: dict[str, list[np.ndarray]] = {}
    for i, c in curves.items():
        groups.setdefault(source_of(cache.names[i]), []).append(c)
    if reference is None:
        largest = max(groups, key=lambda g: len(groups[g]))
        reference = [g for g in groups if g != largest] or [largest]
    ref = [c for g in reference for c in groups.get(g, [])]
    if not ref:
        raise ValueError(f"no measured clip in the reference sources {reference}")
    ref_peak = int(np.argmax(np.mean(ref, axis=0))) - max_hops
    shifts = {g: int(np.argmax(np.mean(cs, axis=0))) - max_hops - ref_peak for g, cs in groups.items()}
    return shifts, {g: len(cs) for g, cs in groups.items()}, ref_peak


def realigned(cache: SyncCache, shifts: dict[str, int], clips: list[int]) -> SyncCache:
    """A copy of ``cache`` whose ``clips`` have their audio shifted by their source's hops (others as they are)."""
    audio = cache.audio.copy()
    for i in clips:
        h = shifts.get(source_of(cache.names[i]), 0)
        if h:
            s, e = cache.offsets[i], cache.offsets[i + 1]
            audio[s:e] = shift_audio(cache.audio[s:e], h)
    info = {**cache.info, "realign_hops": {g: h for g, h in shifts.items() if h}}
    return SyncCache(cache.crops, audio, cache.offsets, cache.names, cache.splits, cache.speakers, cache.found, info)
