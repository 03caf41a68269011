"""detect(): a raw video file -> verdict, fake segments, per-frame curves. Reused by the CLI and servers.

The features are made exactly as the training features were: the encoders recorded in the
checkpoint are rebuilt from their configs, and decoding + face crops go through
``vocalens.extract.decode_video`` (the extraction pipeline's own per-video step), so there is one
way to turn a video into features. Any container, frame rate or size that PyAV decodes works; the
video is resampled onto the checkpoint's frame rate.

Face handling: ``face=None`` uses the mode the checkpoint records (``config["face"]``) when it records
one, else ``"auto"`` (detect, track and crop the face). Pass ``"none"`` for videos that are already
face crops (LAV-DF, ``vocalens synth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalens.errors import UserError
from vocalens.eval.segments import format_timestamp
from vocalens.localizer.calibrate import verdict

SILENCE_RMS = 1e-4  # below this the audio track is treated as silent (reported as a warning)
MIN_SPEECH = 0.15  # share of frames with speech below which lip sync cannot be judged
MIN_FACES = 0.5  # share of frames with a face below which the visual evidence is missing


def speech_fraction(audio: np.ndarray, num_frames: int) -> float:
    """Share of video frames whose audio is speech-loud: RMS within 20 dB of the clip's loud frames
    (95th percentile) and above ``SILENCE_RMS``. An energy VAD: enough to tell speech from silence."""
    if num_frames == 0 or len(audio) == 0:
        return 0.0
    hop = max(1, len(audio) // num_frames)
    chunks = audio[: hop * num_frames].reshape(num_frames, hop) if len(audio) >= hop * num_frames else audio[None]
    rms = np.sqrt(np.mean(np.square(chunks, dtype=np.float64), axis=1))
    loud = float(np.percentile(rms, 95))
    return float(np.mean((rms > SILENCE_RMS) & (rms >= 0.1 * loud))) if loud > SILENCE_RMS else 0.0


@dataclass
class Encoders:
    visual: object
    audio: object


def load_encoders(config: dict, device="cpu", visual_weights=None, audio_weights=None, source: str = "checkpoint") -> Encoders:
    """Rebuild the encoders a checkpoint's features were extracted with (weights can be relocated)."""
    from vocalens.encoders import build_audio_encoder, build_visual_encoder

    vcfg, acfg = config.get("visual_encoder"), config.get("audio_encoder")
    if not isinstance(vcfg, dict) or not isinstance(acfg, dict):
        raise UserError(f"{source}: the checkpoint does not record the encoders its features came from; "
                        "extract features with `vocalens extract` and use `vocalens infer` instead")
    vcfg, acfg = dict(vcfg), dict(acfg)
    if visual_weights is not None:
        vcfg["weights"] = visual_weights
    if audio_weights is not None:
        acfg["weights"] = audio_weights
    visual = build_visual_encoder(**vcfg, device=device)
    audio = build_audio_encoder(**acfg, device=device)
    want_v, want_a = config.get("visual_dim"), config.get("audio_dim")
    if (want_v and visual.dim != want_v) or (want_a and audio.dim != want_a):
        raise UserError(f"{source}: rebuilt encoders give {visual.dim}/{audio.dim}-d features, the model expects "
                        f"{want_v}/{want_a}-d")
    return Encoders(visual, audio)


def _encoders_for(predictor, device) -> Encoders:
    enc = getattr(predictor, "_vocalens_encoders", None)
    if enc is None:
        enc = load_encoders(predictor.config, device, source=getattr(predictor, "source", "checkpoint"))
        predictor._vocalens_encoders = enc
    return enc


def verdict_line(result: dict) -> str:
    """'clip.mp4: FAKE (p=0.873) fake segments: 00:01.240-00:02.040 (0.91)' -- one line per video."""
    head = f"{result['source']}: {result['verdict']} (p={result['video_prob']:.3f})"
    segs = ", ".join(f"{format_timestamp(s)}-{format_timestamp(e)} ({sc:.2f})" for s, e, sc in result["segments_sec"])
    if not segs:
        head += " no fake segment"
    elif result["verdict"] == "FAKE":
        head += f" fake segments: {segs}"
    else:  # the video head says real, some frames still cross the threshold: say so, not "fake segments"
        head += f"; frames above threshold at {segs}"
    if result.get("warnings"):
        head += "  [" + "; ".join(result["warnings"]) + "]"
    return head


def detect(path: str | Path, predictor, encoders: Encoders | None = None, face: str | None = None,
           threshold: float | None = None, face_stride: int = 5, device="cpu", video_id: str | None = None,
           min_length: int = 1, merge_gap: int = 0) -> dict:
    """Decode, extract with the checkpoint's encoders, predict, and describe one video.

    Raises :class:`UserError` (one line naming the file) for a file that cannot be decoded, has no
    audio track, or shows no face (with face detection on).
    """
    from vocalens.data.metadata import VideoRecord
    from vocalens.eval.evaluate import video_record
    from vocalens.extract import decode_video

    path = Path(path)
    cfg = predictor.config
    fps = float(cfg.get("fps", 25.0))
    threshold_given = threshold
    threshold = float(threshold if threshold is not None else cfg.get("threshold", 0.5))
    face = face or cfg.get("face") or "auto"
    enc = encoders or _encoders_for(predictor, device)
    rec = VideoRecord(video_id=video_id or path.stem, split="test", path=path, file=path.name)
    dec = decode_video(rec, fps, face=face, face_stride=face_stride)
    if dec.error is not None:
        raise UserError(dec.error if str(path) in dec.error else f"{path}: {dec.error}")
    faces = dec.faces.numpy()
    if len(faces) == 0:
        raise UserError(f"{path}: no video frames")
    warnings, missing = [], []  # missing: evidence the verdict needs and does not have
    if dec.face_found is not None:
        found = float(np.mean(dec.face_found))
        if found == 0.0:
            raise UserError(f"{path}: no face found in any frame (use --face none if the video is already a face crop)")
        if found < MIN_FACES:
            missing.append(f"face found in only {100 * found:.0f}% of frames")
    speech = speech_fraction(dec.audio, len(faces))
    if float(np.sqrt(np.mean(np.square(dec.audio, dtype=np.float64)))) < SILENCE_RMS:
        missing.append("audio track is silent")
    elif speech < MIN_SPEECH:
        missing.append(f"speech in only {100 * speech:.0f}% of frames")
    warnings += missing
    visual = enc.visual.encode(faces)
    audio = enc.audio.encode(dec.audio)
    out = predictor.predict(visual, audio, enc.audio.rate, fps, name=str(path))
    vthr = predictor.video_threshold if threshold_given is None else threshold
    result = video_record(rec.video_id, out["frame_probs"], out.get("similarity"), out.get("video_prob"),
                          None, {"file": path.name}, threshold, fps, min_length, merge_gap, vthr)
    cal = predictor.calibration
    result.update({
        "source": str(path),
        "verdict": verdict(result["video_prob"], vthr, cal.uncertain_margin if cal else 0.0, missing),
        "video_prob_raw": out.get("video_prob_raw", out.get("video_prob")),
        "threshold": threshold,
        "duration": len(faces) / fps,
        "source_fps": dec.source_fps,
        "face": face,
        "faces_found": None if dec.face_found is None else float(np.mean(dec.face_found)),
        "speech_fraction": speech,
        "segments_text": [f"{format_timestamp(s)}-{format_timestamp(e)}" for s, e, _ in result["segments_sec"]],
        "warnings": warnings,
    })
    result.pop("proposals", None)
    return result
