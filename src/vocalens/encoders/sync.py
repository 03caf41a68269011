"""``sync``: the learned lip-sync encoder pair (visual and audio), trained on real speech without labels.

Both are halves of one :class:`vocalens.sync.model.SyncNet` loaded from one safetensors file
(``--visual_weights`` / ``--audio_weights``, default: the file shipped in the package), trained
contrastively so that the per-frame cosine of the two 128-d outputs is high where lips and sound
agree and low under a time shift (docs/sync.md). Visual input: the face crops of ``vocalens
extract`` (``crop_faces``, margin 0.25), of which the lower face is taken; audio: 16 kHz mono.
Both give one unit-norm row per 25 Hz frame.
"""

from __future__ import annotations

import numpy as np
import torch

from vocalens.encoders import register_audio, register_visual
from vocalens.errors import UserError
from vocalens.sync.features import FPS, LOWER_FACE_BOX, audio_frames, lower_face_grey
from vocalens.sync.weights import load_weights


class _SyncHalf:
    name = "sync"

    def __init__(self, weights=None, device="cpu", weights_digest: str | None = None, **opts):
        self.model, self.info, self.digest = load_weights(weights)
        if weights_digest and weights_digest != self.digest:
            raise UserError(
                f"sync encoder: weights {weights or 'shipped with the package'} are {self.digest}, "
                f"but these features were made with {weights_digest}; pass that file"
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
        if self.info.get("crop", "face") != "face":
            # `vocalens extract` hands crop_faces crops; weights trained on other crops would see the wrong image
            raise UserError(
                f"sync encoder: weights {weights or 'shipped with the package'} were trained on "
                f"{self.info.get('crop')!r} crops; the visual encoder takes crop_faces face crops ('face')"
            )
        self.box = tuple(float(b) for b in (box or self.info.get("box") or LOWER_FACE_BOX))

    def config(self) -> dict:
        return {**super().config(), "box": list(self.box)}

    def encode_local(self, faces: np.ndarray) -> np.ndarray:
        """The per-frame part: [T, h, w] uint8 grey lower faces (1.5 kB a frame; streamed videos keep these)."""
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"expected faces [T, H, W, 3], got {tuple(faces.shape)}")
        return lower_face_grey(faces, self.box, self.model.cfg.crop_hw)

    def encode_global(self, grey: np.ndarray) -> np.ndarray:
        """The temporal part over the whole video's grey crops (edge-padded at its ends only)."""
        if len(grey) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.model.embed_visual(torch.from_numpy(np.asarray(grey)).to(self.device)).float().cpu().numpy()

    def encode(self, faces: np.ndarray) -> np.ndarray:
        return self.encode_global(self.encode_local(faces))


@register_audio("sync")
class SyncAudioEncoder(_SyncHalf):
    """16 kHz mono -> 128-d speech embeddings at 25 Hz, one per video frame."""

    rate = FPS

    def config(self) -> dict:
        return {**super().config(), "rate": self.rate}

    def encode(self, wave: np.ndarray) -> np.ndarray:
        mel = audio_frames(np.asarray(wave, np.float32).reshape(-1))
        if len(mel) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.model.embed_audio(torch.from_numpy(mel.astype(np.float32)).to(self.device)).float().cpu().numpy()
