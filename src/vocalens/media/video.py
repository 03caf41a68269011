"""Decode and write talking-face videos with PyAV (ffmpeg inside the wheel).

Frames come out on a fixed ``fps`` grid chosen by presentation time, so 30, 29.97 and
variable-frame-rate inputs all give frame ``i`` = what was on screen at ``(i + 0.5) / fps``.
Frames are upright (a phone video's display matrix is applied). Audio comes out as 16 kHz mono
float32 aligned to the first video frame by timestamps (AAC encoder padding and stream start offsets
are handled by trusting timestamps, not sample counts) and cut or padded to exactly the video's span.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from vocalens.constants import FPS, SAMPLE_RATE
from vocalens.errors import MediaError, cause, check_file
from vocalens.fileio import atomic_path, file_mode  # noqa: F401  (file_mode re-exported)


@dataclass
class Media:
    frames: np.ndarray  # [T, H, W, 3] uint8 RGB on the fps grid
    audio: np.ndarray | None  # [N] float32 mono at sample_rate, N = round(T / fps * sample_rate)
    fps: float
    sample_rate: int
    source_fps: float
    path: str

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


def _open(path: str | Path):
    p = check_file(path)  # a directory, broken link, missing or empty file: the message says which
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise MediaError(f"{p}: cannot open as a video ({cause(e)})")


def _scaled_size(w: int, h: int, size: tuple[int, int] | None, max_side: int | None) -> tuple[int, int]:
    if size is not None:
        return int(size[1]), int(size[0])  # size is (H, W)
    if max_side is not None and max(w, h) > max_side:
        s = max_side / max(w, h)
        return max(2, int(round(w * s)) // 2 * 2), max(2, int(round(h * s)) // 2 * 2)
    return w, h


def quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that make ``frame`` (an av.VideoFrame) upright: its display
    matrix (phone videos store landscape pixels and say "rotate by -90" there), rounded to 90 degrees."""
    try:
        deg = frame.rotation
    except (AttributeError, ValueError):  # older PyAV, or a malformed matrix
        return 0
    return int(round(float(deg or 0) / 90.0)) % 4


class GridFrame:
    """One source frame on the fps grid, converted to RGB only when asked (once): a pass that looks at
    every 5th frame pays for decoding, not for the colour conversion of the other four."""

    __slots__ = ("_frame", "_size", "_max_side", "_img")

    def __init__(self, frame, size, max_side):
        self._frame, self._size, self._max_side, self._img = frame, size, max_side, None

    def _convert(self, size, max_side) -> np.ndarray:
        f = self._frame
        k = quarter_turns(f)
        w, h = f.width, f.height
        if k % 2:  # size / max_side describe the upright picture: scale the stored one to its transpose
            w, h = h, w
        w, h = _scaled_size(w, h, size, max_side)
        if k % 2:
            w, h = h, w
        img = f.to_ndarray(format="rgb24", width=w, height=h)
        return np.ascontiguousarray(np.rot90(img, k)) if k else img

    def array(self) -> np.ndarray:
        """[H, W, 3] uint8 RGB, upright (the display matrix applied), scaled as asked."""
        if self._img is None:
            self._img = self._convert(self._size, self._max_side)
        return self._img

    def full(self) -> np.ndarray:
        """The same picture at the source's own resolution (not kept: a small face's second look)."""
        return self._convert(None, None)

    @property
    def source_side(self) -> int:
        """The source's longest side in pixels."""
        return max(self._frame.width, self._frame.height)


