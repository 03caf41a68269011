"""Train the VOCA-Lens localizer on extracted features (the seed's train_lavdf_localization.py).

One process:    vocalens train --features_root feats --splits train dev --output_dir ckpt
Many (DDP):     torchrun --nproc_per_node=4 -m vocalens train --features_root feats ...
Resume:         vocalens train --features_root feats --resume ckpt/checkpoint_epoch50.pth --epochs 150

Each epoch validates on the second split; best.pth is the epoch with the highest frame AP there
(--best_metric to change), last.pth the latest, checkpoint_epoch{N}.pth every --save_every epochs.
"""

from __future__ import annotations

import argparse
import json

from vocalens.data.dataset import MODALITIES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features_root", required=True, help="feature store root (with {split}/{video_id}/ folders)")
    p.add_argument("--splits", nargs="+", default=["train", "dev"], metavar="SPLIT",
                   help="training split, then the validation split (default: train dev)")
    p.add_argument("--batch_size", type=int, default=8, help="windows per process and step")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--warmup_epochs", type=float, default=5.0, help="linear warmup, then cosine decay to 0")
    p.add_argument("--grad_clip", type=float, default=1.0, help="max gradient norm (0: off)")
    p.add_argument("--output_dir", default="./checkpoints/localization")
    p.add_argument("--max_frames", type=int, default=512, help="longer videos are split into windows")
    p.add_argument("--d_model", type=int, default=512)
    p.add_argument("--num_layers", type=int, default=4)
    p.add_argument("--nhead", type=int, default=8)
    p.add_argument("--dropout", type=float, default=0.1, help="residual, feed-forward, input and head dropout")
    p.add_argument("--attn_dropout", type=float, default=0.0,
                   help="dropout on attention weights (default 0: lets torch use fused attention, 1.7x faster on CPU)")
    p.add_argument("--pos_weight", type=float, default=-1.0, help="BCE weight of fake frames (-1: real/fake ratio)")
    p.add_argument("--use_focal", action="store_true", help="focal loss instead of BCE for frames")
    p.add_argument("--focal_alpha", type=float, default=0.25)
    p.add_argument("--focal_gamma", type=float, default=2.0)
    p.add_argument("--video_loss_weight", type=float, default=0.3)
    p.add_argument("--smooth_loss_weight", type=float, default=0.1)
    p.add_argument("--similarity_loss_weight", type=float, default=0.2)
    p.add_argument("--no_cross_attn", action="store_true", help="fuse by mean instead of cross-modal attention")
    p.add_argument("--no_video_head", action="store_true", help="video score = max frame logit")
    p.add_argument("--modality", choices=MODALITIES, default="both", help="ablation: zero out the other stream")
    p.add_argument("--conv_kernel", type=int, default=7,
                   help="frames each projection's temporal convolution sees (odd; 1 = per-frame Linear as in the seed)")
    p.add_argument("--feature_norm", action="store_true",
                   help="standardise each input feature over each video window (removes identity, lighting, "
                        "microphone: used for real footage)")
    p.add_argument("--sync_lags", type=int, default=0,
                   help="feed the cosine of the raw visual/audio features at offsets -N..N frames (needs a sync "
                        "encoder pair such as --visual_encoder sync --audio_encoder sync; 0 = off)")
    p.add_argument("--no_energy", action="store_true",
                   help="no per-frame (change) energy channels in the projections (the seed's inputs only)")
    p.add_argument("--sync_aug", type=float, default=0.5,
                   help="chance a training window gets stretches of one stream taken from elsewhere in the same "
                        "video, labelled fake (out-of-sync negatives; 0 = off)")
    p.add_argument("--resume", default=None, help="checkpoint (or run folder -> last.pth) to continue from exactly")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--num_workers", type=int, default=2, help="data loading processes per training process")
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if available, else cpu), cpu, cuda")
    p.add_argument("--best_metric", default="frame_ap",
                   help="validation metric that picks best.pth (frame_ap, frame_auc, video_auc, ap@0.5, ...)")
    p.add_argument("--save_every", type=int, default=1, help="write checkpoint_epoch{N}.pth every N epochs (0: never)")
    p.add_argument("--stop_after_epoch", type=int, default=None,
                   help="end this run cleanly after that epoch (for time-sliced jobs; --resume continues)")
    p.add_argument("--no_amp", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from vocalens.errors import UserError
    from vocalens.train.localizer_task import LocalizerTask, LocalizerTaskConfig
    from vocalens.train.loop import FitConfig, fit

    if len(args.splits) not in (1, 2):
        raise UserError(f"--splits: give a training split and optionally a validation split, got {args.splits}")
    if args.d_model % args.nhead:
        raise UserError(f"--d_model {args.d_model} must be divisible by --nhead {args.nhead}")
    for flag in ("dropout", "attn_dropout"):
        if not 0 <= getattr(args, flag) < 1:
            raise UserError(f"--{flag}: a probability in [0, 1), got {getattr(args, flag)}")
    if args.conv_kernel < 1 or args.conv_kernel % 2 == 0:
        raise UserError(f"--conv_kernel: an odd number >= 1, got {args.conv_kernel}")
    if not 0 <= args.sync_aug <= 1:
        raise UserError(f"--sync_aug: a probability in [0, 1], got {args.sync_aug}")
    task = LocalizerTask(LocalizerTaskConfig(
        features_root=args.features_root, train_split=args.splits[0],
        val_split=args.splits[1] if len(args.splits) > 1 else None, max_frames=args.max_frames,
        d_model=args.d_model, num_layers=args.num_layers, nhead=args.nhead, dropout=args.dropout, attn_dropout=args.attn_dropout,
        pos_weight=args.pos_weight, use_focal=args.use_focal, focal_alpha=args.focal_alpha,
        focal_gamma=args.focal_gamma, video_loss_weight=args.video_loss_weight,
        smooth_loss_weight=args.smooth_loss_weight, similarity_loss_weight=args.similarity_loss_weight,
        no_cross_attn=args.no_cross_attn, no_video_head=args.no_video_head, modality=args.modality,
        conv_kernel=args.conv_kernel, sync_aug=args.sync_aug, energy=not args.no_energy, feature_norm=args.feature_norm,
        sync_lags=args.sync_lags))
    cfg = FitConfig(output_dir=args.output_dir, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, grad_clip=args.grad_clip,
                    seed=args.seed, num_workers=args.num_workers, device=args.device, amp=not args.no_amp,
                    resume=args.resume, best_metric=args.best_metric, best_mode="max",
                    save_every=args.save_every, stop_after_epoch=args.stop_after_epoch,
                    progress=not args.no_progress)
    if _env_rank() == 0:
        n = len(task.train_ds)
        print(f"train: {len(task.train_ds.paths)} videos ({n} windows), "
              f"val: {len(task.val_ds.paths) if task.val_ds else 0} videos; features "
              f"{task.model_cfg.visual_dim}/{task.model_cfg.audio_dim}-d; pos_weight {task.loss_cfg.pos_weight:.3f}")
    result = fit(task, cfg)
    if _env_rank() == 0:
        print(json.dumps({"best_" + args.best_metric: result.best_score, "best_epoch": result.best_epoch,
                          "output_dir": args.output_dir}))
    return 0


def _env_rank() -> int:
    import os
    return int(os.environ.get("RANK", 0))
