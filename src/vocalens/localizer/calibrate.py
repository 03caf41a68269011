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

Sync fusion (``vocalens calibrate --fuse_sync``, sync encoder pairs only): the localizer loses some of
the lip-sync ranking its inputs carry (the raw cosine alone ranked frames as well as it did), so the
frame probability becomes ``sigmoid(w_l * box(logit p, n_l) + w_c * -box(cos(v_t, a_t), n_c) + b)``,
three numbers fitted by logistic regression on the dev frames; with ``video_topk`` k > 0 the video score
becomes the mean of the k highest fused frame logits (a fake of ~1 s shows there), else the video head's
stays. The box lengths and k were chosen on dev (leave-one-source-out, docs/model_card.md).
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
    fusion: dict = field(default_factory=dict)  # sync fusion (fit_fusion); empty = the model's own scores

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


# sync fusion settings, chosen on the dev speakers by leave-one-source-out frame AUC (box lengths in
# frames: logit 15 x cosine 31 of {9, 15, 21, 31} x {21, 31, 41, 51}) and video AUC / tpr at FPR 0 (k 25 of
# {1, 5, 10, 15, 25, 50, all}; `calibrate --video_topk`, off by default): docs/model_card.md
FUSION_LOGIT_SMOOTH = 15
FUSION_COS_SMOOTH = 31


def raw_cosine(visual: np.ndarray, audio: np.ndarray) -> np.ndarray | None:
    """[T,D] x2 (audio on the video frames) -> [T] cos(visual_t, audio_t) of the encoders' raw outputs;
    None when the streams differ in width (not a sync encoder pair)."""
    if visual.shape != audio.shape:
        return None
    v = np.asarray(visual, np.float32)  # no copies and no [T, D] product: an hour's pair is 46 MB each
    a = np.asarray(audio, np.float32)
    den = (np.linalg.norm(v, axis=1) + 1e-6) * (np.linalg.norm(a, axis=1) + 1e-6)
    return np.einsum("ij,ij->i", v, a) / den


def _fusion_inputs(frame_probs, cosine, logit_smooth: int, cos_smooth: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    z = uniform_filter1d(_logit(frame_probs), logit_smooth)
    c = -uniform_filter1d(np.asarray(cosine, dtype=np.float64), cos_smooth)  # high = out of sync
    return np.stack([z, c], 1)


def fused_logits(frame_probs, cosine, fusion: dict) -> np.ndarray:
    """The fused per-frame logit of :func:`fit_fusion`'s ``fusion`` on one video."""
    x = _fusion_inputs(frame_probs, cosine, int(fusion["logit_smooth"]), int(fusion["cos_smooth"]))
    return x @ np.array([fusion["w_logit"], fusion["w_cos"]]) + fusion["bias"]


def fuse(frame_probs, cosine, fusion: dict) -> tuple[np.ndarray, float | None]:
    """-> (fused frame probabilities [T], raw video probability: sigmoid of the mean of the ``video_topk``
    highest fused logits; None with ``video_topk`` 0, where the video head's score stays the video's)."""
    z = fused_logits(frame_probs, cosine, fusion)
    k = int(fusion.get("video_topk", 0))
    if not len(z):
        return np.zeros(0, np.float32), (0.0 if k else None)
    top = float(1.0 / (1.0 + np.exp(-np.sort(z)[::-1][:k].mean()))) if k else None
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32), top


