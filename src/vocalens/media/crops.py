"""Video frames -> square face crops: the one crop path of both systems (extract/detect and AVFF).

``face`` is the shared ``--face`` value:
  none               the video is a face crop already (LAV-DF, `vocalens synth`): square centre crop, resized
  auto               detect, track and crop the face (vocalens.media.faces; the best detector installed)
  haar | mediapipe   the same with that detector
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.errors import UserError

FACE_SIZE = 224  # side of the crops the encoders see (ViT's input)
DETECT_MAX_SIDE = 640  # frames are decoded at most this large when faces are detected
FACE_HELP = (
    "face handling: auto (detect, track and crop the face), none (the video is a face crop already), "
    "or a detector name (haar, mediapipe)"
)


@dataclass
class Crops:
    frames: np.ndarray  # [T, size, size, 3] uint8 RGB
    found: np.ndarray | None  # [T] bool: a face was tracked in that frame; None with face='none'
    detector: str | None  # the detector that ran ('auto' resolved); None with face='none'

    @property
    def found_ratio(self) -> float | None:
        return None if self.found is None else float(np.mean(self.found)) if len(self.found) else 0.0


def center_crops(frames: np.ndarray, size: int) -> np.ndarray:
    """Square centre crop of every frame, resized to ``size`` (bilinear, antialiased)."""
    frames = np.asarray(frames)
    t, h, w = frames.shape[:3]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    sq = np.ascontiguousarray(frames[:, y0 : y0 + s, x0 : x0 + s])
    if s == size:
        return sq.astype(np.uint8, copy=False)
    x = torch.from_numpy(sq).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


# AVFF's former --faces values, still accepted: a centre crop is what 'none' does, 'detect' is 'auto'
LEGACY_FACE = {"center": "none", "detect": "auto"}


def face_mode(face: str) -> str:
    """The shared --face value for ``face`` (maps AVFF's former 'center' / 'detect')."""
    return LEGACY_FACE.get(face, face)


def resolve_face(face: str) -> str:
    """'none', or the concrete detector name ('auto' resolved once, not per worker); UserError if unknown."""
    if face == "none":
        return face
    from vocalens.media import faces as face_mod

    try:
        name = face_mod.resolve_detector(face)
        face_mod.get_detector(name)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"--face {face}: {e}") from None
    return name


def face_crops(
    frames: np.ndarray, size: int = FACE_SIZE, face: str = "auto", *, stride: int = 5, margin: float | None = None
) -> Crops:
    """Crops of ``frames [T,H,W,3]`` uint8 RGB as ``face`` says (see the module docstring)."""
    face = face_mode(face)
    if face == "none":
        return Crops(center_crops(frames, size), None, None)
    from vocalens.media import faces as face_mod

    try:
        track = face_mod.detect_faces(frames, stride=stride, detector=face)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"--face {face}: {e}") from None
    kw = {} if margin is None else {"margin": margin}
    crops = np.asarray(face_mod.crop_faces(frames, track, size=size, **kw), dtype=np.uint8)
    return Crops(crops, np.asarray(track.found, dtype=bool), str(getattr(track, "detector", face)))
