"""Video frames -> square face crops: the one crop path of both systems (extract/detect and AVFF).

``face`` is the shared ``--face`` value:
  none               the video is a face crop already (LAV-DF, `vocalens synth`): square centre crop, resized
  auto               detect, track and crop the face (vocalens.media.faces; the best detector installed)
  haar | mediapipe   the same with that detector

A file is read in two streamed passes, so memory does not grow with the video's length:
:func:`plan_faces` decodes it once and runs the detector on its keyframes (keeping only boxes: where
the face is in every frame, and which face when there are several, vocalens.media.speaker), then
:func:`iter_face_chunks` decodes it again and yields the crops ``chunk`` frames at a time. Frames
already in memory go through :func:`face_crops`, the same tracker and crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.errors import UserError

FACE_SIZE = 224  # side of the crops the encoders see (ViT's input)
DETECT_MAX_SIDE = 640  # frames are decoded at most this large when faces are detected
CHUNK = 256  # frames per streamed block (a multiple of the encoders' batch sizes: same batches as a whole video)
FACE_HELP = (
    "face handling: auto (detect, track and crop the face), none (the video is a face crop already), "
    "or a detector name (haar, mediapipe)"
)


@dataclass
class Crops:
    frames: np.ndarray  # [T, size, size, 3] uint8 RGB
    found: np.ndarray | None  # [T] bool: a face was tracked in that frame; None with face='none'
    detector: str | None  # the detector that ran ('auto' resolved); None with face='none'
    choice: dict | None = None  # which face was analysed (FacePlan.face_info), None with face='none'

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


@dataclass
class FacePlan:
    """The first pass over a video: its length and where the analysed face is in every frame."""

    num_frames: int | None  # None with face='none' (no first pass: known after the crops)
    track: object | None  # vocalens.media.faces.FaceTrack of the analysed face; None with face='none'
    detector: str | None
    choice: dict | None = None  # vocalens.media.speaker.choose_speaker's answer
    frame_size: tuple[int, int] | None = None  # (H, W) of the decoded (upright, scaled) frames
    crop_side: int | None = None  # longest side pass 2 decodes at (None: as pass 1): larger for a small face

    @property
    def found(self) -> np.ndarray | None:
        return None if self.track is None else np.asarray(self.track.found, bool)

    def face_info(self) -> dict | None:
        """The ``face`` record of a result: the analysed face's median box (frame pixels of the decoded
        frames, x0 y0 x1 y1), how it was chosen ('only face' / 'speaker' / 'speaker turns' / 'largest'),
        how many faces; with turns, each run's frames, face (largest first) and box."""
        if self.track is None:
            return None
        found = np.asarray(self.track.found, bool)
        box = np.median(self.track.boxes[found], axis=0) if found.any() else None
        c = self.choice or {"how": "only face", "faces": 1, "r": None}
        info = {
            "box": None if box is None else [round(float(v), 1) for v in box],
            "frame_size": list(self.frame_size) if self.frame_size else None,
            "chosen": c["how"],
            "faces": int(c["faces"]),
        }
        if c.get("r") is not None:
            info["mouth_audio_r"] = c["r"]
        if c.get("turns"):  # turn-taking: which face each run of frames analyses, and where it is
            info["turns"] = [
                {"start_frame": s, "end_frame": e, "face": k, "box": _median_box(self.track, s, e)}
                for s, e, k in c["turns"]
            ]
            longest = max(info["turns"], key=lambda t: t["end_frame"] - t["start_frame"])
            info["box"] = longest["box"]  # the longest turn's face
        return info


def _median_box(track, start: int, end: int) -> list[float] | None:
    found = np.asarray(track.found[start:end], bool)
    if not found.any():
        return None
    return [round(float(v), 1) for v in np.median(track.boxes[start:end][found], axis=0)]


def _turn_track(tracks, turns):
    """One track that follows the speaker: each run of ``turns`` ([start, end, track]) from its track."""
    from dataclasses import replace

    first = tracks[turns[0][2]]
    boxes, found, detected = first.boxes.copy(), first.found.copy(), first.detected.copy()
    for s, e, k in turns:
        boxes[s:e], found[s:e], detected[s:e] = tracks[k].boxes[s:e], tracks[k].found[s:e], tracks[k].detected[s:e]
    return replace(first, boxes=boxes, found=found, detected=detected, mouth_motion=None)


