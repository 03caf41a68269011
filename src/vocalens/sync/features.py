"""What the sync encoders see: grey lower-face crops and log-mel frames, both at 25 Hz.

Visual: the lower face inside a ``crop_faces(margin=0.25)`` face crop (what ``vocalens extract``
hands its visual encoder), grey, area-resized to ``LOWER_FACE_HW``, kept as uint8 (the cache
stores exactly this). Audio: 80-band log-mel, 25 ms Hann windows every 10 ms centred on the hops
(the default audio encoder's alignment), normalised per band over the utterance, then 4 hops
stacked per video frame: frame ``j`` covers ``[j/25, (j+1)/25)``.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.constants import FPS, SAMPLE_RATE  # noqa: F401  (FPS re-exported for vocalens.sync.cache)
from vocalens.media.audio import iter_normalised_log_mel

HOP = 160  # 10 ms
WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 80
STACK = int(SAMPLE_RATE / FPS) // HOP  # 4 hops per video frame

# lower face inside a crop_faces(margin=0.25) crop, fractions (top, bottom, left, right): the
# canonical face box spans [1/6, 5/6] of the crop; this is its lower half (nose tip to just below
# the chin) and the middle 70 % of its width (vocalens.media.faces.MOUTH_CENTER sits inside)
LOWER_FACE_BOX = (0.50, 0.87, 0.27, 0.73)
LOWER_FACE_HW = (32, 48)
# ``aligned``: the face mesh's lower face (media.landmarks.aligned_lower_faces: eyes level, fixed scale, nose
# tip to chin) of the same face crop, ALIGNED_SIDE px; of it the box below (lips, chin, the cheeks beside the
# mouth), 40 x 48. The fixed-fraction box above misses the mouth on turned or off-centre faces.
ALIGNED_SIDE = 96
ALIGNED_BOX = (0.10, 0.95, 0.10, 0.90)
ALIGNED_HW = (40, 48)
ALIGNED_MESH_STRIDE = 3  # the mesh only places the crop (its angle and centre are smoothed); pixels are every frame's
CROP_KINDS = {"face": (LOWER_FACE_BOX, LOWER_FACE_HW), "aligned": (ALIGNED_BOX, ALIGNED_HW)}  # crop -> (box, size)


def lower_face_grey(faces, box=LOWER_FACE_BOX, size=LOWER_FACE_HW) -> np.ndarray:
    """[T, H, W, 3] uint8 face crops -> [T, h, w] uint8 grey lower-face crops."""
    faces = torch.as_tensor(np.asarray(faces))
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"expected face crops [T, H, W, 3], got {tuple(faces.shape)}")
    t, h, w = faces.shape[:3]
    if t == 0:
        return np.zeros((0, *size), np.uint8)
    top, bottom = int(round(box[0] * h)), max(int(round(box[1] * h)), int(round(box[0] * h)) + 1)
    left, right = int(round(box[2] * w)), max(int(round(box[3] * w)), int(round(box[2] * w)) + 1)
    weights = torch.tensor([0.299, 0.587, 0.114])
    out = []
    for s in range(0, t, 512):  # bounded memory for long videos
        grey = faces[s : s + 512, top:bottom, left:right].float() @ weights
        out.append(F.interpolate(grey[:, None], size=tuple(size), mode="area")[:, 0])
    return torch.cat(out).round().clamp(0, 255).to(torch.uint8).numpy()


def sync_crops(faces, crop: str = "face", box=None, size=None) -> np.ndarray:
    """[T, H, W, 3] uint8 ``crop_faces`` crops (margin 0.25) -> [T, h, w] uint8 grey visual inputs of the
    crop kind ``crop`` (a key of ``CROP_KINDS``); ``box`` / ``size`` default to the kind's."""
    if crop not in CROP_KINDS:
        raise ValueError(f"unknown sync crop {crop!r} (choose from {', '.join(CROP_KINDS)})")
    box, size = box or CROP_KINDS[crop][0], size or CROP_KINDS[crop][1]
    if crop == "aligned" and len(faces):
        from vocalens.media.landmarks import aligned_lower_faces  # noqa: PLC0415 - mediapipe on demand

        faces = aligned_lower_faces(np.asarray(faces), ALIGNED_SIDE, ALIGNED_MESH_STRIDE)
    return lower_face_grey(faces, box, size)


def num_frames(num_samples: int) -> int:
    """Video frames (25 Hz) covered by ``num_samples`` of 16 kHz audio: every started frame counts."""
    return int(math.ceil(num_samples / (HOP * STACK)))


def audio_frames(wave, frames: int | None = None) -> np.ndarray:
    """[N] float32 16 kHz mono -> [T, STACK * N_MELS] float16 normalised log-mel, one row per video frame.

    ``frames`` fixes T (cut, or the wave reflect-padded past its end), e.g. to the video's frame count.
    """
    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    parts = list(stream_audio_frames(lambda: [x], len(x), frames))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


BLOCK_FRAMES = 2500  # video frames of audio per streamed block (100 s)


def stream_audio_frames(read, num_samples: int, frames: int | None = None) -> Iterator[np.ndarray]:
    """:func:`audio_frames` of a wave that is never whole in memory, ``BLOCK_FRAMES`` rows at a time:
    ``read()`` hands out the wave's consecutive blocks (``num_samples`` in all) and is called twice, once
    for the per-band statistics of the utterance normalisation (summed in float64) and once for the rows.
    Each row's windows see only their own samples, so the rows do not depend on the blocks."""
    t = num_frames(num_samples) if frames is None else int(frames)
    if t == 0 or num_samples == 0:
        yield np.zeros((t, STACK * N_MELS), np.float16)
        return
    spec = dict(hop=HOP, win=WIN, n_fft=N_FFT, n_mels=N_MELS, block_hops=max(1, BLOCK_FRAMES) * STACK, multiple=STACK)
    for rows in iter_normalised_log_mel(read, num_samples, t * STACK, **spec):
        yield rows.reshape(-1, STACK * N_MELS).to(torch.float16).numpy()
