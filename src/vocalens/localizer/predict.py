"""Predictor: a localizer checkpoint -> per-frame fake probabilities on extracted features.

Used by `vocalens evaluate / infer / detect`. The checkpoint carries everything needed
(``ckpt["task"]``): the model config, feature dims, fps, the encoders recorded in the store's
meta.json, max_frames, the ablation modality and the decision threshold chosen on dev.

    p = Predictor.from_checkpoint("checkpoints/localization/best.pth")
    out = p.predict(visual, audio, audio_rate=50.0, fps=25.0)   # frame_probs [T], similarity [T], video_prob
    # a calibration with sync fusion (calibrate --fuse_sync) makes frame_probs the fused ones, and with
    # --video_topk video_prob too (the model's own: frame_probs_model, video_prob_head)
    # with a boundary head also boundary_proposals [K,3] and boundary_segments [[start, end, score], ...] (frames)
    out = p.predict_features(read_features(folder))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vocalens.constants import FPS
from vocalens.data.align import resample_to_frames
from vocalens.data.store import VideoFeatures
from vocalens.errors import UserError
from vocalens.localizer.boundary import (
    display_segments,
    edge_penalty,
    overlapping_starts,
    video_proposals,
    window_candidates,
)
from vocalens.localizer.calibrate import Calibration, fuse, raw_cosine
from vocalens.localizer.config import CHECKPOINT_KIND, ModelConfig
from vocalens.localizer.data import apply_modality, window_starts
from vocalens.localizer.model import Localizer
from vocalens.train import checkpoint as ckpt_io
from vocalens.train.dist import pick_device


class Predictor:
    def __init__(
        self,
        model: Localizer,
        config: dict,
        device: str | torch.device = "cpu",
        source: str = "<model>",
        window_batch: int = 16,
    ):
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.source = source
        self.window_batch = window_batch
        self.calibration = Calibration.from_dict(config.get("calibration"))  # fitted on dev by `vocalens calibrate`

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto") -> "Predictor":
        ckpt = ckpt_io.load(path, map_location="cpu")
        cfg = ckpt.get("task") or {}
        if cfg.get("kind") != CHECKPOINT_KIND:
            raise UserError(f"{path}: not a VOCA-Lens localizer checkpoint (kind={cfg.get('kind')!r})")
        model = Localizer(ModelConfig.from_dict(cfg["model_config"]))
        model.load_state_dict(ckpt["model"])
        config = dict(cfg)
        config.setdefault("threshold", 0.5)
        config["epoch"] = ckpt.get("epoch")
        config["metrics"] = dict(ckpt.get("metrics") or {})
        return cls(model, config, device, source=str(path))

    @property
    def threshold(self) -> float:
        return float(self.config.get("threshold", 0.5))

    @property
    def video_threshold(self) -> float:
        """The verdict threshold on the (calibrated) video probability; the frame threshold when uncalibrated."""
        return float(self.calibration.video_threshold) if self.calibration else self.threshold

    @property
    def has_boundary_head(self) -> bool:
        return getattr(self.model, "boundary_head", None) is not None

    @property
    def boundary_threshold(self) -> float:
        """The boundary head's segment threshold (best segment F1 on dev; 0.5 when the checkpoint has none)."""
        return float(self.config.get("boundary_threshold", 0.5))

    @property
    def max_frames(self) -> int:
        return int(self.config.get("max_frames", 512))

    def _check_dims(self, dv: int, da: int, what: str) -> None:
        want_v, want_a = int(self.config["visual_dim"]), int(self.config["audio_dim"])
        if (dv, da) != (want_v, want_a):
            raise UserError(
                f"{what}: features are visual {dv}-d / audio {da}-d but {self.source} expects "
                f"visual {want_v}-d / audio {want_a}-d (extracted with other encoders?)"
            )

    @torch.no_grad()
    def predict(
        self, visual: np.ndarray, audio: np.ndarray, audio_rate: float, fps: float = FPS, name: str = "features"
    ) -> dict:
        """visual [T,Dv], audio [Ta,Da] at audio_rate Hz -> {frame_probs [T], similarity [T], video_prob}
        (+ boundary_proposals, boundary_segments with a boundary head)."""
        visual = np.asarray(visual, dtype=np.float32)
        audio = np.asarray(audio, dtype=np.float32)
        if visual.ndim != 2 or audio.ndim != 2:
            raise UserError(f"{name}: expected visual [T,Dv] and audio [Ta,Da], got {visual.shape} and {audio.shape}")
        self._check_dims(visual.shape[1], audio.shape[1], name)
        t = visual.shape[0]
        if t == 0:
            return {"frame_probs": np.zeros(0, np.float32), "similarity": np.zeros(0, np.float32), "video_prob": 0.0}
        audio_f = resample_to_frames(audio, audio_rate, t, fps)
        visual, audio_f = apply_modality(visual, audio_f, self.config.get("modality", "both"))
        head = self.has_boundary_head
        # frames: the training windows (as validation stitched them); the boundary head also sees windows
        # overlapping them by half, so a segment cut by one window's edge is whole in another
        frame_starts = set(window_starts(t, self.max_frames))
        starts = sorted(frame_starts | set(overlapping_starts(t, self.max_frames))) if head else sorted(frame_starts)
        length = min(t, self.max_frames) if self.max_frames > 0 else t
        probs = np.zeros(t, np.float64)
        sims = np.zeros(t, np.float64)
        counts = np.zeros(t, np.int64)
        video_prob = 0.0
        cands = []
        amp = self.device.type == "cuda"
        for i in range(0, len(starts), self.window_batch):
            chunk = starts[i : i + self.window_batch]
            v = torch.from_numpy(np.stack([visual[s : s + length] for s in chunk])).to(self.device)
            a = torch.from_numpy(np.stack([audio_f[s : s + length] for s in chunk])).to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
                logits, vlogit, sim, boundary = self.model(v, a, all_heads=True)
            p = torch.sigmoid(logits.float()).cpu().numpy()
            s_ = sim.float().cpu().numpy()
            for j, s in enumerate(chunk):
                if s in frame_starts:
                    probs[s : s + length] += p[j]
                    sims[s : s + length] += s_[j]
                    counts[s : s + length] += 1
                if boundary is not None:
                    c = window_candidates(boundary, j, length, self.model.cfg)
                    cands.append(edge_penalty(c, s, length, t))
            vp = torch.sigmoid(vlogit.float()).cpu().numpy()
            video_prob = max([video_prob] + [float(vp[j]) for j, s in enumerate(chunk) if s in frame_starts])
        counts = np.maximum(counts, 1)
        out = {
            "frame_probs": (probs / counts).astype(np.float32),
            "similarity": (sims / counts).astype(np.float32),
            "video_prob": video_prob,
            "raw_similarity": raw_cosine(visual, audio_f),  # the encoders' own sync cosine (None: not a pair)
        }
        if self.calibration is not None and self.calibration.fusion and out["raw_similarity"] is not None:
            # sync fusion (calibrate --fuse_sync): the frames and the video score the verdict reads
            out["frame_probs_model"], out["video_prob_head"] = out["frame_probs"], video_prob
            out["frame_probs"], top = fuse(out["frame_probs"], out["raw_similarity"], self.calibration.fusion)
            video_prob = out["video_prob"] = video_prob if top is None else top
        if head:  # candidates of all windows ranked together, in the video's frames
            out["boundary_candidates"] = np.concatenate(cands)  # (start, end, score) before ranking
            props = video_proposals(out["boundary_candidates"], t, out["frame_probs"], self.model.cfg)
            out["boundary_proposals"] = props
            out["boundary_segments"] = display_segments(props, self.boundary_threshold)
        if self.calibration is not None:
            out["video_prob_raw"], out["video_prob"] = video_prob, self.calibration.apply(video_prob)
        return out

    def predict_features(self, feats: VideoFeatures) -> dict:
        return self.predict(feats.visual, feats.audio, feats.audio_rate, feats.fps, name=feats.video_id)
