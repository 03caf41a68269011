"""The two AVFF training stages as tasks of the shared loop (:mod:`vocalens.train.loop`).

`PretrainTask`: self-supervised on real clips (complementary masks, A2V/V2A + decoders, InfoNCE);
best = lowest validation masked-reconstruction loss ("rec"), also reports audio<->visual retrieval top-1.
`ClassifyTask`: real/fake on clips (clip label = any fake frame in its span), initialised from a
stage-1 checkpoint, encoders frozen or fine-tuned; best = video AUC (max over a video's clips).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from vocalens.avff.config import AVFFConfig
from vocalens.avff.data import ClipDataset, VideoItem, prepare_all
from vocalens.avff.losses import classification_loss, complementary_masks
from vocalens.avff.model import backbone_configs, build_model, model_summary, pool_slices
from vocalens.avff.predict import read_checkpoint
from vocalens.errors import UserError
from vocalens.eval.metrics import binary_metrics
from vocalens.train.loop import Task, decay_groups


def _say(msg: str) -> None:
    if os.environ.get("RANK", "0") == "0":
        print(msg, flush=True)


@dataclass
class DataSpec:
    train: list[VideoItem]
    val: list[VideoItem]
    cache_dir: str | None
    faces: str = "auto"
    clips_per_video: int = 4  # random clips per video per epoch (training)
    val_clips_per_video: int = 4
    hard_negatives: bool = False  # stage 1: time-shifted audio of the same clip as contrastive negatives
    shift_fake_prob: float = 0.0  # stage 2: real training clips turned fake by shifting their audio
    min_shift: float = 0.4  # seconds
    label_fraction: float = 0.0  # stage 2: soft clip targets min(1, fake fraction / this); 0 = any fake frame


class _AVFFTask(Task):
    unit = "clips"

    def __init__(self, cfg: AVFFConfig, data: DataSpec):
        self.cfg, self.data = cfg, data
        self._backbones = None

    def _decoded(self, items: list[VideoItem], desc: str) -> list[VideoItem]:
        """Decode + cache every video once, each process a share, then keep the readable ones."""
        import torch.distributed as tdist

        rank, world = (tdist.get_rank(), tdist.get_world_size()) if tdist.is_initialized() else (0, 1)
        prepare_all(items[rank::world], self.cfg, self.data.cache_dir, self.data.faces, progress=rank == 0, desc=desc)
        if world > 1:
            tdist.barrier()
        ok, _ = prepare_all(items, self.cfg, self.data.cache_dir, self.data.faces, progress=False)
        if not ok:
            raise UserError(f"{desc}: none of the {len(items)} videos could be decoded")
        return ok

    def train_dataset(self):
        self.data.train = self._decoded(self.data.train, "decode train")
        d = self.data
        return ClipDataset(
            d.train,
            self.cfg,
            d.cache_dir,
            d.faces,
            d.clips_per_video,
            random=True,
            flip=True,
            hard_negatives=d.hard_negatives,
            shift_fake_prob=d.shift_fake_prob,
            min_shift=d.min_shift,
            label_fraction=d.label_fraction,
        )

    def val_dataset(self):
        if not self.data.val:
            return None
        self.data.val = self._decoded(self.data.val, "decode val")
        return ClipDataset(
            self.data.val,
            self.cfg,
            self.data.cache_dir,
            self.data.faces,
            self.data.val_clips_per_video,
            random=False,
            hard_negatives=isinstance(self, PretrainTask),
            min_shift=self.data.min_shift,
        )

    def collate(self, items):
        return torch.utils.data.default_collate(items)

    def count(self, batch) -> int:
        return int(batch["frames"].shape[0])

    run_config: dict | None = None  # the whole run's config (vocalens.avff.config.AVFFRunConfig), set by the CLI

    def _extra(self, stage: str, metrics: dict) -> dict:
        extra = {"config": self.run_config} if self.run_config is not None else {}
        return {
            **extra,
            "model": "avff",
            "stage": stage,
            "avff_config": self.cfg.to_dict(),
            "backbones": self._backbones,
            "threshold": 0.5,
            "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        }


@torch.no_grad()
def sync_hits(model, frames, wave, wave_shift, per_slice: bool) -> torch.Tensor:
    """Per clip, the fraction of comparisons where the face embedding is closer (cosine) to its aligned
    audio than to the same audio shifted in time: per slice (``per_slice``) or on clip means. Chance 0.5."""
    v_sl, a_sl = model.slice_tokens(frames, wave)
    v, a = model.contextual(v_sl, a_sl)
    s = model.audio_context(pool_slices(model.audio(wave_shift), model.cfg.num_slices))
    if not per_slice:
        v, a, s = v.mean(1, keepdim=True), a.mean(1, keepdim=True), s.mean(1, keepdim=True)
    hit = model.sync_scores(v, a) > model.sync_scores(v, s)
    return hit.float().mean(1).cpu()


class PretrainTask(_AVFFTask):
    best_metric = "rec"
    best_mode = "min"

    def __init__(self, cfg: AVFFConfig, data: DataSpec, init: str | None = None):
        super().__init__(cfg, data)
        self.init = init

    def build_model(self):
        if self.init:  # continue from an earlier stage-1 checkpoint's weights
            ckpt = read_checkpoint(self.init)
            model = build_model(self.cfg, load_weights=False, backbones=ckpt["task"].get("backbones"))
            model.load_state_dict(ckpt["model"])
        else:
            model = build_model(self.cfg)
        self._backbones = backbone_configs(model)
        model.set_stage("pretrain")
        _say(f"avff pretrain model: {model_summary(model)}")
        return model

    def step(self, model, batch):
        b = batch["frames"].shape[0]
        v_visible, _ = complementary_masks(b, self.cfg.num_slices, device=batch["frames"].device)
        out = model(batch["frames"], batch["wave"], v_visible, batch.get("wave_shift"))
        logs = {k: out[k] for k in ("loss", "rec_visual", "rec_audio", "contrastive")}
        return out["loss"], logs

    def predict(self, model, batch):
        b = batch["frames"].shape[0]
        g = torch.Generator().manual_seed(int(batch["index"].sum()))  # same masks every epoch
        v_visible, _ = complementary_masks(b, self.cfg.num_slices, generator=g, device=batch["frames"].device)
        out = model(batch["frames"], batch["wave"], v_visible)
        rec = float(out["rec_visual"] + out["rec_audio"])
        sync = None
        if "wave_shift" in batch:  # is the face closer to its aligned audio than to the same audio shifted?
            sync = sync_hits(
                model, batch["frames"], batch["wave"], batch["wave_shift"], per_slice=self.cfg.contrastive == "slice"
            )
        return [
            {
                "rec": rec,
                "rec_visual": float(out["rec_visual"]),
                "rec_audio": float(out["rec_audio"]),
                "v": out["visual_embedding"][i].float().cpu().numpy(),
                "a": out["audio_embedding"][i].float().cpu().numpy(),
                **({"sync": float(sync[i])} if sync is not None else {}),
            }
            for i in range(b)
        ]

    def validate(self, outputs):
        if not outputs:
            return {}
        v = np.stack([o["v"] for o in outputs])
        a = np.stack([o["a"] for o in outputs])
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-8
        a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-8
        sim = v @ a.T
        top1 = float(np.mean(sim.argmax(1) == np.arange(len(v))))
        sync = {"sync_acc": float(np.mean([o["sync"] for o in outputs]))} if "sync" in outputs[0] else {}
        return {
            **sync,
            "rec": float(np.mean([o["rec"] for o in outputs])),
            "rec_visual": float(np.mean([o["rec_visual"] for o in outputs])),
            "rec_audio": float(np.mean([o["rec_audio"] for o in outputs])),
            "av_retrieval_top1": top1,
            "av_chance": 1.0 / len(v),
        }

    def checkpoint_extra(self, metrics):
        return self._extra("pretrain", metrics)


class ClassifyTask(_AVFFTask):
    best_metric = "video_auc"
    best_mode = "max"

    def __init__(
        self,
        cfg: AVFFConfig,
        data: DataSpec,
        pretrained: str | None = None,
        freeze_encoders: bool = False,
        pos_weight: float | None = None,
        encoder_lr_scale: float = 1.0,
    ):
        super().__init__(cfg, data)
        self.pretrained, self.freeze_encoders, self.pos_weight = pretrained, freeze_encoders, pos_weight
        self.encoder_lr_scale = encoder_lr_scale

    def build_model(self):
        if self.pretrained:
            ckpt = read_checkpoint(self.pretrained)
            model = build_model(self.cfg, load_weights=False, backbones=ckpt["task"].get("backbones"))
            state = ckpt["model"]
            if ckpt["task"].get("stage") == "pretrain":  # stage 1 never trains the heads: start them fresh
                heads = tuple(f"{n}." for n, m in model.named_children() if any(m is h for h in model.head_modules()))
                state = {k: v for k, v in state.items() if not k.startswith(heads)}
            missing, unexpected = model.load_state_dict(state, strict=False)
            if unexpected:
                raise UserError(f"{self.pretrained}: checkpoint does not match this AVFF config ({unexpected[:3]}...)")
        else:
            model = build_model(self.cfg)
        self._backbones = backbone_configs(model)
        model.set_stage("classify", freeze_encoders=self.freeze_encoders)
        _say(f"avff classify model: {model_summary(model)}{' (encoders frozen)' if self.freeze_encoders else ''}")
        return model

    def param_groups(self, model, weight_decay):
        """Heads at the run's lr, fine-tuned encoders at ``encoder_lr_scale`` times it: a small scale
        keeps what stage 1 learned (the lip-sync alignment) while the heads learn to read it."""
        heads = (p for m in model.head_modules() for p in m.parameters())
        encoders = (p for m in model.encoder_modules() for p in m.parameters())
        return decay_groups(heads, weight_decay) + decay_groups(encoders, weight_decay, lr_scale=self.encoder_lr_scale)

    def step(self, model, batch):
        logits = model(batch["frames"], batch["wave"])
        loss = classification_loss(logits, batch["label"], self.pos_weight)
        acc = ((logits.detach() > 0) == (batch["label"] >= 0.5)).float().mean()
        return loss, {"loss": loss.detach(), "acc": acc}

    def predict(self, model, batch):
        probs = torch.sigmoid(model(batch["frames"], batch["wave"]).float()).cpu().numpy()
        return [
            {"video": int(batch["index"][i]), "prob": float(probs[i]), "label": float(batch["label"][i])}
            for i in range(len(probs))
        ]

    def validate(self, outputs):
        if not outputs:
            return {}
        clip = binary_metrics([o["label"] for o in outputs], [o["prob"] for o in outputs])
        vids: dict[int, list[float]] = {}
        for o in outputs:
            vids.setdefault(o["video"], []).append(o["prob"])
        ids = sorted(vids)
        vlabels = [self.data.val[i].label for i in ids]
        video = binary_metrics(vlabels, [max(vids[i]) for i in ids])
        auc = video["auc"] if np.isfinite(video["auc"]) else 0.5  # one class only: no ranking to judge
        return {
            "video_auc": auc,
            "video_ap": video["ap"],
            "video_acc": video["accuracy"],
            "clip_auc": clip["auc"],
            "clip_acc": clip["accuracy"],
        }

    def checkpoint_extra(self, metrics):
        return self._extra("classify", metrics)
