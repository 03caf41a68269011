"""The sync encoder pair: per-frame embeddings whose cosine says whether lips and sound agree.

Both streams are translation-equivariant over time at 25 Hz: the visual stream embeds each grey
lower-face crop with a small 2-D CNN, the audio stream takes 4 stacked log-mel hops per frame,
and each then runs temporal convolutions without padding (``context`` frames each side, 5 frames
= 0.2 s with the defaults). Training feeds a segment plus its context and gets exactly one
embedding per frame; encoding a whole video edge-pads by ``context`` (see :meth:`SyncNet.embed_video`).
Nothing in the network knows absolute time, so a time-shifted negative is judged on content alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vocalens.sync.features import LOWER_FACE_HW, N_MELS, STACK


@dataclass
class SyncConfig:
    dim: int = 128
    width: int = 16  # channels of the first visual conv (doubles per stage)
    hidden: int = 256  # temporal conv channels
    kernel: int = 3  # temporal kernel of the two temporal layers
    stack: int = 1  # frames stacked as channels into the visual CNN (SyncNet's early fusion); the audio
    #                 stream's first temporal kernel has the same size
    crop_hw: tuple[int, int] = LOWER_FACE_HW
    audio_in: int = STACK * N_MELS

    @property
    def context(self) -> int:
        """Input frames needed on each side of an output frame."""
        return self.kernel - 1 + (self.stack - 1) // 2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop_hw"] = list(self.crop_hw)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SyncConfig":
        d = dict(d)
        d["crop_hw"] = tuple(d.get("crop_hw", LOWER_FACE_HW))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _conv(cin: int, cout: int, stride: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _temporal(cin: int, hidden: int, dim: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(cin, hidden, kernel),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv1d(hidden, hidden, kernel),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv1d(hidden, dim, 1),
    )


class SyncNet(nn.Module):
    def __init__(self, cfg: SyncConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or SyncConfig()
        w = cfg.width
        # stride 2 from the first layer (full-resolution maps cost 7x the time on a CPU); the last
        # 2 x 3 map is flattened, not pooled, so where in the lower face a change happens counts
        if cfg.stack < 1 or cfg.stack % 2 == 0:
            raise ValueError(f"stack must be odd and >= 1, got {cfg.stack}")
        self.frame_cnn = nn.Sequential(
            _conv(cfg.stack, w, 2, 5), _conv(w, 2 * w, 2), _conv(2 * w, 4 * w, 2), _conv(4 * w, 8 * w, 2), nn.Flatten()
        )
        h, wd = cfg.crop_hw
        self.visual_t = _temporal(8 * w * (-(-h // 16)) * (-(-wd // 16)), cfg.hidden, cfg.dim, cfg.kernel)
        self.audio_in = nn.Sequential(
            nn.Conv1d(cfg.audio_in, cfg.hidden, cfg.stack), nn.BatchNorm1d(cfg.hidden), nn.ReLU(inplace=True)
        )
        self.audio_t = _temporal(cfg.hidden, cfg.hidden, cfg.dim, cfg.kernel)
        self.logit_scale = nn.Parameter(torch.tensor(2.3))  # exp -> 1 / temperature, starts at 10

    @staticmethod
    def _norm_frames(crops: torch.Tensor) -> torch.Tensor:
        """uint8/float [..., h, w] -> per-frame zero-mean unit-variance float (lighting drops out)."""
        x = crops.float()
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.std(dim=(-2, -1), keepdim=True).clamp_min(1.0)
        return (x - mean) / std

    def visual(self, crops: torch.Tensor) -> torch.Tensor:
        """[B, T + 2c, h, w] crops -> [B, T, dim] (not normalised; c = ``cfg.context``)."""
        x = self._norm_frames(crops)
        if self.cfg.stack > 1:  # [B, T', k, h, w]: frame t sees frames t .. t + k - 1 as channels
            x = x.unfold(1, self.cfg.stack, 1).permute(0, 1, 4, 2, 3)
        else:
            x = x[:, :, None]
        b, t = x.shape[:2]
        f = self.frame_cnn(x.reshape(b * t, *x.shape[2:]))
        return self.visual_t(f.reshape(b, t, -1).transpose(1, 2)).transpose(1, 2)

    def audio(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, T + 2c, STACK * N_MELS] -> [B, T, dim] (not normalised)."""
        return self.audio_t(self.audio_in(mel.float().transpose(1, 2))).transpose(1, 2)

    @staticmethod
    def _pad(x: torch.Tensor, c: int) -> torch.Tensor:
        """Edge-pad [T, ...] by c frames each side."""
        return torch.cat([x[:1].expand(c, *x.shape[1:]), x, x[-1:].expand(c, *x.shape[1:])]) if c else x

    @torch.no_grad()
    def embed_visual(self, crops: torch.Tensor, chunk: int = 512) -> torch.Tensor:
        """A whole video's crops [T, h, w] -> unit-norm [T, dim], in chunks with their context."""
        c = self.cfg.context
        x = self._pad(torch.as_tensor(crops), c)
        t = len(x) - 2 * c
        out = [self.visual(x[s : min(s + chunk, t) + 2 * c][None])[0] for s in range(0, t, chunk)]
        return F.normalize(torch.cat(out), dim=-1) if out else torch.zeros(0, self.cfg.dim)

    @torch.no_grad()
    def embed_audio(self, mel: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """A whole video's audio frames [T, 320] -> unit-norm [T, dim], in chunks with their context
        (an hour's activations at once would be 1 GB)."""
        c = self.cfg.context
        x = self._pad(torch.as_tensor(mel), c)
        t = len(x) - 2 * c
        if t <= 0:
            return torch.zeros(0, self.cfg.dim)
        out = [self.audio(x[s : min(s + chunk, t) + 2 * c][None].float())[0] for s in range(0, t, chunk)]
        return F.normalize(torch.cat(out), dim=-1)
