"""What a detector says about one video, for both systems: :class:`VideoResult`.

``VideoResult.to_json()`` is one entry of ``detections.json`` (the schema `vocalens detect` has always
written; the seed's inference fields -- video_id, num_frames, video_prob, video_pred, threshold,
num_fake_frames_pred, fake_ratio_pred, segments, segments_sec, video_max_prob, fps, file, frame_probs,
similarity -- unchanged). The localizer fills ``frame_probs`` from its per-frame head; AVFF scores
aligned clips and paints each clip's score onto its frames, so segments and plots work alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vocalens.eval.segments import format_timestamp, probs_to_segments, segments_to_seconds

MIN_SPEECH = 0.15  # share of frames with speech below which lip sync cannot be judged
MIN_FACES = 0.5  # share of frames with a face below which the visual evidence is missing
MIN_AUDIO_COVER = 0.5  # an audio track shorter than this share of the video leaves the rest unjudged


def missing_evidence(
    faces_found: float | None,
    audio_rms: float,
    speech: float,
    audio_seconds: float | None = None,
    duration: float | None = None,
) -> list[str]:
    """THE evidence rule of both systems: what the verdict needs and this video lacks, as short phrases
    ('audio track is silent', ...). ``faces_found`` None means faces were not detected (--face none);
    ``speech`` is vocalens.media.audio.speech_fraction; ``audio_seconds`` the audio track's own length."""
    from vocalens.media.audio import SILENCE_RMS

    missing = []
    if faces_found is not None and faces_found < MIN_FACES:
        missing.append(f"face found in only {100 * faces_found:.0f}% of frames")
    short = audio_seconds is not None and duration and audio_seconds < MIN_AUDIO_COVER * duration
    if short:
        missing.append(f"audio track covers only {audio_seconds:.2f} s of the {duration:.2f} s video")
    if audio_rms < SILENCE_RMS:
        missing.append("audio track is silent")
    elif speech < MIN_SPEECH and not short:
        missing.append(f"speech in only {100 * speech:.0f}% of frames")
    return missing


def require_face(path, faces_found: float | None) -> None:
    """No face in any frame (with detection on) is no answer at all, in both systems: the UserError naming
    the file; a face in some frames is an answer, UNCERTAIN below MIN_FACES (:func:`missing_evidence`)."""
    if faces_found is not None and not faces_found > 0:
        from vocalens.errors import MediaError  # a UserError: batch commands report and skip it

        raise MediaError(f"{path}: no face found in any frame (use --face none if the video is already a face crop)")


def audio_evidence(audio, num_frames: int) -> tuple[float, float]:
    """(RMS loudness, speech fraction) of a 16 kHz track spanning ``num_frames`` frames: the audio inputs of
    :func:`missing_evidence`."""
    from vocalens.media.audio import rms, speech_fraction

    a = np.asarray(audio, np.float32)  # no float64 copy of an hour's track (460 MB): rms sums in blocks
    return rms(a), float(speech_fraction(a, num_frames)) if a.size else 0.0


def verdict(prob: float, threshold: float, margin: float = 0.0, missing_evidence: list[str] = ()) -> str:
    """THE verdict rule: REAL / FAKE / UNCERTAIN. Missing evidence (too little face or speech to compare)
    makes the answer UNCERTAIN whatever the score says; so does a probability just under the threshold."""
    if missing_evidence:
        return "UNCERTAIN"
    if prob >= threshold:
        return "FAKE"
    return "UNCERTAIN" if prob >= threshold - margin else "REAL"


