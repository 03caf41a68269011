"""The VOCA-Lens localizer as a task for the generic loop (`vocalens train`).

Validation stitches each dev video back to full length and pools every valid frame of every rank:
frame AUC / AP (scikit-learn), video AUC / AP, frame F1 at 0.5 and at the threshold maximising
frame F1 (that threshold is stored in the checkpoint for inference), and temporal AP@0.5 when
`vocalens.eval.metrics` is available. best.pth is chosen by frame AP on dev by default.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from vocalens.data.dataset import FeatureDataset, collate, stitch_windows
from vocalens.data.labels import labels_to_periods
from vocalens.errors import UserError
from vocalens.inference import CHECKPOINT_KIND
from vocalens.models.localizer import Localizer, LocalizerConfig
from vocalens.models.losses import LossConfig, auto_pos_weight, localizer_loss
from vocalens.train.loop import Task


@dataclass
class LocalizerTaskConfig:
    features_root: str
    train_split: str = "train"
    val_split: str | None = "dev"
    max_frames: int = 512
    d_model: int = 512
    num_layers: int = 4
    nhead: int = 8
    dropout: float = 0.1
    attn_dropout: float = 0.0  # on attention weights (0: fused attention kernels)
    pos_weight: float = -1.0  # -1: neg/pos ratio of the training frames
    use_focal: bool = False
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    video_loss_weight: float = 0.3
    smooth_loss_weight: float = 0.1
    similarity_loss_weight: float = 0.2
    no_cross_attn: bool = False
    no_video_head: bool = False
    modality: str = "both"
    conv_kernel: int = 7  # temporal kernel of the projections (1 = the seed's per-frame Linear)
    sync_aug: float = 0.5  # chance a training window gets out-of-sync stretches labelled fake
    energy: bool = True  # (change) energy channels in the projections
    feature_norm: bool = False  # standardise each input feature over each sequence (identity/lighting out)
    sync_lags: int = 0  # lag profile of the raw input cosine, -L..L frames (sync encoder pairs only)


def _safe(fn, *args) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(fn(*args))
    except ValueError:  # one class only
        return float("nan")


def best_f1_threshold(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of `probs >= threshold`; (0.5, nan) without both classes."""
    if labels.size == 0 or labels.min() == labels.max():
        return 0.5, float("nan")
    prec, rec, thr = precision_recall_curve(labels, probs)
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    i = int(np.argmax(f1))
    return float(thr[i]), float(f1[i])


def f1_at(labels: np.ndarray, probs: np.ndarray, threshold: float) -> float:
    pred = probs >= threshold
    tp = float(np.sum(pred & (labels > 0.5)))
    denom = float(pred.sum() + (labels > 0.5).sum())
    return 2 * tp / denom if denom else float("nan")


def temporal_ap50(videos: dict, fps: float) -> float:
    """LAV-DF AP@0.5 (vocalens.eval.metrics, the official algorithm) of proposals from the frame probabilities."""
    from vocalens.eval.metrics import temporal_ap
    from vocalens.eval.proposals import make_proposals

    proposals, truth = {}, {}
    for vid, v in videos.items():
        if "labels" not in v:
            continue
        proposals[vid] = make_proposals(v["frame_probs"], fps, video_score=float(v["video_prob"]))
        truth[vid] = labels_to_periods(v["labels"], fps)
    if not any(truth.values()):
        return float("nan")
    return float(temporal_ap(proposals, truth, [0.5])[0.5])


def localization_metrics(videos: dict, fps: float = 25.0, threshold: float | None = None) -> dict:
    """Frame/video metrics of stitched videos ({id: {frame_probs, labels?, video_prob, video_label}})."""
    lab = [v for v in videos.values() if "labels" in v]
    out: dict[str, float] = {"videos": float(len(videos))}
    if lab:
        y = np.concatenate([v["labels"] for v in lab]).astype(np.float32)
        p = np.concatenate([v["frame_probs"] for v in lab]).astype(np.float64)
        out["frame_auc"] = _safe(roc_auc_score, y, p)
        out["frame_ap"] = _safe(average_precision_score, y, p)
        out["frame_f1@0.5"] = f1_at(y, p, 0.5)
        thr, f1 = best_f1_threshold(y, p)
        out["threshold"] = thr if threshold is None else float(threshold)
        out["frame_f1"] = f1 if threshold is None else f1_at(y, p, threshold)
        out["frames"] = float(len(y))
    vy = np.array([float(v["video_label"]) for v in videos.values()])
    vp = np.array([float(v["video_prob"]) for v in videos.values()])
    out["video_auc"] = _safe(roc_auc_score, vy, vp)
    out["video_ap"] = _safe(average_precision_score, vy, vp)
    out["ap@0.5"] = temporal_ap50({k: v for k, v in videos.items() if "labels" in v}, fps)
    return out


