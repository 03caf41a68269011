"""``sync``: the learned lip-sync encoder pair (visual and audio), trained on real speech without labels.

Both are halves of one :class:`vocalens.sync.model.SyncNet` loaded from one safetensors file
(``--visual_weights`` / ``--audio_weights``, default: the file shipped in the package), trained
contrastively so that the per-frame cosine of the two 128-d outputs is high where lips and sound
agree and low under a time shift (docs/sync.md). Visual input: the face crops of ``vocalens
extract`` (``crop_faces``, margin 0.25), of which the lower face is taken (at fixed fractions, or aligned
by the face mesh, as the weights were trained: ``vocalens.sync.features.CROP_KINDS``); audio: 16 kHz mono.
Both give one unit-norm row per 25 Hz frame.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.encoders import register_audio, register_visual
from vocalens.errors import UserError
from vocalens.sync.features import CROP_KINDS, FPS, stream_audio_frames, sync_crops
from vocalens.sync.weights import load_weights

MESH_OVERLAP = 16  # frames of the previous block an aligned-crop block is landmarked with


class _SyncHalf:
    name = "sync"

    def __init__(self, weights=None, device="cpu", weights_digest: str | None = None, **opts):
        self.model, self.info, self.digest = load_weights(weights)
        if weights_digest and weights_digest != self.digest:
            raise UserError(
                f"sync encoder: weights {weights or 'shipped with the package'} are {self.digest}, "
                f"but these features were made with {weights_digest}; "
                "pass that file (--visual_weights and --audio_weights)"
            )
        self.device = torch.device(device)
        self.dim = self.model.cfg.dim
        self.model = self.model.to(self.device)

    def config(self) -> dict:
        return {"name": self.name, "dim": self.dim, "weights_digest": self.digest}


@register_visual("sync")
class SyncVisualEncoder(_SyncHalf):
    """Lower-face crops -> 128-d lip-motion embeddings at the video's frame rate."""

    def __init__(self, weights=None, device="cpu", weights_digest=None, box=None, **opts):
        super().__init__(weights, device, weights_digest)
        self.crop = self.info.get("crop", "face")
        if self.crop not in CROP_KINDS:
            raise UserError(
                f"sync encoder: weights {weights or 'shipped with the package'} were trained on {self.crop!r} "
                f"crops; this version reads {', '.join(CROP_KINDS)}"
            )
        self.box = tuple(float(b) for b in (box or self.info.get("box") or CROP_KINDS[self.crop][0]))

    def config(self) -> dict:
        return {**super().config(), "box": list(self.box), **({"crop": self.crop} if self.crop != "face" else {})}

    def encode_local(self, faces: np.ndarray) -> np.ndarray:
        """The per-frame part: [T, h, w] uint8 grey lower faces."""
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"expected faces [T, H, W, 3], got {tuple(faces.shape)}")
        return sync_crops(faces, self.crop, self.box, self.model.cfg.crop_hw)

    def _local_blocks(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """:meth:`encode_local` of each block; aligned crops see ``MESH_OVERLAP`` frames of the block before
        too (the mesh's tracking and the crop's smoothing warm up on them), so a block boundary barely shows."""
        tail = None
        for c in chunks:
            c = np.asarray(c)
            if self.crop == "face" or not len(c):
                yield self.encode_local(c)
                continue
            x = c if tail is None else np.concatenate([tail, c])
            yield self.encode_local(x)[len(x) - len(c) :]
            tail = x[-MESH_OVERLAP:]

    def encode_stream(self, chunks: Iterable[np.ndarray]) -> np.ndarray:
        """[T, dim] from a video's crop blocks in order, each embedded with its temporal context (the
        video edge-padded at its two ends only): nothing but the features is kept for the whole video."""
        grey = (torch.from_numpy(g) for g in self._local_blocks(chunks))
        return with_context(
            grey, self.model.cfg.context, lambda x: self.model.visual(x.to(self.device)[None])[0], self.dim
        )

    def encode(self, faces: np.ndarray) -> np.ndarray:
        return self.encode_stream([faces])


@register_audio("sync")
class SyncAudioEncoder(_SyncHalf):
    """16 kHz mono -> 128-d speech embeddings at 25 Hz, one per video frame."""

    rate = FPS

    def config(self) -> dict:
        return {**super().config(), "rate": self.rate}

    def encode_stream(self, read: Callable[[], Iterable[np.ndarray]], num_samples: int) -> np.ndarray:
        """[T, dim] from a wave of ``num_samples`` that ``read()`` hands out in blocks (called twice:
        vocalens.sync.features.stream_audio_frames), each block of frames embedded with its context."""
        rows = (torch.from_numpy(r) for r in stream_audio_frames(read, num_samples))
        return with_context(
            rows, self.model.cfg.context, lambda x: self.model.audio(x.to(self.device)[None].float())[0], self.dim
        )

    def encode(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, np.float32).reshape(-1)
        return self.encode_stream(lambda: [wave], len(wave))


@torch.no_grad()
def with_context(
    blocks: Iterable[torch.Tensor], c: int, fn: Callable[[torch.Tensor], torch.Tensor], dim: int
) -> np.ndarray:
    """Unit-norm ``fn`` outputs of a sequence handed in as consecutive ``blocks`` [n, ...], where ``fn``
    maps ``L`` inputs to the ``L - 2c`` outputs whose ``c`` neighbours each side it saw (convolutions
    without padding); the sequence is edge-padded by ``c`` at its start and end, as a whole one is
    (SyncNet.embed_*), so the outputs do not depend on the blocks. Only ``2c`` inputs are carried over."""
    out, tail = [], None
    for b in blocks:
        if not len(b):
            continue
        x = torch.cat([b[:1].expand(c, *b.shape[1:]) if tail is None else tail, b])
        if len(x) > 2 * c:
            out.append(F.normalize(fn(x).float(), dim=-1).cpu())
            x = x[len(x) - 2 * c :]
        tail = x
    if tail is None:
        return np.zeros((0, dim), np.float32)
    if c:
        out.append(F.normalize(fn(torch.cat([tail, tail[-1:].expand(c, *tail.shape[1:])])).float(), dim=-1).cpu())
    return torch.cat(out).numpy()
