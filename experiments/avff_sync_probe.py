"""How much lip sync does an AVFF checkpoint hold? Each video is scored by the per-slice sync score
alone (no classifier): clip score = minus the lowest `cos(v, a)` over its slices (the contextual tokens
stage 1's slice InfoNCE trained), video score = max over the clips tiling it, as `avff evaluate` does.

    OMP_NUM_THREADS=1 PYTHONPATH=src HF_HUB_OFFLINE=1 python experiments/avff_sync_probe.py \
        --data D --split dev --cache_dir W/cache W/ssl/best.pth W/cls_pretrained/best.pth ...

Why: a stage-1 checkpoint's sync score finds the audio fakes (new speech under the original mouth)
better than stage 2 did with its encoders fine-tuned at the full learning rate; scoring stage-2
checkpoints the same way shows how much of that alignment fine-tuning kept (`--encoder_lr_scale`).
Writes experiments/results/avff_sync_probe.md (or --output).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from vocalens.avff.data import prepare, prepare_all, read_items, video_clips
from vocalens.avff.predict import load_model, metrics_by_manipulation
from vocalens.avff.preprocess import normalize_faces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the shared publish()
from _common import publish  # noqa: E402


@torch.no_grad()
def sync_video_score(model, p, batch_size: int = 32) -> float:
    """Minus the lowest per-slice sync score over every clip of the video (high = out of sync somewhere)."""
    _, frames, waves = video_clips(p, model.cfg)
    lowest = []
    for i in range(0, len(frames), batch_size):
        x = normalize_faces(frames[i : i + batch_size], model.cfg.image_size)
        w = torch.from_numpy(np.ascontiguousarray(waves[i : i + batch_size]))
        v, a = model.contextual(*model.slice_tokens(x, w))
        lowest.append(model.sync_scores(v, a).amin(1))
    return float(-torch.cat(lowest).min())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="AVFF checkpoints (stage 1 or stage 2)")
    ap.add_argument("--data", required=True, help="labelled LAV-DF-layout set")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=500, help="first N videos of the split")
    ap.add_argument("--cache_dir", default=None)
    ap.add_argument("--faces", default="center")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "avff_sync_probe.md"))
    args = ap.parse_args()
    torch.manual_seed(0)
    items = [it for it in read_items(args.data, [args.split])[: args.limit] if it.label >= 0]
    lines = [
        "Command: `PYTHONPATH=src HF_HUB_OFFLINE=1 python experiments/avff_sync_probe.py "
        + " ".join(sys.argv[1:])
        + "`",
        "",
        f"Video AUC of the sync score alone (no classifier) on split `{args.split}` of {args.data}: "
        "video score = -min over its clips and slices of cos(v, a).",
        "",
        "| checkpoint | stage | videos | all | audio | visual | both |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in args.checkpoints:
        model, cfg, task = load_model(path)
        ok, _ = prepare_all(items, cfg, args.cache_dir, args.faces, desc=f"decode {Path(path).parent.name}")
        scores = [
            sync_video_score(model, prepare(it.path, cfg.image_size, args.cache_dir, args.faces, cfg.fps, cfg.crop))
            for it in ok
        ]
        by = metrics_by_manipulation([it.label for it in ok], scores, [it.manipulation for it in ok])
        auc = {k: f"{by[k]['auc']:.3f}" if k in by else "-" for k in ("all", "audio", "visual", "both")}
        lines.append(
            f"| `{path}` | {task.get('stage', '?')} | {len(ok)} | {auc['all']} | {auc['audio']} "
            f"| {auc['visual']} | {auc['both']} |"
        )
        print(lines[-1], flush=True)
    publish(lines, args.output)


if __name__ == "__main__":
    main()