class LocalizerTask(Task):
    unit = "frames"
    best_metric = "frame_ap"
    best_mode = "max"

    def __init__(self, cfg: LocalizerTaskConfig):
        self.cfg = cfg
        self.train_ds = FeatureDataset(cfg.features_root, cfg.train_split, cfg.max_frames, cfg.modality,
                                       require_labels=True, sync_aug=cfg.sync_aug)
        self.val_ds = (FeatureDataset(cfg.features_root, cfg.val_split, cfg.max_frames, cfg.modality)
                       if cfg.val_split else None)
        if self.val_ds is not None and (self.val_ds.visual_dim, self.val_ds.audio_dim) != (
                self.train_ds.visual_dim, self.train_ds.audio_dim):
            raise UserError(f"{self.val_ds.paths[0]}: {cfg.val_split} features are {self.val_ds.visual_dim}/"
                            f"{self.val_ds.audio_dim}-d, {cfg.train_split} ones {self.train_ds.visual_dim}/"
                            f"{self.train_ds.audio_dim}-d")
        pos_weight = cfg.pos_weight
        if pos_weight is None or pos_weight < 0:
            fake, real = self.train_ds.frame_label_counts()
            pos_weight = auto_pos_weight(fake, real)
        self.loss_cfg = LossConfig(pos_weight=float(pos_weight), use_focal=cfg.use_focal, focal_alpha=cfg.focal_alpha,
                                   focal_gamma=cfg.focal_gamma, video_loss_weight=cfg.video_loss_weight,
                                   smooth_loss_weight=cfg.smooth_loss_weight,
                                   similarity_loss_weight=cfg.similarity_loss_weight)
        if cfg.sync_lags < 0 or (cfg.sync_lags and self.train_ds.visual_dim != self.train_ds.audio_dim):
            raise UserError(f"--sync_lags {cfg.sync_lags}: needs N >= 0 and visual and audio features of one size "
                            f"(a sync encoder pair); {cfg.features_root} has {self.train_ds.visual_dim}-d visual and "
                            f"{self.train_ds.audio_dim}-d audio")
        self.model_cfg = LocalizerConfig(visual_dim=self.train_ds.visual_dim, audio_dim=self.train_ds.audio_dim,
                                         d_model=cfg.d_model, num_layers=cfg.num_layers, nhead=cfg.nhead,
                                         dropout=cfg.dropout, attn_dropout=cfg.attn_dropout, cross_attn=not cfg.no_cross_attn,
                                         video_head=not cfg.no_video_head, conv_kernel=cfg.conv_kernel,
                                         energy=cfg.energy, feature_norm=cfg.feature_norm,
                                         sync_lags=cfg.sync_lags)
        self.threshold = 0.5

    # --- the loop's task interface ---
    def build_model(self) -> Localizer:
        return Localizer(self.model_cfg)

    def train_dataset(self):
        return self.train_ds

    def val_dataset(self):
        return self.val_ds

    def collate(self, items):
        return collate(items)

    def count(self, batch) -> int:
        return int(batch["mask"].sum())

    def step(self, model, batch):
        frame_logits, video_logit, sim = model(batch["visual"], batch["audio"], batch["mask"])
        loss, parts = localizer_loss(frame_logits, video_logit, sim, batch["labels"], batch["window_label"],
                                     batch["mask"], self.loss_cfg)
        if not self.loss_cfg.video_loss_weight:
            loss = loss + 0.0 * video_logit.sum()  # keep the video head in the graph (DDP needs every param used)
        return loss, parts

    def predict(self, model, batch) -> list[dict]:
        frame_logits, video_logit, sim = model(batch["visual"], batch["audio"], batch["mask"])
        probs = torch.sigmoid(frame_logits.float()).cpu().numpy()
        sims = sim.float().cpu().numpy()
        vprob = torch.sigmoid(video_logit.float()).cpu().numpy()
        labels = batch["labels"].cpu().numpy()
        lengths = batch["mask"].sum(1).cpu().numpy()
        out = []
        for j, n in enumerate(lengths.tolist()):
            o = {"video_id": batch["video_id"][j], "start": batch["start"][j], "num_frames": batch["num_frames"][j],
                 "frame_probs": probs[j, :n].copy(), "similarity": sims[j, :n].copy(), "video_prob": float(vprob[j]),
                 "video_label": batch["video_label"][j], "manipulation": batch["manipulation"][j],
                 "fps": batch["fps"][j]}
            if batch["has_labels"][j]:
                o["labels"] = labels[j, :n].copy()
            out.append(o)
        return out

    def validate(self, outputs: list) -> dict:
        videos = stitch_windows(outputs)
        metrics = localization_metrics(videos, self.val_ds.fps if self.val_ds else 25.0)
        if not math.isnan(metrics.get("frame_f1", float("nan"))):
            self.threshold = metrics["threshold"]
        return metrics

    def checkpoint_extra(self, metrics: dict) -> dict:
        meta = self.train_ds.metas[0]
        thr = metrics.get("threshold", self.threshold) if metrics else self.threshold
        return {
            "kind": CHECKPOINT_KIND,
            "model_config": self.model_cfg.to_dict(),
            "loss_config": self.loss_cfg.to_dict(),
            "task_config": asdict(self.cfg),
            "threshold": float(thr if thr is not None and not math.isnan(thr) else 0.5),
            "threshold_rule": "maximises frame F1 on the validation split",
            "visual_dim": self.model_cfg.visual_dim,
            "audio_dim": self.model_cfg.audio_dim,
            "fps": float(meta.get("fps", 25.0)),
            "audio_rate": float(meta.get("audio_rate", meta.get("fps", 25.0))),
            "audio_alignment": "vocalens.data.align.resample_to_frames(audio, audio_rate, T, fps)",
            "visual_encoder": meta.get("visual_encoder"),
            "audio_encoder": meta.get("audio_encoder"),
            "max_frames": self.cfg.max_frames,
            "modality": self.cfg.modality,
        }