@dataclass
class VideoResult:
    video_id: str
    source: str  # the file as given
    system: str  # 'localizer' | 'avff'
    video_prob: float  # THE video score (localizer: video head; AVFF: pooled clip scores)
    threshold: float
    frame_probs: np.ndarray  # [T] fake probability per frame on the fps grid
    fps: float
    similarity: np.ndarray | None = None  # [T] audio-visual cosine (localizer)
    duration: float | None = None  # seconds (default T / fps)
    source_fps: float | None = None
    face: str | None = None  # the face mode used: none | auto | a detector
    faces_found: float | None = None  # fraction of frames with a detected face (None: not detected)
    manipulation: str = "unknown"
    warnings: list[str] = field(default_factory=list)
    video_threshold: float | None = None  # the verdict threshold on video_prob (calibrated); default: threshold
    uncertain_margin: float = 0.0  # a video_prob this far under video_threshold is UNCERTAIN
    missing: list[str] = field(default_factory=list)  # evidence the verdict needs and lacks -> UNCERTAIN
    min_length: int = 1  # segment rule (vocalens.eval.segments.probs_to_segments)
    merge_gap: int = 0
    plot: str | None = None  # the PNG, once drawn
    # the localizer's boundary head: [[start, end, score], ...] in frames (floats); then they are THE segments
    # and the frame-threshold ones are ``frame_segments``
    boundary_segments: list | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # system-specific fields (AVFF: clips, pool, ...)

    def __post_init__(self):
        self.frame_probs = np.asarray(self.frame_probs, dtype=np.float32).reshape(-1)
        if self.similarity is not None:
            self.similarity = np.asarray(self.similarity, dtype=np.float32).reshape(-1)
        if self.duration is None:
            self.duration = len(self.frame_probs) / self.fps
        if self.video_threshold is None:
            self.video_threshold = self.threshold

    @property
    def num_frames(self) -> int:
        return int(len(self.frame_probs))

    @property
    def is_fake(self) -> bool:
        return self.video_prob >= self.video_threshold

    @property
    def verdict(self) -> str:
        return verdict(self.video_prob, self.video_threshold, self.uncertain_margin, self.missing)

    @property
    def frame_segments(self) -> list[list]:
        """Runs of frames at or above the threshold, ``[start, end_exclusive, score]`` (the seed's segments)."""
        segs = probs_to_segments(self.frame_probs, self.threshold, self.min_length, self.merge_gap)
        return [[int(s), int(e), float(sc)] for s, e, sc in segs]

    @property
    def segments(self) -> list[list]:
        """Fake segments in frames ``[start, end_exclusive, score]`` (the seed's format): the boundary head's
        when there is one, else :attr:`frame_segments`."""
        if self.boundary_segments is None:
            return self.frame_segments
        return [
            [int(round(s)), max(int(round(e)), int(round(s)) + 1), float(sc)] for s, e, sc in self.boundary_segments
        ]

    @property
    def segments_sec(self) -> list[list[float]]:
        if self.boundary_segments is not None:
            return [[s / self.fps, e / self.fps, float(sc)] for s, e, sc in self.boundary_segments]
        return segments_to_seconds(self.segments, self.fps)

    def to_json(self) -> dict:
        """One ``detections.json`` entry (numpy curves stay arrays; vocalens.fileio.write_json makes lists)."""
        p = self.frame_probs
        segs, secs = self.segments, self.segments_sec
        out = {
            "video_id": self.video_id,
            "file": self.extra.get("file", self.video_id),
            "num_frames": self.num_frames,
            "fps": float(self.fps),
            "video_prob": float(self.video_prob),
            "video_max_prob": float(p.max()) if len(p) else 0.0,
            "video_pred": int(self.is_fake),
            "threshold": float(self.threshold),
            "video_threshold": float(self.video_threshold),
            "num_fake_frames_pred": int((p >= self.threshold).sum()),
            "fake_ratio_pred": float((p >= self.threshold).mean()) if len(p) else 0.0,
            "segments": segs,
            "segments_sec": secs,
            "frame_probs": p,
            "similarity": self.similarity,
            "manipulation": self.manipulation,
            "source": self.source,
            "verdict": self.verdict,
            "duration": float(self.duration),
            "source_fps": self.source_fps,
            "face": self.face,
            "faces_found": self.faces_found,
            "segments_text": [f"{format_timestamp(s)}-{format_timestamp(e)}" for s, e, _ in secs],
            "warnings": list(self.warnings),
            "system": self.system,
        }
        if self.boundary_segments is not None:
            out["frame_segments"] = self.frame_segments
            out["segments_source"] = "boundary head"
        out.update({k: v for k, v in self.extra.items() if k != "file"})
        if self.plot is not None:
            out["plot"] = self.plot
        return out

    def verdict_line(self) -> str:
        """'clip.mp4: FAKE (p=0.873) fake segments: 00:01.240-00:02.040 (0.91)' -- one line per video."""
        head = f"{self.source}: {self.verdict} (p={self.video_prob:.3f})"
        segs = ", ".join(f"{format_timestamp(s)}-{format_timestamp(e)} ({sc:.2f})" for s, e, sc in self.segments_sec)
        if not segs:
            head += " no fake segment"
        elif self.verdict == "FAKE":
            head += f" fake segments: {segs}"
        elif self.boundary_segments is not None:  # the video score says no: the head's segments are only suspect
            head += f"; suspect segments at {segs}"
        else:  # the video score says real, some frames still cross the threshold: say so, not "fake segments"
            head += f"; frames above threshold at {segs}"
        if self.warnings:
            head += "  [" + "; ".join(self.warnings) + "]"
        return head


class Detector:
    """A loaded model that answers for raw videos: what :func:`vocalens.load` returns.

    ``detect(path, **opts) -> VideoResult`` for one file (UserError naming it when it cannot be
    answered: undecodable, no audio track, no face); ``evaluate(...) -> dict`` the system's report
    (localizer: a feature split; AVFF: a labelled dataset). ``system``, ``checkpoint``, ``threshold``
    and ``config`` (what the checkpoint records) describe it.
    """

    system: str = ""
    checkpoint: str = ""
    threshold: float = 0.5
    config: dict

    def detect(self, path, **opts) -> VideoResult:
        raise NotImplementedError

    def evaluate(self, *args, **kwargs) -> dict:
        raise NotImplementedError