def _tracker_error(face: str, e: Exception) -> UserError:
    return UserError(f"--face {face}: {e}")


def _choose(tracks, loudness, detector: str, num_frames: int, size) -> FacePlan:
    from vocalens.media.speaker import choose_speaker

    choice = None
    if len(tracks) > 1:
        choice = choose_speaker(tracks, loudness(num_frames) if loudness is not None else None)
    if choice is None:
        choice = {"index": 0, "how": "only face", "faces": 1 if tracks[0].found.any() else 0, "r": None}
    track = _turn_track(tracks, choice["turns"]) if choice.get("turns") else tracks[choice["index"]]
    return FacePlan(num_frames, track, detector, choice, size)


def plan_faces(
    path: str | Path,
    face: str = "auto",
    fps: float | None = None,
    stride: int = 5,
    loudness: Callable[[int], np.ndarray | None] | None = None,
    max_side: int = DETECT_MAX_SIDE,
) -> FacePlan:
    """Pass 1: decode ``path`` (streamed), detect and track faces on keyframes, pick the face to
    analyse: among several, the speaker (``loudness``: the audio's envelope for a frame count,
    vocalens.media.speaker.file_loudness; None: the largest). Nothing for face='none'."""
    from vocalens.constants import FPS
    from vocalens.media import faces as face_mod
    from vocalens.media.video import iter_grid

    fps = fps or FPS
    face = face_mode(face)
    if face == "none":
        return FacePlan(None, None, None)
    try:
        tracker = face_mod.FaceTracker(stride=stride, detector=face)
    except (ValueError, RuntimeError) as e:
        raise _tracker_error(face, e) from None
    n, last = 0, None
    for i, g in enumerate(iter_grid(path, fps, max_side=max_side)):
        tracker.see(i, g.array, last[1].array if last is not None else None, g.full)
        n, last = i + 1, (i, g)
    if last is not None and not tracker.wants(last[0]):
        tracker.add(last[0], last[1].array(), last[1].full)
    size = tuple(last[1].array().shape[:2]) if last is not None else (0, 0)
    tracks = tracker.finish(n, size)
    plan = _choose(tracks, loudness, tracker.detector, n, size)
    if last is not None:
        plan.crop_side = crop_side(plan, max(size), last[1].source_side)
    return plan


SMALL_FACE = 56  # a face narrower than this (decoded pixels) is cropped from frames decoded larger ...
CROP_FACE = 112  # ... so that it is about this wide there (at most the source's own resolution)


def crop_side(plan: FacePlan, decoded_side: int, source_side: int) -> int | None:
    """The longest side to decode pass 2 at so that a small analysed face is cropped from enough pixels
    (a 60 px face in 1080p is 20 px at 640 px); None (the first pass's size) for a face of normal size."""
    if plan.track is None or not plan.found.any() or source_side <= decoded_side:
        return None
    boxes = plan.track.boxes[plan.found]
    side = float(np.median(boxes[:, 2] - boxes[:, 0]))
    if side >= SMALL_FACE:
        return None
    return int(min(source_side, round(decoded_side * CROP_FACE / max(side, 1.0))))


def _crop_block(frames: np.ndarray, plan: FacePlan, start: int, size: int, margin: float | None) -> np.ndarray:
    if plan.track is None:
        return center_crops(frames, size)
    from vocalens.media import faces as face_mod

    kw = {} if margin is None else {"margin": margin}
    boxes = plan.track.boxes[start : start + len(frames)]
    frame_size = plan.track.frame_size
    if frame_size is not None and tuple(frames.shape[1:3]) != tuple(frame_size):  # decoded larger (crop_side)
        boxes = boxes * (frames.shape[2] / frame_size[1])
        frame_size = tuple(frames.shape[1:3])
    boxes = face_mod.square_boxes(boxes, kw.get("margin", 0.25), frame_size)
    return face_mod.crop_regions(frames, boxes, (size, size))


CROP_BATCH = 16  # decoded frames cropped at a time: only crops are gathered into blocks


