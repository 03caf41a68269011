"""The ``avff`` encoders: the stage-1 (self-supervised) AVFF streams, learned on the user's own real
videos with ``vocalens avff pretrain``, serving the localizer's feature extraction.

    vocalens extract --visual_encoder avff --visual_weights RUN/best.pth \
                     --audio_encoder avff --audio_weights RUN/best.pth ...

visual: per-frame ViT CLS projected to ``dim``; audio: the AVFF audio stream on clip-length chunks,
pooled to the video rate (25 Hz), so ``rate`` = fps and the alignment step is an identity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vocalens.encoders import register_audio, register_visual
from vocalens.errors import UserError


def _load(weights, device, flag: str):
    if not weights:
        raise UserError(f"{flag}: the avff encoder needs a checkpoint from `vocalens avff pretrain` (or train)")
    from vocalens.avff.predict import load_model

    model, cfg, task = load_model(Path(weights).expanduser(), device)
    return model, cfg, task


class _AVFFBase:
    name = "avff"

    def __init__(self, weights=None, device="cpu", batch_size: int = 32, flag: str = "--visual_weights", **_recorded):
        self.device = torch.device(device)
        self.model, self.cfg, self.task = _load(weights, self.device, flag)
        self.weights = str(weights)
        self.batch_size = int(batch_size)
        self.dim = int(self.cfg.dim)

    def config(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "weights": self.weights,
            "stage": self.task.get("stage"),
            "image_size": self.cfg.image_size,
            "audio_encoder": self.cfg.audio_encoder,
        }


@register_visual("avff")
class AVFFVisualEncoder(_AVFFBase):
    def __init__(self, weights=None, device="cpu", batch_size: int = 32, **recorded):
        super().__init__(weights, device, batch_size, "--visual_weights", **recorded)

    def encode(self, faces: np.ndarray) -> np.ndarray:
        from vocalens.avff.predict import frame_embeddings

        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"expected faces [T, H, W, 3], got {faces.shape}")
        return frame_embeddings(self.model, faces, self.batch_size, self.device)


@register_audio("avff")
class AVFFAudioEncoder(_AVFFBase):
    def __init__(self, weights=None, device="cpu", batch_size: int = 16, **recorded):
        super().__init__(weights, device, batch_size, "--audio_weights", **recorded)
        self.rate = float(self.cfg.fps)

    def config(self) -> dict:
        return {**super().config(), "rate": self.rate}

    def encode(self, wave: np.ndarray) -> np.ndarray:
        from vocalens.avff.predict import audio_embeddings

        return audio_embeddings(self.model, wave, self.batch_size, self.device)