def iter_grid(
    path: str | Path, fps: float = FPS, size: tuple[int, int] | None = None, max_side: int | None = None
) -> Iterator[GridFrame]:
    """Frames on the ``fps`` grid as :class:`GridFrame` (decoded, not yet converted); a source frame
    shown for several grid slots is the same object. Streaming: never holds more than one frame."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0 = None
        nxt = 0  # next target frame index
        prev = None
        last_t = None
        src_dt = 1.0 / float(stream.average_rate or stream.guessed_rate or fps)
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:
                    t = (last_t + src_dt) if last_t is not None else 0.0
                if t0 is None:
                    t0 = t
                t -= t0
                if last_t is not None and t <= last_t:  # non-monotonic pts: step forward
                    t = last_t + 1e-6
                # every target centre before this frame's time shows the previous frame
                while prev is not None and (nxt + 0.5) / fps < t:
                    yield prev
                    nxt += 1
                prev, last_t = GridFrame(frame, size, max_side), t
        except av.error.FFmpegError as e:
            if prev is None:
                raise MediaError(f"{path}: cannot decode video ({cause(e)})")
            # truncated tail: keep what decoded
        if prev is None:
            raise MediaError(f"{path}: video stream has no frames")
        end = last_t + src_dt  # display time of the last frame runs one source frame
        while (nxt + 0.5) / fps < end:
            yield prev
            nxt += 1


def iter_frames(
    path: str | Path, fps: float = FPS, size: tuple[int, int] | None = None, max_side: int | None = None
) -> Iterator[np.ndarray]:
    """Yield upright RGB frames on the ``fps`` grid, streaming (never holds the whole video)."""
    for g in iter_grid(path, fps, size, max_side):
        yield g.array()


def iter_chunks(
    path: str | Path,
    chunk: int,
    fps: float = FPS,
    size: tuple[int, int] | None = None,
    max_side: int | None = None,
) -> Iterator[np.ndarray]:
    """[n <= chunk, H, W, 3] blocks of consecutive frames (iter_frames), for bounded-memory passes."""
    buf: list[np.ndarray] = []
    for img in iter_frames(path, fps, size, max_side):
        buf.append(img)
        if len(buf) == chunk:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def probe(path: str | Path) -> dict:
    """What a file holds, without decoding: ``{"video": bool, "audio": bool, "fps": float | None,
    "seconds": float | None}`` (``seconds``: the container's own duration, None when it does not say)."""
    with _open(path) as c:
        vs = c.streams.video[0] if c.streams.video else None
        fps = float(vs.average_rate or vs.guessed_rate or 0) if vs is not None else 0.0
        seconds = c.duration / 1e6 if c.duration else None
        return {"video": vs is not None, "audio": bool(c.streams.audio), "fps": fps or None, "seconds": seconds}


def _stream_start(stream) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


AUDIO_BLOCK = 1 << 16  # samples per streamed audio block (4 s at 16 kHz)


def iter_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, start: float | None = None, block: int | None = None
) -> Iterator[np.ndarray]:
    """The mono float32 track at ``sample_rate`` in ``block``-sample pieces (the last one shorter),
    streamed: t=0 is the first video frame when there is video (the first audio frame's timestamp
    against the video stream's start: leading zeros, or samples dropped). MediaError when the file has
    no audio track or none of it decodes; a truncated tail ends the stream."""
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio track")
        astream = container.streams.audio[0]
        if start is None:
            start = _stream_start(container.streams.video[0]) if container.streams.video else _stream_start(astream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        out = _Blocks(block or AUDIO_BLOCK)
        skip = None  # samples still to drop (a negative offset); None until the first timestamp
        pending: list[np.ndarray] = []  # samples before the first timestamp is known

        def emit(x):  # x past the samples still to drop
            nonlocal skip
            cut = min(skip, len(x))
            skip -= cut
            yield from out.add(x[cut:])

        def feed(frames):
            for f in frames:
                x = f.to_ndarray().reshape(-1)
                out.decoded += len(x)
                if skip is None:
                    pending.append(x)
                else:
                    yield from emit(x)

        def settle(first_t):
            nonlocal skip
            offset = int(round(((first_t if first_t is not None else start) - start) * sample_rate))
            skip = max(0, -offset)
            yield from out.add(np.zeros(max(0, offset), np.float32))
            held = list(pending)
            pending.clear()
            for x in held:
                yield from emit(x)

        try:
            for frame in container.decode(astream):
                if skip is None and frame.time is not None:
                    yield from settle(frame.time)
                yield from feed(resampler.resample(frame))
            if skip is None:
                yield from settle(None)
            yield from feed(resampler.resample(None))
        except av.error.FFmpegError as e:
            if not out.decoded:
                raise MediaError(f"{path}: cannot decode audio ({cause(e)})")
            if skip is None:
                yield from settle(None)
            # truncated tail: keep what decoded
        if not out.decoded:
            raise MediaError(f"{path}: empty audio track")
        yield from out.flush()


class _Blocks:
    """Samples gathered into fixed-size blocks (decoders hand out a few hundred at a time)."""

    def __init__(self, size: int):
        self.size, self.buf, self.n = size, np.empty(size, np.float32), 0
        self.decoded = 0  # samples the decoder produced (before the offset)

    def add(self, x: np.ndarray) -> Iterator[np.ndarray]:
        while len(x):
            k = min(len(x), self.size - self.n)
            self.buf[self.n : self.n + k] = x[:k]
            self.n, x = self.n + k, x[k:]
            if self.n == self.size:
                yield self.buf
                self.buf, self.n = np.empty(self.size, np.float32), 0

    def flush(self) -> Iterator[np.ndarray]:
        if self.n:
            yield self.buf[: self.n]


def check_audio(path: str | Path) -> None:
    """MediaError unless ``path`` has an audio track whose first block decodes (cheap: a few seconds of it)."""
    first = iter_audio(path)
    try:
        next(first, None)
    finally:
        first.close()


class TrackWindow:
    """Forward-only random access to a streamed track: ``take(a, n)`` gives samples ``[a, a + n)``, zeros
    past the track's end or past ``limit``; only samples from the last ``a`` on are held, so starts
    must not decrease (clips that tile a video in order)."""

    def __init__(self, blocks: Iterable[np.ndarray], limit: int | None = None):
        self._src, self.limit = iter(blocks), limit
        self._buf, self._buf0, self._done = np.zeros(0, np.float32), 0, False

    @classmethod
    def of(cls, audio: np.ndarray | None) -> "TrackWindow":
        return cls([] if audio is None else [np.asarray(audio, np.float32).reshape(-1)])

    def _drop_before(self, a: int) -> None:
        cut = min(max(0, a - self._buf0), len(self._buf))
        if cut:
            self._buf, self._buf0 = self._buf[cut:], self._buf0 + cut

    def take(self, a: int, n: int) -> np.ndarray:
        if a < self._buf0:
            raise ValueError(f"TrackWindow reads forward only: sample {a} was dropped")
        end = a + n if self.limit is None else max(a, min(a + n, self.limit))
        self._drop_before(a)
        while self._buf0 + len(self._buf) < end and not self._done:
            x = next(self._src, None)
            if x is None:
                self._done = True
                break
            self._buf = np.concatenate([self._buf, np.asarray(x, np.float32).reshape(-1)])
            self._drop_before(a)
        out = np.zeros(n, np.float32)
        have = self._buf[a - self._buf0 : end - self._buf0] if a >= self._buf0 else self._buf[:0]
        out[: len(have)] = have
        return out


def fit_blocks(blocks, n: int) -> Iterator[np.ndarray]:
    """``blocks`` cut or zero-padded to exactly ``n`` samples in all (fit_length, streamed)."""
    left = n
    for b in blocks:
        if left <= 0:
            break
        b = b[:left]
        left -= len(b)
        yield b
    while left > 0:
        k = min(left, AUDIO_BLOCK)
        yield np.zeros(k, np.float32)
        left -= k


def track_energy(path: str | Path, num_frames: int, fps: float = FPS):
    """The loudness statistics (vocalens.media.audio.FrameEnergy) of ``path``'s track fitted to
    ``num_frames`` video frames, streamed."""
    from vocalens.media.audio import FrameEnergy

    n = int(round(num_frames / fps * SAMPLE_RATE))
    energy = FrameEnergy(n, num_frames)
    for b in fit_blocks(iter_audio(path), n):
        energy.add(b)
    return energy


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, start: float | None = None) -> np.ndarray:
    """The whole track in memory (:func:`iter_audio`'s blocks joined): for short clips; long videos
    stream it."""
    parts = list(iter_audio(path, sample_rate, start))
    return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to exactly ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), audio.dtype)])


