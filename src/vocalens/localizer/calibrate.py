"""Calibration on held-out speakers: a video probability that means something, and a verdict
threshold that keeps real recordings REAL.

A localizer trained on partial fakes ranks videos well long before its raw video probability is
calibrated: on people it has not seen, real recordings score well above 0.5. Two numbers fix
that, fitted on the dev split (other speakers than training, never the test speakers):

* Platt scaling of the video head: ``p = sigmoid(a * logit(raw) + b)`` (a logistic regression on
  the raw logit), so ``p`` is a probability on footage like dev's;
* the verdict threshold on ``p``: the lowest value at which at most ``max_fpr`` of the dev real
  videos would be called FAKE (never below 0.5), so a real recording is REAL unless the evidence is strong.

The frame threshold keeps its own rule (max frame F1 on dev). ``Calibration`` is stored in the
checkpoint (``task["calibration"]``) and applied by the predictor, so evaluate, infer and detect agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from vocalens.result import verdict  # noqa: F401  (THE verdict rule, re-exported: REAL / FAKE / UNCERTAIN)

EPS = 1e-6


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibration:
    a: float = 1.0  # slope on the raw video logit
    b: float = 0.0  # offset
    video_threshold: float = 0.5  # FAKE when the calibrated probability reaches this
    uncertain_margin: float = 0.1  # calibrated probabilities within this below the threshold are UNCERTAIN
    dev: dict = field(default_factory=dict)  # what it was fitted on and how it did there

    def apply(self, raw_prob):
        """Raw video-head probability (scalar or array) -> calibrated probability."""
        z = self.a * _logit(raw_prob) + self.b
        p = 1.0 / (1.0 + np.exp(-z))
        return float(p) if np.ndim(p) == 0 else p

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Calibration | None":
        if not d:
            return None
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def fit_platt(raw_probs, labels) -> tuple[float, float]:
    """(a, b) of a logistic regression of the labels on the raw logit; identity without both classes."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels).astype(int)
    if y.min() == y.max():
        return 1.0, 0.0
    x = _logit(raw_probs).reshape(-1, 1)
    lr = LogisticRegression(C=100.0).fit(x, y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def pick_video_threshold(probs, labels, max_fpr: float = 0.05, floor: float = 0.5) -> float:
    """Lowest threshold (>= ``floor``) that calls at most ``max_fpr`` of the real videos FAKE."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    real = np.sort(p[y == 0])
    if len(real) == 0:
        return floor
    allowed = int(np.floor(max_fpr * len(real)))  # real videos that may stay at or above the threshold
    t = real[len(real) - 1 - allowed] if allowed < len(real) else real[0]
    return float(max(floor, np.nextafter(t, np.inf)))


def fit_calibration(raw_probs, labels, max_fpr: float = 0.05, uncertain_margin: float = 0.1) -> Calibration:
    """Platt scaling + verdict threshold from dev videos' raw video probabilities and labels."""
    raw = np.asarray(raw_probs, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    a, b = fit_platt(raw, y)
    cal = Calibration(a=a, b=b, uncertain_margin=uncertain_margin)
    p = cal.apply(raw)
    cal.video_threshold = pick_video_threshold(p, y, max_fpr)
    pred = p >= cal.video_threshold
    cal.dev = {
        "videos": int(len(y)),
        "real": int((y == 0).sum()),
        "fake": int((y == 1).sum()),
        "max_fpr": float(max_fpr),
        "fpr": float(pred[y == 0].mean()) if (y == 0).any() else None,
        "tpr": float(pred[y == 1].mean()) if (y == 1).any() else None,
    }
    return cal


def calibrate_checkpoint(
    checkpoint,
    features_root,
    output,
    *,
    split: str = "dev",
    max_fpr: float = 0.05,
    uncertain_margin: float = 0.1,
    progress: bool = True,
) -> Calibration:
    """Fit a Calibration on ``features_root/split`` and write ``output``: the checkpoint with it stored
    and without training state (optimizer, RNG), i.e. what is shipped. The input is never modified."""
    from pathlib import Path

    from vocalens.data.store import list_videos
    from vocalens.errors import UserError
    from vocalens.localizer.evaluate import predict_videos
    from vocalens.localizer.predict import Predictor
    from vocalens.train import checkpoint as ckpt_io

    ckpt = ckpt_io.load(checkpoint)
    predictor = Predictor.from_checkpoint(checkpoint)
    predictor.calibration = None  # fit on the raw video head
    folders = list_videos(features_root, split)
    if not folders:
        raise UserError(f"{Path(features_root) / split}: no complete feature folders to calibrate on")
    failures: list[str] = []
    recs = list(predict_videos(predictor, folders, predictor.threshold, progress, failures, desc="calibrate"))
    recs = [r for r in recs if "label" in r]
    if not recs:
        raise UserError(f"{Path(features_root) / split}: no labelled videos to calibrate on")
    cal = fit_calibration([r["video_prob"] for r in recs], [r["label"] for r in recs], max_fpr, uncertain_margin)
    cal.dev.update({"split": split, "features_root": str(features_root)})
    task = dict(ckpt["task"])
    task["calibration"] = cal.to_dict()
    task["video_threshold"] = cal.video_threshold
    slim = {
        "model": {k: v.contiguous() for k, v in ckpt["model"].items()},
        "task": task,
        "epoch": ckpt.get("epoch"),
        "metrics": ckpt.get("metrics", {}),
    }
    ckpt_io.save_atomic(slim, output)

    return cal
