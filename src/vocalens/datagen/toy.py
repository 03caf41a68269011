"""Toy feature stores for tests and benchmarks (no videos, no encoders).

Visual and audio features share a latent per-frame signal on real frames; on fake frames the
manipulated stream(s) get an independent one, so audio-visual agreement is what marks a fake.
Audio is written at ``audio_rate`` Hz (default 50, like Wav2Vec2), labels with `frame_labels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vocalens.constants import FPS
from vocalens.data.labels import frame_labels
from vocalens.data.store import write_features

KINDS = ("real", "audio", "visual", "both")


def write_toy_store(
    root: str | Path,
    videos: dict[str, int],
    frames: tuple[int, int] = (30, 80),
    visual_dim: int = 8,
    audio_dim: int = 6,
    audio_rate: float = 50.0,
    fps: float = FPS,
    latent: int = 6,
    noise: float = 0.1,
    seed: int = 0,
) -> Path:
    """Write {split: number of videos} under root; video i of a split is KINDS[i % 4]."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    wv = rng.normal(size=(latent, visual_dim)) / np.sqrt(latent)
    wa = rng.normal(size=(latent, audio_dim)) / np.sqrt(latent)
    per_frame = int(round(audio_rate / fps)) if audio_rate >= fps else 1
    for split, n in videos.items():
        for i in range(n):
            t = int(rng.integers(frames[0], frames[1] + 1))
            kind = KINDS[i % 4]
            start, length = rng.uniform(0.0, 0.6), rng.uniform(0.15, 0.4)  # anywhere: position says nothing
            periods = (
                [] if kind == "real" else [[round(t / fps * start, 3), round(t / fps * min(1.0, start + length), 3)]]
            )
            lab = frame_labels(periods, t, fps)
            z = rng.normal(size=(t, latent))
            zv, za = z.copy(), z.copy()
            fake = lab == 1
            if kind in ("visual", "both"):
                zv[fake] = rng.normal(size=(int(fake.sum()), latent))
            if kind in ("audio", "both"):
                za[fake] = rng.normal(size=(int(fake.sum()), latent))
            visual = zv @ wv + noise * rng.normal(size=(t, visual_dim))
            audio_frames = za @ wa
            audio = np.repeat(audio_frames, per_frame, axis=0) + noise * rng.normal(size=(t * per_frame, audio_dim))
            meta = {
                "split": split,
                "source": "toy",
                "fps": fps,
                "audio_rate": fps * per_frame,
                "duration": t / fps,
                "fake_periods": periods,
                "modify_video": kind in ("visual", "both"),
                "modify_audio": kind in ("audio", "both"),
                "manipulation": kind,
                "label": int(kind != "real"),
                "visual_encoder": {"name": "toy", "dim": visual_dim},
                "audio_encoder": {"name": "toy", "dim": audio_dim},
                "faces_found": 1.0,
            }
            write_features(root / split / f"{split}_{i:05d}", visual, audio, lab, meta)
    return root