def fit_fusion(
    videos,
    logit_smooth: int = FUSION_LOGIT_SMOOTH,
    cos_smooth: int = FUSION_COS_SMOOTH,
    topk: int = 0,
) -> dict:
    """``videos``: (frame_probs, raw cosine, frame labels) per dev video -> the fusion weights (a logistic
    regression on all frames) and the dev frame AUC before/after (in-sample)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x = np.concatenate([_fusion_inputs(p, c, logit_smooth, cos_smooth) for p, c, _ in videos])
    y = np.concatenate([np.asarray(lab).reshape(-1) for _, _, lab in videos]).astype(int)
    if y.min() == y.max():
        raise ValueError("fit_fusion: the frames need both classes")
    lr = LogisticRegression(C=1.0).fit(x, y)
    w = lr.coef_[0]
    p = np.concatenate([np.asarray(p).reshape(-1) for p, _, _ in videos])
    return {
        "logit_smooth": int(logit_smooth),
        "cos_smooth": int(cos_smooth),
        "video_topk": int(topk),
        "w_logit": float(w[0]),
        "w_cos": float(w[1]),
        "bias": float(lr.intercept_[0]),
        "dev_frame_auc": {"model": float(roc_auc_score(y, p)), "fused": float(roc_auc_score(y, x @ w))},
    }


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
    fuse_sync: bool = False,
    video_topk: int = 0,
) -> Calibration:
    """Fit a Calibration on ``features_root/split`` and write ``output``: the checkpoint with it stored
    and without training state (optimizer, RNG), i.e. what is shipped. The input is never modified.
    ``fuse_sync``: first fit the sync fusion (:func:`fit_fusion`; ``video_topk`` > 0: videos scored by their
    top fused frames), then the video calibration on the resulting video scores, and re-pick the frame
    threshold (max frame F1) and the boundary head's segment threshold (best segment F1) on the fused frame
    probabilities, by the rules training used."""
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
    fusion = _fit_sync_fusion(predictor, folders, progress, video_topk) if fuse_sync else {}
    if fusion:
        predictor.calibration = Calibration(fusion=fusion)  # identity Platt: fused frames, raw video score
    recs = list(predict_videos(predictor, folders, predictor.threshold, progress, failures, desc="calibrate"))
    recs = [r for r in recs if "label" in r]
    if not recs:
        raise UserError(f"{Path(features_root) / split}: no labelled videos to calibrate on")
    cal = fit_calibration([r["video_prob"] for r in recs], [r["label"] for r in recs], max_fpr, uncertain_margin)
    cal.dev.update({"split": split, "features_root": str(features_root)})
    cal.fusion = fusion
    task = dict(ckpt["task"])
    if fusion:
        task.update(_fused_thresholds(recs, task))
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


def _fit_sync_fusion(predictor, folders, progress: bool, topk: int) -> dict:
    """The fusion weights from the uncalibrated predictor's frame probabilities on ``folders``."""
    from tqdm.auto import tqdm

    from vocalens.data.labels import frame_labels
    from vocalens.data.store import read_features
    from vocalens.errors import UserError

    videos = []
    for folder in tqdm(folders, desc="fuse", unit="video", disable=not progress):
        feats = read_features(folder)
        if feats.visual.shape[-1] != feats.audio.shape[-1]:
            raise UserError(f"{folder}: --fuse_sync needs features of a sync encoder pair (one width for both)")
        out = predictor.predict_features(feats)
        if out.get("raw_similarity") is None:  # no frames
            continue
        labels = feats.frame_labels
        if labels is None and "fake_periods" in feats.meta:
            labels = frame_labels(feats.meta["fake_periods"], feats.num_frames, feats.fps)
        if labels is not None and len(labels):
            videos.append((out["frame_probs"], out["raw_similarity"], labels))
    try:
        return fit_fusion(videos, topk=topk)
    except ValueError as e:
        raise UserError(f"{folders[0].parent}: cannot fit the sync fusion: {e}") from None


def _fused_thresholds(recs: list[dict], task: dict) -> dict:
    """The frame threshold (max frame F1) and, with a boundary head, the segment threshold (best segment
    F1 at IoU 0.5) re-picked on the fused dev outputs: the rules training used on the unfused ones."""
    from vocalens.localizer.boundary import best_segment_threshold, label_segments
    from vocalens.localizer.task import best_f1_threshold

    lab = [r for r in recs if r.get("frame_labels") is not None]
    y = np.concatenate([r["frame_labels"] for r in lab]).astype(np.float32)
    p = np.concatenate([r["frame_probs"] for r in lab]).astype(np.float64)
    out = {"threshold": best_f1_threshold(y, p)[0], "threshold_rule": "maximises fused frame F1 on dev"}
    if "boundary_threshold" in task and all(r.get("segments_source") == "boundary head" for r in lab):
        props = {
            r["video_id"]: np.array([[s * r["fps"], e * r["fps"], sc] for sc, s, e in r["proposals"]]).reshape(-1, 3)
            for r in lab
        }
        truth = {r["video_id"]: label_segments(r["frame_labels"]) for r in lab}
        out["boundary_threshold"] = best_segment_threshold(props, truth)[0]
        out["boundary_threshold_rule"] = "maximises the F1 of segments at IoU 0.5 on dev (fused frame scores)"
    return out
