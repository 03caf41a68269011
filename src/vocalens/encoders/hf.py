"""Hugging Face encoders: ``vit`` (ViTModel on face crops) and ``wav2vec2`` (Wav2Vec2Model on audio).

Weights come only from a local folder written by ``save_pretrained`` (or, for a hub name, from
the local HF cache with ``local_files_only``); nothing is ever downloaded. On CUDA the forward
pass runs under bf16 autocast. Both batch internally (frames for ViT, audio chunks for Wav2Vec2).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.constants import IMAGENET_MEAN, IMAGENET_STD, SAMPLE_RATE
from vocalens.encoders import register_audio, register_visual
from vocalens.errors import UserError
from vocalens.extras import require


def _load(model_cls, weights, flag: str, what: str, **kw):
    """``model_cls.from_pretrained`` from a local folder, or a one-line UserError naming what to provide."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no per-tensor load report on every extraction run
    hf_logging.disable_progress_bar()
    if not weights:
        raise UserError(
            f"{flag}: the {what} encoder needs a local folder with a saved transformers model "
            f"(config.json + weights, e.g. from save_pretrained); none was given"
        )
    path = Path(weights).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path}: no config.json; provide a folder written by {model_cls.__name__}.save_pretrained")
        try:
            return model_cls.from_pretrained(str(path), local_files_only=True, **kw), path
        except (OSError, ValueError) as e:
            raise UserError(f"{path}: cannot load a {model_cls.__name__} ({str(e).splitlines()[0]})")
    if not path.exists() and str(weights).count("/") == 1 and not str(weights).startswith((".", "/", "~")):
        try:  # a hub name already in the local cache; never a download
            return model_cls.from_pretrained(str(weights), local_files_only=True, **kw), str(weights)
        except (OSError, ValueError):
            pass
    raise UserError(
        f"{weights}: {what} weights folder not found; provide it with {flag} FOLDER "
        f"(a {model_cls.__name__} saved with save_pretrained)"
    )


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@register_visual("vit")
class ViTEncoder:
    """transformers ViTModel on face crops: CLS token (or mean of patch tokens), ImageNet normalisation."""

    name = "vit"

    def __init__(
        self, weights=None, device="cpu", pool: str = "cls", batch_size: int = 32, mean=None, std=None, image_size=None
    ):
        ViTModel = require("transformers", "the vit visual encoder").ViTModel  # noqa: N806
        if pool not in ("cls", "mean"):
            raise UserError(f"vit encoder: pool must be 'cls' or 'mean', got {pool!r}")
        model, self.weights = _load(ViTModel, weights, "--visual_weights", "vit", add_pooling_layer=False)
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.pool, self.batch_size = pool, int(batch_size)
        self.image_size = int(model.config.image_size)  # the model's; a recorded value is only checked
        if image_size is not None and int(image_size) != self.image_size:
            raise UserError(
                f"{self.weights}: ViT image_size is {self.image_size}, the recorded config says {image_size}"
            )
        self.dim = int(model.config.hidden_size)
        pre = Path(str(self.weights)) / "preprocessor_config.json"
        if (mean is None or std is None) and pre.is_file():
            cfg = json.loads(pre.read_text())
            mean, std = mean or cfg.get("image_mean"), std or cfg.get("image_std")
        self.mean = tuple(float(m) for m in (mean or IMAGENET_MEAN))
        self.std = tuple(float(s) for s in (std or IMAGENET_STD))

    def config(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "weights": str(self.weights),
            "pool": self.pool,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @torch.no_grad()
    def encode(self, faces: np.ndarray) -> np.ndarray:
        faces = torch.as_tensor(np.asarray(faces))
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"expected faces [T, H, W, 3], got {tuple(faces.shape)}")
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        out = []
        for s in range(0, len(faces), self.batch_size):
            x = faces[s : s + self.batch_size].to(self.device).permute(0, 3, 1, 2).float() / 255.0
            if x.shape[-2:] != (self.image_size, self.image_size):
                x = F.interpolate(
                    x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False, antialias=True
                )
            with _autocast(self.device):
                h = self.model(pixel_values=(x - mean) / std).last_hidden_state
            out.append((h[:, 0] if self.pool == "cls" else h[:, 1:].mean(1)).float().cpu())
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return torch.cat(out).numpy()


@register_audio("wav2vec2")
class Wav2Vec2Encoder:
    """transformers Wav2Vec2Model: last_hidden_state at 50 Hz (16 kHz / conv stride 320)."""

    name = "wav2vec2"
    model_class = "Wav2Vec2Model"  # the transformers class; subclasses (hubert) swap it and _hidden

    def __init__(self, weights=None, device="cpu", chunk_seconds: float = 20.0, normalize: bool = True):
        transformers = require("transformers", f"the {self.name} audio encoder")
        model, self.weights = _load(getattr(transformers, self.model_class), weights, "--audio_weights", self.name)
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.chunk_seconds, self.normalize = float(chunk_seconds), bool(normalize)
        self.stride = int(np.prod(model.config.conv_stride))
        self.rate = SAMPLE_RATE / self.stride
        self.dim = int(model.config.hidden_size)

    def config(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "rate": self.rate,
            "weights": str(self.weights),
            "chunk_seconds": self.chunk_seconds,
            "normalize": self.normalize,
        }

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """[1, N] samples -> [1, Ta, dim] features of one chunk."""
        return self.model(x).last_hidden_state

    @torch.no_grad()
    def encode(self, wave: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
        if self.normalize:  # what Wav2Vec2FeatureExtractor(do_normalize=True) does
            x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
        # chunks are a whole number of output frames, so frames stay on one grid
        chunk = max(self.stride, int(self.chunk_seconds * SAMPLE_RATE) // self.stride * self.stride)
        out = []
        for s in range(0, len(x), chunk):
            # + the receptive field's overhang (400 - stride samples): exactly chunk / stride frames per chunk,
            # so a chunked wave gives the frames of one pass (without it each chunk lost its last frame)
            piece = x[s : s + chunk + 400 - self.stride]
            if len(piece) < 400:  # shorter than the conv receptive field: pad to one frame
                piece = F.pad(piece, (0, 400 - len(piece)))
            with _autocast(self.device):
                h = self._hidden(piece[None].to(self.device))[0]
            out.append(h.float().cpu())
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return torch.cat(out).numpy()