def trim_heap() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim; a no-op elsewhere). Blocks of
    frames made in the reader thread and freed in the encoder's otherwise ratchet the process's
    resident size up with the video's length (measured: peak 2.6 GB for 60 minutes of 720p)."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim  # noqa: B018  (present in glibc only)
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None
_BOUND = False
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_FROM = 1 << 20  # bytes: blocks this large come from (and go back to) the system's own pages


LONG_VIDEO_S = 600.0  # videos longer than this (seconds) switch the process to bound_heap


def bound_heap_for(seconds: float | None) -> None:
    """:func:`bound_heap` for a video longer than ``LONG_VIDEO_S`` (shorter ones do not fragment the heap
    measurably, and mapped blocks cost the kernel's page zeroing: a few per cent of CPU time)."""
    if seconds is not None and seconds > LONG_VIDEO_S:
        bound_heap()


def bound_heap() -> None:
    """Blocks of ``MMAP_FROM`` bytes and more mapped from the system and given back when freed (once per
    process; glibc only). glibc's default raises that threshold as big blocks are freed, after which
    they are carved from a heap that fragments as a long video's blocks and the localizer's windows are
    made and freed: its resident size then grows with the video's length (a 60-minute 720p detect
    peaked at 847 MB against 596 MB for 1 minute: benchmarks/bench_long_video.py)."""
    global _BOUND
    trim_heap()  # loads libc
    if _LIBC and not _BOUND:
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_FROM)
        _BOUND = True


def iter_face_chunks(
    path: str | Path,
    plan: FacePlan,
    size: int = FACE_SIZE,
    margin: float | None = None,
    fps: float | None = None,
    chunk: int | None = None,
    max_side: int = DETECT_MAX_SIDE,
) -> Iterator[np.ndarray]:
    """Pass 2: ``[n <= chunk, size, size, 3]`` uint8 crops of consecutive frames (``chunk``: CHUNK), as
    ``plan`` says. Frames are cropped ``CROP_BATCH`` at a time as they are decoded, so a block holds
    crops (150 kB a frame at 224 px), never decoded frames (690 kB at 640x360)."""
    from vocalens.constants import FPS
    from vocalens.media.video import iter_chunks

    chunk = chunk or CHUNK
    limit = plan.num_frames  # the first pass fixed the length (None with face='none')
    side = plan.crop_side or max_side
    batch = max(1, min(CROP_BATCH, int(32e6 // (side * side * 3))))  # decoded frames held: at most ~32 MB
    start, block = 0, []
    for frames in iter_chunks(path, batch, fps or FPS, max_side=side):
        if limit is not None:
            frames = frames[: max(0, limit - start)]
            if not len(frames):
                break
        block.append(np.asarray(_crop_block(frames, plan, start, size, margin), dtype=np.uint8))
        start += len(frames)
        while sum(len(c) for c in block) >= chunk:
            cat = np.concatenate(block)
            block = [cat[chunk:].copy()] if len(cat) > chunk else []
            yield cat[:chunk]
            del cat
            trim_heap()
    if block and sum(len(c) for c in block):
        yield np.ascontiguousarray(np.concatenate(block))


def face_crops(
    frames: np.ndarray,
    size: int = FACE_SIZE,
    face: str = "auto",
    *,
    stride: int = 5,
    margin: float | None = None,
    audio: np.ndarray | None = None,
    fps: float | None = None,
) -> Crops:
    """Crops of ``frames [T,H,W,3]`` uint8 RGB already in memory, as ``face`` says (see the module
    docstring): the tracker, speaker choice and crops of the streamed path."""
    face = face_mode(face)
    if face == "none":
        return Crops(center_crops(frames, size), None, None)
    from vocalens.media import faces as face_mod

    frames = np.asarray(frames)
    try:
        tracks = face_mod.detect_face_tracks(frames, stride=stride, detector=face)
    except (ValueError, RuntimeError) as e:
        raise _tracker_error(face, e) from None
    from vocalens.constants import FPS
    from vocalens.media.speaker import array_loudness

    loud = array_loudness(audio, fps or FPS)
    plan = _choose(tracks, loud, tracks[0].detector, len(frames), tuple(frames.shape[1:3]))
    crops = _crop_block(frames, plan, 0, size, margin)
    return Crops(np.asarray(crops, np.uint8), plan.found, str(plan.track.detector), plan.face_info())
