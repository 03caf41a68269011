"""The extraction pipeline: videos -> per-frame visual/audio embeddings + frame labels in the store.

Workers (threads by default: PyAV and OpenCV release the GIL; or processes) run each video's first
pass (vocalens.media.crops.plan_faces: decode, detect and track the face on keyframes, keeping only
boxes) while the main thread encodes the previous videos: it decodes each again, ``CHUNK`` frames at a
time (a reader thread cuts the next block's crops while the encoder runs), then streams its audio
(16 kHz, aligned by timestamps) through the audio encoder block by block, so memory does not grow with
the video's length: only the features are whole.
A video that cannot be decoded (no audio, truncated, empty) is appended to ``failures.jsonl`` and
skipped; the run goes on. Each video's folder is written
atomically by ``vocalens.data.store.write_features``, so ``skip_existing`` can trust what it finds
after a killed run. Sharding by ``RANK``/``WORLD_SIZE`` spreads a dataset over processes/nodes.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from vocalens import __version__
from vocalens.constants import FPS, SAMPLE_RATE
from vocalens.data.labels import frame_labels, mask_runs
from vocalens.data.metadata import VideoRecord
from vocalens.data.store import VideoFeatures, append_failure, is_complete, video_dir, write_features
from vocalens.errors import MediaError, UserError, cause, named
from vocalens.media.audio import FrameEnergy
from vocalens.media.crops import (
    FACE_SIZE,
    FacePlan,
    bound_heap_for,
    iter_face_chunks,
    plan_faces,
    resolve_face,
    trim_heap,
)
from vocalens.media.speaker import file_loudness
from vocalens.media.video import check_audio, fit_blocks, iter_audio, probe
from vocalens.result import require_face

# ---------------------------------------------------------------- sharding and resume


def parse_shard(text: str | None) -> tuple[int, int]:
    """'i/n' -> (i, n); None -> from RANK/WORLD_SIZE (torchrun, SLURM wrappers), else (0, 1)."""
    if text is None:
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        if rank is None or world is None:
            return 0, 1
        text = f"{rank}/{world}"
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not int(m.group(2)) > int(m.group(1)) >= 0:
        raise UserError(f"--shard {text}: expected i/n with 0 <= i < n (e.g. 0/4)")
    return int(m.group(1)), int(m.group(2))


def shard_records(records: Sequence[VideoRecord], index: int, count: int) -> list[VideoRecord]:
    """Every ``count``-th video from ``index`` in a fixed order, so n shards cover each video once."""
    ordered = sorted(records, key=lambda r: (r.split, r.video_id))
    return ordered[index::count]


_TMP = re.compile(r"^\.tmp-(?P<vid>.+)-[A-Za-z0-9_]{8}$")


def remove_stale_temps(output_root: str | Path, records: Iterable[VideoRecord]) -> int:
    """Delete temporary folders a killed run left for *these* videos (other shards' are left alone)."""
    mine: dict[str, set[str]] = {}
    for r in records:
        mine.setdefault(r.split, set()).add(r.video_id)
    removed = 0
    for split, ids in mine.items():
        base = Path(output_root) / split
        if not base.is_dir():
            continue
        for p in base.iterdir():
            m = _TMP.match(p.name)
            if m and m.group("vid") in ids and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
    return removed


# ---------------------------------------------------------------- decoding (runs in workers)


@dataclass
class Decoded:
    """One video after its first pass: the face plan, or the reason it failed. The audio is read from
    the file again in the second pass (streamed); ``energy`` holds its loudness statistics after it."""

    index: int
    path: str = ""
    plan: FacePlan | None = None
    energy: FrameEnergy | None = None  # set by encode_decoded
    source_fps: float = 0.0
    duration: float | None = None  # seconds, the container's own (None: it does not say)
    face_margin: float | None = None
    error: str | None = None
    seconds: float = 0.0  # time spent in the first pass

    @property
    def face_found(self) -> np.ndarray | None:
        """[T] bool, None when faces were not detected (--face none)."""
        return None if self.plan is None else self.plan.found

    @property
    def face_detector(self) -> str | None:
        return None if self.plan is None else self.plan.detector


def missing_runs(found: np.ndarray) -> list[list[int]]:
    """Frames without a face as [start, end) runs: compact for meta.json."""
    starts, ends = mask_runs(~np.asarray(found, bool))
    return [[int(s), int(e)] for s, e in zip(starts, ends)]


def decode_video(
    record: VideoRecord,
    fps: float,
    face: str = "none",
    face_stride: int = 5,
    face_margin: float | None = None,
    index: int = 0,
) -> Decoded:
    """First pass over one video (face plan; the audio checked: its first block decodes); a bad file
    becomes ``Decoded(error=...)``, never an exception."""
    t0 = time.perf_counter()
    try:
        info = probe(record.path)
        if not info["video"]:
            raise MediaError(f"{record.path}: no video stream")
        if not info["audio"]:
            raise MediaError(f"{record.path}: no audio track")
        check_audio(record.path)  # an empty or undecodable track fails here, before the video work
        plan = plan_faces(record.path, face, fps, face_stride, loudness=file_loudness(record.path, fps))
        return Decoded(
            index=index,
            path=str(record.path),
            plan=plan,
            source_fps=info["fps"] or fps,
            duration=info.get("seconds"),
            face_margin=face_margin,
            seconds=time.perf_counter() - t0,
        )
    except UserError as e:
        return Decoded(index=index, error=str(e), seconds=time.perf_counter() - t0)
    except Exception as e:  # a decoder crash on one file must not stop the run
        return Decoded(index=index, error=named(record.path, cause(e, record.path)), seconds=time.perf_counter() - t0)


def _prefetched(it: Iterator, depth: int = 1) -> Iterator:
    """``it`` run ahead by one block in a reader thread (decoding and cropping release the GIL)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def run():
        try:
            for x in it:
                while not stop.is_set():
                    try:
                        q.put(x, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    th = threading.Thread(target=run, name="vocalens-crops", daemon=True)
    th.start()
    try:
        while True:
            x = q.get()
            if x is done:
                return
            if isinstance(x, BaseException):
                raise x
            yield x
    finally:
        stop.set()
        th.join()


def encode_faces(visual_encoder, chunks: Iterable[np.ndarray]) -> np.ndarray:
    """[T, dim] visual features from crop blocks: ``encode_stream`` where the encoder has it (block by
    block with its temporal context: nothing per-frame is kept); else ``encode_local`` per block and
    ``encode_global`` once (an encoder that normalises over the whole video: the per-frame inputs are
    kept); else ``encode`` per block (a per-frame encoder)."""
    stream = getattr(visual_encoder, "encode_stream", None)
    if stream is not None:
        return np.asarray(stream(chunks))
    local = getattr(visual_encoder, "encode_local", None) or visual_encoder.encode
    parts = [np.asarray(local(c)) for c in chunks]
    if not parts:
        return np.zeros((0, visual_encoder.dim), np.float32)
    x = np.concatenate(parts) if len(parts) > 1 else parts[0]
    glob = getattr(visual_encoder, "encode_global", None)
    return glob(x) if glob is not None else x


def encode_audio(audio_encoder, read: Callable[[], Iterable[np.ndarray]], num_samples: int) -> np.ndarray:
    """[Ta, dim] audio features of a track of ``num_samples`` that ``read()`` streams (each call a new
    pass): ``encode_stream(read, num_samples)`` where the encoder has it (the default and sync
    encoders: bounded memory); an encoder that needs the whole wave (wav2vec2, HuBERT) gets it gathered."""
    stream = getattr(audio_encoder, "encode_stream", None)
    if stream is not None:
        return np.asarray(stream(read, num_samples))
    parts = list(read())
    wave = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return audio_encoder.encode(wave)


def encode_decoded(item: Decoded, fps: float, visual_encoder, audio_encoder) -> tuple[np.ndarray, np.ndarray, int]:
    """Second pass over one video: its crops block by block into the visual encoder, then its audio
    (fitted to the video's span, streamed from the file) into the audio encoder; the first read of the
    audio also fills ``item.energy``. Returns (visual [T, dv], audio [Ta, da], T)."""
    known = item.plan.num_frames / fps if item.plan.num_frames is not None else None
    bound_heap_for(max(known or 0.0, item.duration or 0.0))  # a long video's blocks must not fragment the heap
    chunks = iter_face_chunks(item.path, item.plan, FACE_SIZE, item.face_margin, fps)
    visual = encode_faces(visual_encoder, _prefetched(chunks))
    trim_heap()  # the blocks' memory back before the audio encoder's
    t = len(visual)
    if t == 0:
        raise MediaError(f"{item.path}: no video frames")
    n = int(round(t / fps * SAMPLE_RATE))
    energy = FrameEnergy(n, t)
    reads = []

    def read() -> Iterator[np.ndarray]:
        blocks = fit_blocks(iter_audio(item.path), n)
        reads.append(1)
        return energy.tap(blocks) if len(reads) == 1 else blocks

    audio = encode_audio(audio_encoder, read, n)
    if not reads:
        for _ in read():
            pass
    trim_heap()
    item.energy = energy
    return visual, audio, t


class _DecodeDataset(torch.utils.data.Dataset):
    def __init__(self, records, **kw):
        self.records, self.kw = list(records), kw

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return decode_video(self.records[i], index=i, **self.kw)


def _identity(x):
    return x


def _worker_init(_):
    torch.set_num_threads(1)  # decoding is the worker's job; the main process owns the cores for encoding


def _iter_threads(records: Sequence[VideoRecord], num_workers: int, prefetch: int, **kw):
    """Decoding in threads (PyAV and OpenCV release the GIL): no copies, no process start-up."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    ex = ThreadPoolExecutor(num_workers, thread_name_prefix="vocalens-decode")
    pending: deque = deque()
    todo = iter(enumerate(records))
    try:
        while True:
            while len(pending) < num_workers + prefetch:  # bounded look-ahead: bounded memory
                nxt = next(todo, None)
                if nxt is None:
                    break
                pending.append(ex.submit(decode_video, nxt[1], index=nxt[0], **kw))
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def iter_decoded(records: Sequence[VideoRecord], num_workers: int, prefetch: int = 2, kind: str = "thread", **kw):
    """Decoded videos in order; with workers (threads or processes), decoding runs ahead of the consumer."""
    if num_workers <= 0:
        for i, r in enumerate(records):
            yield decode_video(r, index=i, **kw)
        return
    if kind == "thread":
        yield from _iter_threads(records, num_workers, prefetch, **kw)
        return
    if kind != "process":
        raise UserError(f"worker kind must be 'thread' or 'process', got {kind!r}")
    loader = torch.utils.data.DataLoader(
        _DecodeDataset(records, **kw),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_identity,
        prefetch_factor=prefetch,
        worker_init_fn=_worker_init,
        persistent_workers=False,
    )
    yield from loader


# ---------------------------------------------------------------- the run


def build_meta(
    record: VideoRecord,
    num_frames: int,
    fps: float,
    visual_encoder,
    audio_encoder,
    labelled: bool,
    face: str,
    face_found: np.ndarray | None,
    source_fps: float,
    face_detector: str | None = None,
) -> dict:
    """meta.json of one video (the store adds num_frames, dims and audio_frames)."""
    meta = {
        "video_id": record.video_id,
        "split": record.split,
        "source": str(record.path),
        "file": record.file,
        "fps": float(fps),
        "audio_rate": float(audio_encoder.rate),
        "duration": num_frames / float(fps),
        "source_fps": float(source_fps),
        "visual_encoder": visual_encoder.config(),
        "audio_encoder": audio_encoder.config(),
        "face": face,
        "face_detector": face_detector,
        "faces_found": 1.0 if face_found is None else float(np.mean(face_found)) if len(face_found) else 0.0,
        "face_missing_frames": [] if face_found is None else missing_runs(face_found),
        "extractor": f"vocalens {__version__}",
    }
    if record.video_frames is not None:  # the dataset's own frame count, to spot decode/label drift
        meta["metadata_video_frames"] = int(record.video_frames)
    if labelled:
        meta.update(
            fake_periods=[list(p) for p in record.fake_periods],
            modify_video=record.modify_video,
            modify_audio=record.modify_audio,
            manipulation=record.manipulation,
            label=record.label,
        )
        if record.visual_fake_periods is not None:
            meta["visual_fake_periods"] = [list(p) for p in record.visual_fake_periods]
        if record.audio_fake_periods is not None:
            meta["audio_fake_periods"] = [list(p) for p in record.audio_fake_periods]
    else:
        meta.update(fake_periods=None, modify_video=None, modify_audio=None, manipulation="unknown", label=None)
    return meta


def extract_one(
    path: str | Path,
    visual_encoder,
    audio_encoder,
    *,
    fps: float = FPS,
    face: str = "auto",
    face_stride: int = 5,
    face_margin: float | None = None,
    video_id: str | None = None,
) -> VideoFeatures:
    """One video's features in memory (float32, unlabelled): THE raw video -> features step of `detect`,
    the same decode, crops and encoders as a store's. ``meta["audio_rms"]`` is the track's loudness,
    ``meta["speech_fraction"]`` the share of frames with speech (vocalens.media.audio.FrameEnergy).

    MediaError / UserError (one line naming the file) for a file that cannot be decoded, has no audio
    track or no frames, or shows no face in any frame (with face detection on).
    """
    path = Path(path)
    record = VideoRecord(video_id=video_id or path.stem, split="test", path=path, file=path.name)
    item = decode_video(record, fps, resolve_face(face), face_stride, face_margin)
    if item.error is not None:
        raise MediaError(named(path, item.error))
    if item.plan.num_frames == 0:
        raise MediaError(f"{path}: no video frames")
    if item.face_found is not None:
        require_face(path, float(np.mean(item.face_found)))
    visual, audio, t = encode_decoded(item, fps, visual_encoder, audio_encoder)
    meta = build_meta(
        record, t, fps, visual_encoder, audio_encoder, False, face, item.face_found, item.source_fps, item.face_detector
    )
    meta["face_track"] = item.plan.face_info()
    meta.update(
        num_frames=t,
        visual_dim=int(visual.shape[1]),
        audio_dim=int(audio.shape[1]),
        audio_frames=int(audio.shape[0]),
        audio_rms=item.energy.rms(),
        speech_fraction=item.energy.speech_fraction(),
    )
    return VideoFeatures(video_id=record.video_id, visual=visual, audio=audio, frame_labels=None, meta=meta)


@dataclass
class Summary:
    total: int = 0
    done: int = 0
    existing: int = 0
    failed: int = 0
    frames: int = 0
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    stale_removed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def realtime(self) -> float:
        return self.video_seconds / max(self.wall_seconds, 1e-9)

    def __str__(self) -> str:
        s = (
            f"{self.done} extracted, {self.existing} already complete, {self.failed} failed of {self.total} videos; "
            f"{self.frames} frames ({self.video_seconds:.1f} s of video) in {self.wall_seconds:.1f} s "
            f"= {self.realtime:.1f}x real time"
        )
        if self.stale_removed:
            s += f"; removed {self.stale_removed} unfinished folders of a killed run"
        return s


def extract(
    records: Sequence[VideoRecord],
    output_root: str | Path,
    visual_encoder,
    audio_encoder,
    *,
    fps: float = FPS,
    face: str = "none",
    face_stride: int = 5,
    face_margin: float | None = None,
    labelled: bool = True,
    skip_existing: bool = False,
    num_workers: int = 1,
    worker_kind: str = "thread",
    dtype=np.float16,
    progress: bool = True,
    on_video: Callable[[VideoRecord, dict], None] | None = None,
) -> Summary:
    """Extract ``records`` (already sharded) into ``output_root``; failures go to failures.jsonl."""
    t_start = time.perf_counter()
    detector = resolve_face(face)  # meta.json keeps the user's choice, face_detector the resolved one
    out = Path(output_root)
    summary = Summary(total=len(records))
    summary.stale_removed = remove_stale_temps(out, records)
    todo = []
    for r in records:
        if skip_existing and is_complete(video_dir(out, r.split, r.video_id)):
            summary.existing += 1
        else:
            todo.append(r)

    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="video", disable=not progress, dynamic_ncols=True, smoothing=0.1)
    try:
        for item in iter_decoded(
            todo,
            num_workers,
            kind=worker_kind,
            fps=fps,
            face=detector,
            face_stride=face_stride,
            face_margin=face_margin,
        ):
            rec = todo[item.index]
            if item.error is None:
                try:
                    visual, audio, t = encode_decoded(item, fps, visual_encoder, audio_encoder)
                    labels = frame_labels(rec.fake_periods, t, fps) if labelled else None
                    meta = build_meta(
                        rec,
                        t,
                        fps,
                        visual_encoder,
                        audio_encoder,
                        labelled,
                        face,
                        item.face_found,
                        item.source_fps,
                        item.face_detector,
                    )
                    if item.plan.track is not None:
                        meta["face_track"] = item.plan.face_info()
                    write_features(video_dir(out, rec.split, rec.video_id), visual, audio, labels, meta, dtype=dtype)
                    summary.done += 1
                    summary.frames += t
                    summary.video_seconds += t / fps
                    if on_video is not None:
                        on_video(rec, meta)
                except UserError as e:
                    item.error = str(e)
                except Exception as e:  # one video's encoder failure is reported, the run goes on
                    item.error = named(rec.path, cause(e, rec.path))
            if item.error is not None:
                summary.failed += 1
                if len(summary.failures) < 20:  # examples for the summary; the full list is failures.jsonl
                    summary.failures.append(item.error)
                append_failure(
                    out,
                    {
                        "video_id": rec.video_id,
                        "split": rec.split,
                        "source": str(rec.path),
                        "error": item.error,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    },
                )
            bar.update(1)
            elapsed = time.perf_counter() - t_start
            bar.set_postfix_str(
                f"{summary.frames / max(elapsed, 1e-9):.0f} frames/s, "
                f"{summary.video_seconds / max(elapsed, 1e-9):.1f}x realtime, {summary.failed} failed",
                refresh=False,
            )
    finally:
        bar.close()
    summary.wall_seconds = time.perf_counter() - t_start
    return summary