def load_video(
    path: str | Path,
    fps: float = FPS,
    size: tuple[int, int] | None = None,
    max_side: int | None = None,
    sample_rate: int = SAMPLE_RATE,
    audio: str = "required",
) -> Media:
    """Decode a whole video: frames on the fps grid and the audio over the same span.

    ``audio``: 'required' (no track is a MediaError), 'optional' (None when absent) or 'skip'.
    """
    frames = np.stack(list(iter_frames(path, fps, size, max_side)))
    with _open(path) as c:
        vs = c.streams.video[0]
        src_fps = float(vs.average_rate or vs.guessed_rate or fps)
        has_audio = bool(c.streams.audio)
    wav = None
    if audio != "skip":
        if has_audio:
            wav = fit_length(load_audio(path, sample_rate), int(round(len(frames) / fps * sample_rate)))
        elif audio == "required":
            raise MediaError(f"{path}: no audio track")
    return Media(frames=frames, audio=wav, fps=fps, sample_rate=sample_rate, source_fps=src_fps, path=str(path))


# libx264's defaults make its output differ from run to run on the same frames: its CPU-specific assembly
# (used by its lookahead) gave a different file in each of 6 encodes in one process here, and its
# thread count (auto: 1.5 x cores) changes the bytes from one machine to another. cpu-independent (x264's
# own switch for exact reproducibility) and one thread make the file a function of the frames and
# settings alone; parallelism comes from encoding several videos at once (synth and extract workers).
X264_REPRODUCIBLE = "threads=1:cpu-independent=1"


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float = FPS,
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    crf: int = 23,
    preset: str = "veryfast",
) -> Path:
    """H.264 (yuv420p) + AAC mono, written to a temporary name and renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    t, h, w = frames.shape[:3]
    if h % 2 or w % 2:
        frames = frames[:, : h - h % 2, : w - w % 2]
        h, w = frames.shape[1:3]
    if not path.suffix:
        raise ValueError(f"{path}: needs a container extension (.mp4, .mkv, ...)")
    with atomic_path(path) as tmp, av.open(str(tmp), "w") as c:
        from fractions import Fraction

        rate = Fraction(fps).limit_denominator(1001)
        vs = c.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": preset, "x264-params": X264_REPRODUCIBLE}
        astream = None
        if audio is not None:
            astream = c.add_stream("aac", rate=sample_rate, layout="mono")
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
        if astream is not None:
            a = np.asarray(audio, dtype=np.float32).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(np.clip(a, -1, 1), format="flt", layout="mono")
            af.sample_rate = sample_rate
            af.pts = 0
            for pkt in astream.encode(af):
                c.mux(pkt)
            for pkt in astream.encode():
                c.mux(pkt)
    return path


def audio_seconds(path: str | Path) -> float | None:
    """The audio track's own length from the container (no decoding; None when there is no track or the
    container does not say): load_video pads a short track to the video's span, this tells it was short."""
    with _open(path) as c:
        if not c.streams.audio:
            return None
        a = c.streams.audio[0]
        if a.duration is None or a.time_base is None:
            return None
        return float(a.duration * a.time_base)
