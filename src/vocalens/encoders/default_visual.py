"""The default visual encoder: classic visual-speech features of the mouth, no weights needed.

Per frame: the lower-middle region of the face crop (where the mouth is), grey, area-resized
to ``size`` x ``size``, in units of the whole face's grey mean/std (lighting drops out, the
mouth's darkness relative to the face stays), then a 2-D DCT whose
``n_coeffs`` lowest-frequency coefficients (zig-zag order) are kept. Per video each coefficient
is z-scored over time (identity and static appearance drop out, mouth motion stays), and the
temporal difference is appended: dim = 2 * n_coeffs (512 by default, the seed's visual dim).
Everything is a batched tensor op over frames.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.encoders import register_visual
from vocalens.errors import UserError

# mouth region as fractions of the face crop (top, bottom, left, right): the face module's mouth
# rule inside a `crop_faces(margin=0.25)` crop, i.e. `vocalens.media.faces.mouth_box(1000, 0.25)`
# (a test keeps the two equal). On the real clips it carries more A/V signal than a wider box
# (benchmarks/results/extract.md); pass mouth_box= for crops framed differently.
MOUTH_BOX = (0.593, 0.807, 0.333, 0.667)


@functools.lru_cache(maxsize=8)
def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix [n, n]: ``dct_matrix(n) @ x`` is the DCT of the columns of x."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return torch.from_numpy(m.astype(np.float32))


@functools.lru_cache(maxsize=8)
def zigzag_indices(n: int, count: int) -> torch.Tensor:
    """Flat indices of the ``count`` lowest-frequency (u + v, then u) coefficients of an n x n DCT."""
    u, v = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    order = np.lexsort((u.ravel(), (u + v).ravel()))
    return torch.from_numpy(order[:count].astype(np.int64))


def mouth_crops(faces: torch.Tensor, box=MOUTH_BOX, size: int = 32, normalize: bool = False) -> torch.Tensor:
    """[T, H, W, 3] uint8 face crops -> [T, size, size] float grey mouth crops in [0, 1].

    ``normalize``: instead, in units of the whole face's grey mean/std in that frame, so lighting
    drops out while the mouth's darkness relative to the face (an open mouth) stays.
    """
    t, h, w = faces.shape[:3]
    top, bottom = int(round(box[0] * h)), max(int(round(box[1] * h)), int(round(box[0] * h)) + 1)
    left, right = int(round(box[2] * w)), max(int(round(box[3] * w)), int(round(box[2] * w)) + 1)
    weights = torch.tensor([0.299, 0.587, 0.114], device=faces.device) / 255.0
    grey = faces[:, top:bottom, left:right].float() @ weights
    crop = F.interpolate(grey[:, None], size=(size, size), mode="area")[:, 0]
    if normalize:
        step = max(1, min(h, w) // 48)  # face statistics from a ~48x48 subsample: same numbers, far cheaper
        face = faces[:, ::step, ::step].float() @ weights
        mean, std = face.mean(dim=(1, 2), keepdim=True), face.std(dim=(1, 2), keepdim=True)
        crop = (crop - mean) / std.clamp_min(1e-3)
    if crop.shape != (t, size, size):
        raise AssertionError(f"mouth crops have shape {tuple(crop.shape)}, expected {(t, size, size)}")
    return crop


def dct_features(mouths: torch.Tensor, n_coeffs: int) -> torch.Tensor:
    """[T, n, n] (normalised) crops -> [T, n_coeffs] lowest-frequency 2-D DCT coefficients."""
    n = mouths.shape[-1]
    x = mouths
    d = dct_matrix(n).to(mouths.device)
    coeffs = d @ x @ d.T
    return coeffs.reshape(len(x), -1)[:, zigzag_indices(n, n_coeffs).to(mouths.device)]


def moving_average(x: torch.Tensor, window: int) -> torch.Tensor:
    """Centred moving average over time (dim 0) of [T, D], shrinking at the ends (cumulative sums)."""
    t = len(x)
    c = torch.cat([torch.zeros_like(x[:1]), torch.cumsum(x.double(), 0)])
    idx = torch.arange(t, device=x.device)
    lo = (idx - window // 2).clamp(0, t)
    hi = (idx + window - window // 2).clamp(0, t)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None]).to(x.dtype)


@register_visual("default")
class DCTMouthEncoder:
    """Mouth-region 2-D DCT + temporal difference; see the module docstring."""

    name = "default"

    def __init__(
        self,
        weights=None,
        device="cpu",
        size: int = 32,
        n_coeffs: int = 256,
        mouth_box=MOUTH_BOX,
        normalize: str = "video",
        detrend: int = 0,
        chunk: int = 1024,
    ):
        if n_coeffs > size * size:
            raise UserError(f"default visual encoder: n_coeffs={n_coeffs} exceeds size*size={size * size}")
        if normalize not in ("video", "none"):
            raise UserError(f"default visual encoder: normalize must be 'video' or 'none', got {normalize!r}")
        self.device = torch.device(device)
        self.size, self.n_coeffs, self.normalize, self.chunk = int(size), int(n_coeffs), normalize, int(chunk)
        self.mouth_box = tuple(float(b) for b in mouth_box)
        self.detrend = int(detrend)
        self.dim = 2 * self.n_coeffs

    def config(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "size": self.size,
            "n_coeffs": self.n_coeffs,
            "mouth_box": list(self.mouth_box),
            "normalize": self.normalize,
            "detrend": self.detrend,
        }

    @torch.no_grad()
    def encode_local(self, faces: np.ndarray) -> np.ndarray:
        """The per-frame part: [T, n_coeffs] mouth DCT coefficients (streamed videos keep these)."""
        faces = torch.as_tensor(np.asarray(faces))
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"expected faces [T, H, W, 3], got {tuple(faces.shape)}")
        if len(faces) == 0:
            return np.zeros((0, self.n_coeffs), np.float32)
        parts = []
        for s in range(0, len(faces), self.chunk):  # bounded memory for long videos
            f = faces[s : s + self.chunk].to(self.device)
            parts.append(dct_features(mouth_crops(f, self.mouth_box, self.size, normalize=True), self.n_coeffs))
        return torch.cat(parts).float().cpu().numpy()

    @torch.no_grad()
    def encode_global(self, static: np.ndarray) -> np.ndarray:
        """The whole-video part: detrend, z-score over the video, append the temporal difference."""
        if len(static) == 0:
            return np.zeros((0, self.dim), np.float32)
        static = torch.as_tensor(np.asarray(static)).to(self.device)
        if self.detrend > 1:
            static = static - moving_average(static, self.detrend)
        if self.normalize == "video":
            static = (static - static.mean(0)) / static.std(0, unbiased=False).clamp_min(1e-3)
        delta = torch.diff(static, dim=0, prepend=static[:1])
        return torch.cat([static, delta], dim=1).float().cpu().numpy()

    def encode(self, faces: np.ndarray) -> np.ndarray:
        return self.encode_global(self.encode_local(faces))
