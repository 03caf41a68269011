"""Calibrate a localizer checkpoint on held-out speakers (the dev split) and write the shippable
checkpoint: Platt-scaled video probability, a verdict threshold that calls at most --max_fpr of
the dev real videos FAKE, no training state. Never calibrate on the speakers you report on.

  vocalens calibrate --checkpoint runs/loc/best.pth --features_root feats --split dev --output model.pth
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="localizer checkpoint (best.pth)")
    p.add_argument("--features_root", required=True, help="feature store holding the calibration split")
    p.add_argument("--split", default="dev", help="split to calibrate on (default: dev)")
    p.add_argument("--output", required=True, help="calibrated checkpoint to write")
    p.add_argument(
        "--max_fpr",
        type=float,
        default=0.05,
        help="largest share of the split's real videos the verdict may call FAKE (default 0.05)",
    )
    p.add_argument(
        "--uncertain_margin",
        type=float,
        default=0.1,
        help="calibrated probabilities this far below the threshold are UNCERTAIN (default 0.1)",
    )
    p.add_argument(
        "--fuse_sync",
        action="store_true",
        help="fuse the localizer's frame scores with the sync encoder pair's raw cosine (3 weights fitted on the "
        "split); re-picks the frame and segment thresholds there",
    )
    p.add_argument(
        "--video_topk",
        type=int,
        default=0,
        help="with --fuse_sync: score a video by the mean of its K highest fused frame logits (the dev choice was "
        "25) instead of the video head (default 0: the video head)",
    )


def run(args) -> int:
    from vocalens.errors import UserError
    from vocalens.localizer.calibrate import calibrate_checkpoint

    if not 0.0 <= args.max_fpr < 1.0:
        raise UserError(f"--max_fpr: a fraction in [0, 1), got {args.max_fpr}")
    if args.video_topk < 0 or (args.video_topk and not args.fuse_sync):
        raise UserError(f"--video_topk {args.video_topk}: a number of frames >= 0, used with --fuse_sync")
    cal = calibrate_checkpoint(
        args.checkpoint,
        args.features_root,
        args.output,
        split=args.split,
        max_fpr=args.max_fpr,
        uncertain_margin=args.uncertain_margin,
        fuse_sync=args.fuse_sync,
        video_topk=args.video_topk,
    )
    d = cal.dev
    print(
        f"calibrated on {d['videos']} {args.split} videos ({d['real']} real, {d['fake']} fake): "
        f"p = sigmoid({cal.a:.3f} * logit(raw) + {cal.b:.3f}), FAKE at p >= {cal.video_threshold:.3f} "
        f"(dev: {100 * (d['fpr'] or 0):.0f}% of real called FAKE, {100 * (d['tpr'] or 0):.0f}% of fakes found)"
    )
    if cal.fusion:
        f = cal.fusion
        print(
            f"sync fusion: logit = {f['w_logit']:.3f} * box{f['logit_smooth']}(model logit) + {f['w_cos']:.3f} * "
            f"-box{f['cos_smooth']}(raw cosine) + {f['bias']:.3f}; video score: "
            + (f"top-{f['video_topk']} mean" if f["video_topk"] else "the video head")
            + f" (dev frame AUC {f['dev_frame_auc']['model']:.3f} -> {f['dev_frame_auc']['fused']:.3f})"
        )
    print(f"wrote {args.output}")
    return 0
