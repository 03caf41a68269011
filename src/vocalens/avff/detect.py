"""AVFF as a :class:`vocalens.result.Detector`: a raw video -> :class:`VideoResult`.

Every aligned clip of the video is scored as the video streams (vocalens.avff.predict.score_stream; the
decode cache of training is not used), the clip scores pooled
into the video score (``pool``: max / mean / top3), and each clip's score painted onto the frames it
covers (a frame in two overlapping clips gets the higher score), so the result carries a per-frame
curve, segments and plots exactly as the localizer's do. The clips are in ``extra["clips"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vocalens.media.video import audio_seconds
from vocalens.result import Detector, VideoResult, missing_evidence, require_face


def paint_clips(clips: list[dict], num_frames: int, fps: float) -> np.ndarray:
    """[T] per-frame score: the max score of the clips covering each frame (0 where none does)."""
    out = np.zeros(num_frames, np.float32)
    for c in clips:
        s, e = int(round(c["start"] * fps)), int(round(c["end"] * fps))
        out[s:e] = np.maximum(out[s:e], c["score"])
    return out


class AVFFDetector(Detector):
    system = "avff"

    def __init__(self, model, cfg, task: dict, checkpoint: str, device: str):
        self.model, self.cfg, self.task = model, cfg, task
        self.config = task
        self.checkpoint = checkpoint
        self.device = device

    @classmethod
    def from_checkpoint(cls, path, device="auto", **_ignored) -> "AVFFDetector":
        from vocalens.avff.predict import load_model
        from vocalens.train.dist import pick_device

        dev = str(pick_device(device))
        model, cfg, task = load_model(path, dev)
        return cls(model, cfg, task, str(path), dev)

    @property
    def threshold(self) -> float:
        return float(self.task.get("threshold", 0.5))

    def detect(
        self,
        path,
        *,
        face: str | None = None,
        threshold: float | None = None,
        pool: str = "max",
        hop: int | None = None,
        batch_size: int = 8,
        video_id: str | None = None,
        cache_dir=None,
        **_other,
    ) -> VideoResult:
        """Score every clip of one video; MediaError (naming the file) when it cannot be decoded."""
        from vocalens.avff.predict import score_stream
        from vocalens.avff.preprocess import stream_faces
        from vocalens.media.crops import bound_heap_for, face_mode
        from vocalens.media.video import probe, track_energy

        path = Path(path)
        face = face or "auto"
        threshold = float(threshold if threshold is not None else self.threshold)
        # streamed (bounded memory for any length): the face plan first, then the crops as the clips need them
        plan, audio, chunks = stream_faces(path, self.cfg.image_size, face, self.cfg.fps, self.cfg.crop)
        bound_heap_for(plan.num_frames / self.cfg.fps if plan.num_frames else probe(path)["seconds"])
        found = None if face_mode(face) == "none" else float(np.mean(plan.found)) if len(plan.found) else 0.0
        require_face(path, found)
        r = score_stream(self.model, chunks, audio, batch_size, self.device, hop, pool, self.device.startswith("cuda"))
        num_frames = r["num_frames"]
        frames = paint_clips(r["clips"], num_frames, self.cfg.fps)
        energy = track_energy(path, num_frames, self.cfg.fps)  # the track streamed once more: its loudness
        rms, speech = energy.rms(), energy.speech_fraction()
        # evidence the verdict needs and does not have: THE rule of both systems (vocalens.result)
        missing = missing_evidence(found, rms, speech, audio_seconds(path), num_frames / self.cfg.fps)
        return VideoResult(
            video_id=video_id or path.stem,
            source=str(path),
            system=self.system,
            video_prob=float(r["video_score"]),
            threshold=threshold,
            frame_probs=frames,
            fps=self.cfg.fps,
            duration=r["duration"],
            face=face,
            faces_found=found,
            missing=missing,
            warnings=list(missing),
            extra={
                "file": path.name,
                "speech_fraction": speech,
                "face_track": plan.face_info(),
                "clips": r["clips"],
                "pool": pool,
                "clip_seconds": self.cfg.clip_seconds,
                "checkpoint": self.checkpoint,
            },
        )

    def evaluate(
        self,
        source,
        split: str = "test",
        *,
        metadata=None,
        threshold: float | None = None,
        pool: str = "max",
        hop: int | None = None,
        batch_size: int = 8,
        face: str = "auto",
        cache_dir=None,
        limit: int | None = None,
        progress: bool = True,
    ) -> dict:
        """Video-level metrics on a labelled dataset (vocalens.avff.evaluate.evaluate_items)."""
        from vocalens.avff.evaluate import evaluate_source

        return evaluate_source(
            self,
            source,
            split,
            metadata=metadata,
            threshold=threshold,
            pool=pool,
            hop=hop,
            batch_size=batch_size,
            face=face,
            cache_dir=cache_dir,
            limit=limit,
            progress=progress,
        )
