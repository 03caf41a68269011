"""AVFF preprocessing: time-aligned clips of face crops and audio, ImageNet normalisation, log-mel.

A clip is ``num_frames`` frames taken every ``frame_stride`` frames of the 25 fps grid starting at
frame ``start``, i.e. it covers ``[start/fps, (start + num_frames*frame_stride)/fps)``, and its audio
is exactly the samples of that span. (The seed pairs 16 frames spread over the whole video with a
random 1 s of audio, which is not aligned; audio-visual correspondence needs the same span.)
Whole videos are processed as a sequence of such clips (:func:`clip_starts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.constants import FPS, IMAGENET_MEAN, IMAGENET_STD, SAMPLE_RATE
from vocalens.media.audio import log_mel


def normalize_faces(faces, size: int | None = None) -> torch.Tensor:
    """uint8 RGB ``[..., H, W, 3]`` -> float ``[..., 3, size, size]``: resize, /255, ImageNet mean/std."""
    x = torch.as_tensor(np.asarray(faces) if not torch.is_tensor(faces) else faces)
    lead = x.shape[:-3]
    x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.reshape(*lead, 3, x.shape[-2], x.shape[-1])


# The lower face (mouth, lips, jaw) inside a face crop framed like `vocalens.media.faces.crop_faces`
# (margin 0.25): (top, left, side) as fractions of the crop. It holds the faces module's mouth box
# (rows 0.59-0.81, cols 0.33-0.67) with slack for head motion and an open jaw. The synthetic fakes'
# cues (a re-driven, softened mouth; lips out of time with the voice) live here: in a 64 px whole-face
# crop the mouth is ~20 x 14 px, in a 64 px lower-face crop ~45 x 30 px.
CROP_REGIONS = {"face": (0.0, 0.0, 1.0), "mouth": (0.49, 0.29, 0.42)}


def crop_source_size(image_size: int, crop: str) -> int:
    """Side of the face crop to cut ``crop`` from so that the region comes out at ``image_size`` px."""
    return int(round(image_size / CROP_REGIONS[crop][2]))


def region_crops(faces: np.ndarray, crop: str, size: int) -> np.ndarray:
    """``crop`` region of face crops ``[T, H, W, 3]`` uint8, resized (bilinear, antialiased) to ``size``:
    ``[T, size, size, 3]``."""
    top, left, side = CROP_REGIONS[crop]
    faces = np.asarray(faces)
    h, w = faces.shape[1:3]
    y0, x0 = int(round(top * h)), int(round(left * w))
    y1, x1 = min(h, y0 + max(1, int(round(side * h)))), min(w, x0 + max(1, int(round(side * w))))
    x = faces[:, y0:y1, x0:x1]
    if x.shape[1:3] == (size, size):
        return np.ascontiguousarray(x)
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float()
    t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return t.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def stream_faces(path, image_size: int, face: str = "auto", fps: float = FPS, crop: str = "face"):
    """One video for AVFF, streamed: ``(plan, audio, chunks)``: the face plan (vocalens.media.crops:
    the first pass), the audio track as a vocalens.media.video.TrackWindow (read as the clips ask for
    it, cut at the video's end), and an iterator of ``[n, image_size, image_size, 3]`` uint8 blocks of
    the ``crop`` region (the second pass: decoded as it is consumed)."""
    from vocalens.media.crops import iter_face_chunks, plan_faces
    from vocalens.media.speaker import file_loudness
    from vocalens.media.video import TrackWindow, check_audio, iter_audio

    check_audio(path)
    plan = plan_faces(path, face, fps, loudness=file_loudness(path, fps))
    limit = None if plan.num_frames is None else int(round(plan.num_frames / fps * SAMPLE_RATE))
    audio = TrackWindow(iter_audio(path), limit)
    chunks = iter_face_chunks(path, plan, crop_source_size(image_size, crop), fps=fps)
    if crop != "face":
        chunks = (region_crops(c, crop, image_size) for c in chunks)
    return plan, audio, chunks


def clip_starts(num_video_frames: int, span: int, hop: int | None = None) -> list[int]:
    """Start frames of the clips that tile a whole video: every ``hop`` frames (default: the span,
    no overlap), plus a last clip ending at the video's end so no tail is left out."""
    hop = hop or span
    if num_video_frames <= span:
        return [0]
    starts = list(range(0, num_video_frames - span + 1, hop))
    if starts[-1] + span < num_video_frames:
        starts.append(num_video_frames - span)
    return starts


def clip_frame_indices(start: int, num_frames: int, stride: int) -> np.ndarray:
    return start + stride * np.arange(num_frames)


def clip_sample_range(start: int, span_frames: int, fps: float, sample_rate: int) -> tuple[int, int]:
    """Audio samples ``[a, b)`` of the span ``[start/fps, (start+span)/fps)``."""
    a = int(round(start / fps * sample_rate))
    return a, a + int(round(span_frames / fps * sample_rate))


def clip_frames(faces: np.ndarray, rel_starts, num_frames: int, stride: int) -> np.ndarray:
    """Frames ``[C, num_frames, S, S, 3]`` of clips starting at ``rel_starts`` (indices into ``faces``);
    frames past its end repeat its last frame."""
    rel = np.asarray(list(rel_starts), dtype=np.int64)
    idx = rel[:, None] + stride * np.arange(num_frames)[None]
    return faces[np.minimum(idx, len(faces) - 1)]


def clip_waves(audio: np.ndarray | None, starts, span: int, fps: float = FPS, sample_rate: int = SAMPLE_RATE):
    """Waves ``[C, samples]`` float32 of the spans ``[start/fps, (start+span)/fps)``; silence past the end."""
    starts = np.asarray(list(starts), dtype=np.int64)
    n = int(round(span / fps * sample_rate))
    a0 = np.round(starts / fps * sample_rate).astype(np.int64)
    audio = np.zeros(0, np.float32) if audio is None else np.asarray(audio, np.float32)
    padded = np.concatenate([audio, np.zeros(max(0, int(a0.max()) + n - len(audio)), np.float32)])
    return padded[a0[:, None] + np.arange(n)[None]]


def make_clips(
    faces: np.ndarray,
    audio: np.ndarray | None,
    starts,
    num_frames: int,
    stride: int,
    fps: float = FPS,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned clips: frames ``[C, num_frames, S, S, 3]`` uint8 and waves ``[C, samples]`` float32.

    Frames past the video's end repeat the last frame; audio past it is silence (zeros).
    """
    starts = list(starts)
    frames = clip_frames(faces, starts, num_frames, stride)
    return frames, clip_waves(audio, starts, num_frames * stride, fps, sample_rate)


def stream_clips(
    chunks: Iterable[np.ndarray],
    audio,
    num_frames: int,
    stride: int,
    hop: int | None = None,
    fps: float = FPS,
    sample_rate: int = SAMPLE_RATE,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(start, frames [num_frames, S, S, 3], wave [samples])`` of every clip :func:`clip_starts` tiles
    a video with, from its face crops in consecutive blocks and its audio (an array, or a streamed
    vocalens.media.video.TrackWindow): only the frames and samples a clip still needs are kept (about
    one span plus one block), so a long video streams. Same clips as :func:`make_clips`."""
    from vocalens.media.video import TrackWindow

    track = audio if isinstance(audio, TrackWindow) else TrackWindow.of(audio)
    n_samples = int(round(num_frames * stride / fps * sample_rate))
    span = num_frames * stride
    hop = hop or span
    buf = np.zeros((0,), np.uint8)
    buf0 = 0  # video index of buf[0]
    seen = 0
    nxt = 0  # next regular start
    last = None

    def emit(s):
        f = clip_frames(buf, [s - buf0], num_frames, stride)[0]
        return s, f, track.take(int(round(s / fps * sample_rate)), n_samples)

    for block in chunks:
        buf = block if len(buf) == 0 else np.concatenate([buf, block])
        seen += len(block)
        while nxt + span <= seen:
            yield emit(nxt)
            last = nxt
            nxt += hop
        keep_from = min(nxt, max(0, seen - span))  # the next regular clip, and the tail a last clip needs
        if keep_from > buf0:
            buf, buf0 = buf[keep_from - buf0 :], keep_from
    if seen == 0:
        return
    end = int(round(seen / fps * sample_rate))  # the video's length is known now: no sound past its end
    track.limit = end if track.limit is None else min(track.limit, end)
    if last is None:  # a video shorter than one span: one clip from 0, padded
        yield emit(0)
    elif last + span < seen:
        yield emit(seen - span)


def clip_log_mel(
    wave: torch.Tensor, n_fft: int, hop_length: int, n_mels: int, mel_frames: int, sample_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """Log-mel ``[B, n_mels, mel_frames]`` (dB) of clip waveforms ``[B, N]``, cut to a whole number of slices."""
    return log_mel(wave, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)[..., :mel_frames]


def plot_mel_spectrogram(mel, path: str | Path | None = None, title: str = "Mel Spectrogram"):
    """The seed's plot: log-mel in dB over time; saved to ``path`` (PNG) when given, returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = mel.detach().cpu().numpy() if torch.is_tensor(mel) else np.asarray(mel)
    fig, ax = plt.subplots(figsize=(10, 4))
    im = ax.imshow(m.squeeze(), aspect="auto", origin="lower")
    fig.colorbar(im, ax=ax, format="%+2.0f dB")
    ax.set_title(title)
    ax.set_xlabel("Time (frames)")
    ax.set_ylabel("Mel band")
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return fig
