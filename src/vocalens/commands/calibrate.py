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


def run(args) -> int:
    from vocalens.errors import UserError
    from vocalens.localizer.calibrate import calibrate_checkpoint

    if not 0.0 <= args.max_fpr < 1.0:
        raise UserError(f"--max_fpr: a fraction in [0, 1), got {args.max_fpr}")
    cal = calibrate_checkpoint(
        args.checkpoint,
        args.features_root,
        args.output,
        split=args.split,
        max_fpr=args.max_fpr,
        uncertain_margin=args.uncertain_margin,
    )
    d = cal.dev
    print(
        f"calibrated on {d['videos']} {args.split} videos ({d['real']} real, {d['fake']} fake): "
        f"p = sigmoid({cal.a:.3f} * logit(raw) + {cal.b:.3f}), FAKE at p >= {cal.video_threshold:.3f} "
        f"(dev: {100 * (d['fpr'] or 0):.0f}% of real called FAKE, {100 * (d['tpr'] or 0):.0f}% of fakes found)"
    )
    print(f"wrote {args.output}")
    return 0
