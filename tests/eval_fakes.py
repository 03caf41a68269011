"""Small feature stores and a deterministic stand-in predictor for the eval/infer/viz tests."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np

from vocalens.data.labels import frame_labels
from vocalens.data.store import write_features

TYPES = ("real", "audio", "visual", "both")


def make_store(
    root: Path, n: int = 8, split: str = "test", fps: float = 25.0, seed: int = 0, dims: tuple[int, int] = (6, 4)
) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        T = int(rng.integers(60, 160))
        m = TYPES[i % 4]
        periods = [] if m == "real" else [[round(0.4 + 0.08 * i, 2), round(1.2 + 0.1 * i, 2)]]
        write_features(
            root / split / f"vid{i:02d}",
            rng.normal(size=(T, dims[0])),
            rng.normal(size=(2 * T, dims[1])),
            frame_labels(periods, T, fps),
            {
                "fps": fps,
                "audio_rate": 2 * fps,
                "fake_periods": periods,
                "manipulation": m,
                "label": int(bool(periods)),
                "file": f"{split}/vid{i:02d}.mp4",
            },
        )
    return root


class FakePredictor:
    """Probabilities = smoothed labels + a video-dependent offset: deterministic, imperfect."""

    def __init__(self, threshold: float = 0.5):
        self.config = {"threshold": threshold, "fps": 25.0}

    def predict_features(self, feats):
        lab = feats.frame_labels.astype(np.float64)
        k = np.ones(5) / 5
        offset = (abs(hash(feats.video_id)) % 7) / 20
        p = np.clip(np.convolve(lab, k, "same") * 0.8 + offset * np.linspace(0, 1, len(lab)), 0, 1)
        return {"frame_probs": p, "similarity": 1 - 2 * p, "video_prob": float(p.max())}

    @classmethod
    def from_checkpoint(cls, path, device="cpu"):
        return cls()


def fake_inference_module():
    mod = types.ModuleType("vocalens.localizer.predict")
    mod.Predictor = FakePredictor
    return mod
