"""The bad-input corpus of issue 15, made at test time with PyAV: tiny files (<= 128 px, < 1 s) of every
class a careful user or a hostile file brings. ``build(folder, face_frames)`` writes them and returns
{name: why}; ``face_frames`` are real frames with one face (the tests cut them from ../shared/data/real-clips)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.video.stream
import numpy as np

SR = 16000


def _speech(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-modulated tone: loud enough to count as speech for vocalens.media.audio."""
    t = np.arange(int(seconds * SR)) / SR
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t + seed)
    return (0.3 * env * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 900 * t))).astype(np.float32)


def encode(
    path: Path,
    frames: np.ndarray | None,
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    times: list[float] | None = None,
    rotation: int | None = None,
) -> Path:
    """Write ``frames [T,H,W,3]`` (None: audio only) and ``audio`` (16 kHz mono) with PyAV; ``times`` gives
    each frame's presentation time in seconds (a variable frame rate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        vs = None
        if frames is not None:
            rate = Fraction(fps).limit_denominator(1001)
            vs = c.add_stream(codec, rate=rate)
            vs.height, vs.width = frames.shape[1:3]
            vs.pix_fmt = pix_fmt
            if rotation is not None:  # a display matrix, as phones write (PyAV >= 17)
                vs.set_display_rotation(rotation)
            if codec == "libx265":
                vs.options = {"x265-params": "log-level=error"}
            if times is not None:
                vs.codec_context.time_base = Fraction(1, 1000)
        as_ = None
        if audio is not None:
            as_ = c.add_stream("aac", rate=SR)
            as_.layout = "mono"
        if vs is not None:
            for i, img in enumerate(frames):
                f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                if times is not None:
                    f.pts, f.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
                for p in vs.encode(f):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        if as_ is not None:
            hop = 1024
            for i in range(0, len(audio), hop):
                chunk = audio[i : i + hop].reshape(1, -1)
                f = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
                f.sample_rate, f.pts = SR, i
                for p in as_.encode(f):
                    c.mux(p)
            for p in as_.encode():
                c.mux(p)
    return path


def _resize(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def build(folder: Path, face_frames: np.ndarray) -> dict[str, str]:
    """Write the corpus into ``folder``; returns {file name: what it is}. Face videos are 0.6-0.8 s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    face = _resize(face_frames[:20], 96, 96)  # 0.8 s at 25 fps
    speech = _speech(0.8)
    good = encode(folder / "good.mp4", face, 25, speech)
    out = {"good.mp4": "a plain talking face"}

    (folder / "zero_bytes.mp4").write_bytes(b"")
    out["zero_bytes.mp4"] = "zero bytes"
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    out["truncated.mp4"] = "the first half of good.mp4"
    (folder / "random_bytes.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out["random_bytes.mp4"] = "random bytes"
    (folder / "text.mp4").write_text("this is not a video\n")
    out["text.mp4"] = "a text file named .mp4"
    encode(folder / "no_audio.mp4", face, 25, None)
    out["no_audio.mp4"] = "video without an audio track"
    encode(folder / "audio_only.mp4", None, 25, speech)
    out["audio_only.mp4"] = "an audio track, no video stream"
    encode(folder / "silent.mp4", face, 25, np.zeros_like(speech))
    out["silent.mp4"] = "digital silence"
    encode(folder / "short_audio.mp4", face, 25, speech[: int(0.05 * SR)])
    out["short_audio.mp4"] = "0.05 s of audio under 0.8 s of video"
    encode(folder / "fps50.mp4", _resize(face_frames[:40], 96, 96)[::1], 50, speech)
    out["fps50.mp4"] = "50 fps"
    encode(folder / "fps22_13.mp4", face[:18], 22.13, speech)
    out["fps22_13.mp4"] = "22.13 fps"
    times = np.cumsum([0.0] + [0.02 if i % 3 else 0.07 for i in range(19)]).tolist()
    encode(folder / "vfr.mp4", face, 25, speech, times=times)
    out["vfr.mp4"] = "variable frame rate (20 and 70 ms frames)"
    if has_encoder("libx265"):
        portrait = _resize(face_frames[:20], 128, 72)
        encode(folder / "hevc_portrait.mp4", portrait, 25, speech, codec="libx265")
        out["hevc_portrait.mp4"] = "HEVC, 72x128 portrait"
    encode(folder / "ten_bit.mp4", face, 25, speech, pix_fmt="yuv420p10le")
    out["ten_bit.mp4"] = "10-bit yuv420p10le"
    encode(folder / "odd_200x278.mp4", _resize(face_frames[:15], 278, 200), 25, speech[: int(0.6 * SR)])
    out["odd_200x278.mp4"] = "200x278"
    encode(folder / "five_frames.mp4", face[:5], 25, speech[: int(0.2 * SR)])
    out["five_frames.mp4"] = "5 frames"
    noise = rng.integers(90, 110, (20, 96, 96, 3), dtype=np.uint8)
    encode(folder / "no_face.mp4", noise, 25, speech)
    out["no_face.mp4"] = "flat grey noise, no face"
    two = np.concatenate([_resize(face_frames[:20], 96, 64), _resize(face_frames[:20], 96, 64)[:, :, ::-1]], axis=2)
    encode(folder / "two_faces.mp4", two, 25, speech)
    out["two_faces.mp4"] = "two faces side by side"
    sideways = np.ascontiguousarray(np.rot90(_resize(face_frames[:20], 96, 64), -1, axes=(1, 2)))
    if hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        encode(folder / "rotated.mp4", sideways, 25, speech, rotation=90)
        out["rotated.mp4"] = "a phone video: pixels stored sideways, a 90-degree display matrix"
    else:
        encode(folder / "rotated.mp4", sideways, 25, speech)
        out["rotated.mp4"] = "a face turned 90 degrees (this PyAV cannot write a display matrix)"
    (folder / "a_directory.mp4").mkdir()
    out["a_directory.mp4"] = "a directory named like a video"
    encode(folder / "test.mp4", face, 25, speech)
    out["test.mp4"] = "a file named like a split"
    (folder / "broken_link.mp4").symlink_to(folder / "gone.mp4")
    out["broken_link.mp4"] = "a link to nothing"
    encode(folder / "voice.m4a", None, 25, speech)
    out["voice.m4a"] = "an audio file"
    return out


def tiny_avff_checkpoint(path):
    """A randomly initialised tiny-preset AVFF classifier, like `vocalens avff train` writes."""
    import torch

    from vocalens.avff.config import get_preset
    from vocalens.avff.model import build_model
    from vocalens.train.checkpoint import save_atomic

    cfg = get_preset("tiny")
    torch.manual_seed(0)
    model = build_model(cfg, load_weights=False)
    save_atomic({"model": model.state_dict(), "task": {"avff_config": cfg.to_dict(), "threshold": 0.5}}, path)
    return path


def face_frames(real_clips: Path, n: int = 40) -> np.ndarray:
    """[n, 240, 240, 3] frames around the speaker's face of one real clip (the corpus's talking face)."""
    from vocalens.media.video import load_video

    return load_video(real_clips / "LipNet__bbaf2n.mpg", audio="skip").frames[:n, 20:260, 60:300]
