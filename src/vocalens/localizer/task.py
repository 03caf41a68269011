"""The VOCA-Lens localizer as a task for the generic loop (`vocalens train`).

Validation stitches each dev video back to full length and pools every valid frame of every rank:
frame AUC / AP (scikit-learn), video AUC / AP, frame F1 at 0.5 and at the threshold maximising
frame F1 (that threshold is stored in the checkpoint for inference), and temporal AP@0.5 when
`vocalens.eval.metrics` is available; with the boundary head also its AP/AR, the AV-Deepfake1M++ score and
the segment threshold of best F1 (stored as ``boundary_threshold``). best.pth is chosen by frame AP on dev
by default.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from vocalens.constants import FPS
from vocalens.data.labels import labels_to_periods
from vocalens.errors import UserError
from vocalens.localizer.boundary import (
    best_segment_threshold,
    edge_penalty,
    label_segments,
    proposals_to_seconds,
    video_proposals,
    window_candidates,
)
from vocalens.localizer.config import CHECKPOINT_KIND, LocalizerConfig
from vocalens.localizer.data import FeatureDataset, collate, stitch_windows
from vocalens.localizer.losses import auto_pos_weight, localizer_loss
from vocalens.localizer.model import Localizer
from vocalens.train.loop import Task


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


def localization_metrics(videos: dict, fps: float = FPS, threshold: float | None = None) -> dict:
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

    def __init__(self, cfg: LocalizerConfig):
        self.cfg = cfg.validate()
        d = cfg.data
        self.train_ds = FeatureDataset(
            d.features_root, d.train_split, d.max_frames, d.modality, require_labels=True, sync_aug=d.sync_aug
        )
        self.val_ds = FeatureDataset(d.features_root, d.val_split, d.max_frames, d.modality) if d.val_split else None
        if self.val_ds is not None and (self.val_ds.visual_dim, self.val_ds.audio_dim) != (
            self.train_ds.visual_dim,
            self.train_ds.audio_dim,
        ):
            raise UserError(
                f"{self.val_ds.paths[0]}: {d.val_split} features are {self.val_ds.visual_dim}/"
                f"{self.val_ds.audio_dim}-d, {d.train_split} ones {self.train_ds.visual_dim}/"
                f"{self.train_ds.audio_dim}-d"
            )
        pos_weight = cfg.loss.pos_weight
        if pos_weight is None or pos_weight < 0:
            fake, real = self.train_ds.frame_label_counts()
            pos_weight = auto_pos_weight(fake, real)
        self.loss_cfg = dataclasses.replace(cfg.loss, pos_weight=float(pos_weight))  # -1 resolved
        lags, dv, da = cfg.model.sync_lags, self.train_ds.visual_dim, self.train_ds.audio_dim
        if lags < 0 or (lags and dv != da):
            raise UserError(
                f"--sync_lags {lags}: needs N >= 0 and visual and audio features of one size "
                f"(a sync encoder pair); {cfg.data.features_root} has {dv}-d visual and {da}-d audio"
            )
        if cfg.model.sync_residual and dv != da:
            raise UserError(f"--sync_residual: needs a sync encoder pair; {d.features_root} has {dv}-d / {da}-d")
        self.model_cfg = dataclasses.replace(
            cfg.model, visual_dim=self.train_ds.visual_dim, audio_dim=self.train_ds.audio_dim
        )
        self.threshold = 0.5
        self.boundary_threshold = 0.5  # the boundary head's segment threshold, chosen on validation

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
        frame_logits, video_logit, sim, boundary = model(batch["visual"], batch["audio"], batch["mask"], all_heads=True)
        loss, parts = localizer_loss(
            frame_logits,
            video_logit,
            sim,
            batch["labels"],
            batch["window_label"],
            batch["mask"],
            self.loss_cfg,
            boundary,
            self.model_cfg.boundary_radius,
        )
        if not self.loss_cfg.video_loss_weight:
            loss = loss + 0.0 * video_logit.sum()  # keep the video head in the graph (DDP needs every param used)
        if boundary is not None and not self.loss_cfg.boundary_loss_weight:
            loss = loss + 0.0 * sum(boundary[k].sum() for k in ("cls", "offsets", "quality", "edges") if k in boundary)
        return loss, parts

    def predict(self, model, batch) -> list[dict]:
        frame_logits, video_logit, sim, boundary = model(batch["visual"], batch["audio"], batch["mask"], all_heads=True)
        probs = torch.sigmoid(frame_logits.float()).cpu().numpy()
        sims = sim.float().cpu().numpy()
        vprob = torch.sigmoid(video_logit.float()).cpu().numpy()
        labels = batch["labels"].cpu().numpy()
        lengths = batch["mask"].sum(1).cpu().numpy()
        out = []
        for j, n in enumerate(lengths.tolist()):
            o = {
                "video_id": batch["video_id"][j],
                "start": batch["start"][j],
                "num_frames": batch["num_frames"][j],
                "frame_probs": probs[j, :n].copy(),
                "similarity": sims[j, :n].copy(),
                "video_prob": float(vprob[j]),
                "video_label": batch["video_label"][j],
                "manipulation": batch["manipulation"][j],
                "fps": batch["fps"][j],
            }
            if batch["has_labels"][j]:
                o["labels"] = labels[j, :n].copy()
            if boundary is not None:  # window frames; a 2-D array, so stitch_windows leaves it alone
                o["boundary_candidates"] = window_candidates(boundary, j, int(n), self.model_cfg)
            out.append(o)
        return out

    def validate(self, outputs: list) -> dict:
        cands: dict[str, list] = {}
        for o in outputs:
            if "boundary_candidates" in o:
                n, t = len(o["frame_probs"]), int(o["num_frames"])
                c = edge_penalty(o.pop("boundary_candidates"), int(o["start"]), n, t)
                cands.setdefault(o["video_id"], []).append(c)
        videos = stitch_windows(outputs)
        fps = self.val_ds.fps if self.val_ds else FPS
        metrics = localization_metrics(videos, fps)
        if not math.isnan(metrics.get("frame_f1", float("nan"))):
            self.threshold = metrics["threshold"]
        if cands:
            metrics.update(self._boundary_metrics(videos, cands, fps))
        return metrics

    def _boundary_metrics(self, videos: dict, cands: dict, fps: float) -> dict:
        """The boundary head's AP/AR on the validation videos and its segment threshold (best F1 at IoU 0.5)."""
        from vocalens.eval.metrics import av1m_score, temporal_ap_ar

        props, truth = {}, {}
        for vid, v in videos.items():
            if "labels" not in v:
                continue
            t = len(v["frame_probs"])
            props[vid] = video_proposals(np.concatenate(cands[vid]), t, v["frame_probs"], self.model_cfg)
            truth[vid] = label_segments(v["labels"])
        if not any(len(g) for g in truth.values()):
            return {}
        secs = {k: proposals_to_seconds(p, fps) for k, p in props.items()}
        gt = {k: (g / fps).tolist() for k, g in truth.items()}
        r = temporal_ap_ar(secs, gt, (0.5, 0.75, 0.9, 0.95), (100, 50, 30, 20, 10, 5))
        out = {f"boundary_ap@{k:g}": v for k, v in r["ap"].items()}
        out.update({f"boundary_ar@{k}": v for k, v in r["ar"].items()})
        out["boundary_av1m_score"] = av1m_score(r)
        thr, f1 = best_segment_threshold(props, truth)
        self.boundary_threshold = out["boundary_threshold"] = thr
        out["boundary_segment_f1"] = f1
        return out

    def checkpoint_extra(self, metrics: dict) -> dict:
        meta = self.train_ds.metas[0]
        faces = {m.get("face") for m in self.train_ds.metas}  # --face of `vocalens extract`, per video
        thr = metrics.get("threshold", self.threshold) if metrics else self.threshold
        return {
            "kind": CHECKPOINT_KIND,
            "config": self.cfg.to_dict(),  # exactly what the command line built
            "model_config": self.model_cfg.to_dict(),  # the config with the feature widths filled in
            "pos_weight": self.loss_cfg.pos_weight,  # --pos_weight -1 resolved on the training frames
            "threshold": float(thr if thr is not None and not math.isnan(thr) else 0.5),
            "threshold_rule": "maximises frame F1 on the validation split",
            **(
                {
                    "boundary_threshold": float(metrics.get("boundary_threshold", self.boundary_threshold))
                    if metrics
                    else self.boundary_threshold,
                    "boundary_threshold_rule": "maximises the F1 of segments at IoU 0.5 on the validation split",
                }
                if self.model_cfg.boundary_head
                else {}
            ),
            "visual_dim": self.model_cfg.visual_dim,
            "audio_dim": self.model_cfg.audio_dim,
            "fps": float(meta.get("fps", FPS)),
            "audio_rate": float(meta.get("audio_rate", meta.get("fps", FPS))),
            "audio_alignment": "vocalens.data.align.resample_to_frames(audio, audio_rate, T, fps)",
            "visual_encoder": meta.get("visual_encoder"),
            "audio_encoder": meta.get("audio_encoder"),
            # the face mode the training features were cut with (None when they disagree or do not say):
            # detect crops a new video alike unless told otherwise
            "face": faces.pop() if len(faces) == 1 else None,
            "max_frames": self.cfg.data.max_frames,
            "modality": self.cfg.data.modality,
        }
