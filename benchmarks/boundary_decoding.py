"""The boundary head's decoding settings compared on a VALIDATION split (the defaults' source).

    PYTHONPATH=src python benchmarks/boundary_decoding.py --checkpoint runs/ablation/full/best.pth \\
        --features_root runs/ablation/features --split dev

Runs the checkpoint over the split (Predictor: windows, candidates of every pyramid level) once per
--refine / --edge_weight pair (the edge refinement happens per window, inside the Predictor; models
without start/end logits ignore both), then ranks the same candidates with every combination of
--fusion, --sigma, --voting and --snap (vocalens.localizer.boundary.rank_segments) and scores each with
the official LAV-DF AP/AR and the AV-Deepfake1M++ score. Writes benchmarks/results/boundary_decoding.md.
Never run it on a test split to choose settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

import torch

from vocalens.data.store import list_videos, read_features
from vocalens.eval.metrics import av1m_score, temporal_ap_ar
from vocalens.localizer.boundary import label_segments, proposals_to_seconds, rank_segments
from vocalens.localizer.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import publish  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True, help="a localizer checkpoint with the boundary head")
    ap.add_argument("--features_root", required=True)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--fusion", type=float, nargs="+", default=[0.0, 0.2])
    ap.add_argument("--sigma", type=float, nargs="+", default=[1.2, 2.0])
    ap.add_argument("--voting", type=float, nargs="+", default=[1.0])
    ap.add_argument("--snap", nargs="+", choices=("yes", "no"), default=["yes"])
    ap.add_argument("--refine", type=int, nargs="+", default=[0, 1, 2, 3], help="edge refinement radii, frames")
    ap.add_argument("--edge_weight", type=float, nargs="+", default=[0.0, 0.3], help="start/end probability weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "boundary_decoding.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pred = Predictor.from_checkpoint(args.checkpoint, "cpu")
    if not pred.has_boundary_head:
        raise SystemExit(f"{args.checkpoint}: no boundary head")
    fps = float(pred.config.get("fps", 25.0))
    paths = [p for p in list_videos(args.features_root, args.split)]
    feats = [f for f in (read_features(p) for p in paths) if f.frame_labels is not None]
    gt = {f.video_id: (label_segments(f.frame_labels) / fps).tolist() for f in feats}
    base = pred.model.cfg
    if not base.boundary_edges:
        args.refine, args.edge_weight = [base.boundary_refine], [base.boundary_edge_weight]  # no effect: one run
    cols = ["AP@0.5", "AP@0.75", "AP@0.9", "AP@0.95", "AR@100", "AR@10", "AV1M++ score"]
    lines = [
        "# Boundary head: decoding settings on a validation split",
        "",
        f"`PYTHONPATH=src python benchmarks/boundary_decoding.py --checkpoint {args.checkpoint} --features_root "
        f"{args.features_root} --split {args.split} --refine {' '.join(map(str, args.refine))} --edge_weight "
        f"{' '.join(f'{x:g}' for x in args.edge_weight)} --fusion {' '.join(f'{x:g}' for x in args.fusion)} "
        f"--sigma {' '.join(f'{x:g}' for x in args.sigma)} --voting {' '.join(f'{x:g}' for x in args.voting)} "
        f"--snap {' '.join(args.snap)}`: {len(feats)} videos, the same model decoded each way "
        "(refine: frames an edge may move to the likeliest start/end frame, 0 = off; edge w: weight of the "
        "start/end probabilities in the score; fusion w: score^(1-w) x mean frame probability^w; sigma: "
        "Gaussian soft-NMS; voting: IoU of the candidates that vote on the edges, 1 = off; snap: edges rounded "
        "to whole frames).",
        "",
        "| refine | edge w | fusion | sigma | voting | snap | " + " | ".join(cols) + " |",
        "|" + "---|" * (6 + len(cols)),
    ]
    best = None
    for refine, edge_w in itertools.product(args.refine, args.edge_weight):
        pred.model.cfg = dataclasses.replace(base, boundary_refine=refine, boundary_edge_weight=edge_w)
        videos = {}
        for f in feats:
            out = pred.predict_features(f)
            videos[f.video_id] = (out["boundary_candidates"], f.num_frames, out["frame_probs"])
        for fusion, sigma, voting, snap in itertools.product(args.fusion, args.sigma, args.voting, args.snap):
            props = {
                k: proposals_to_seconds(rank_segments(c, t, p, fusion, sigma, voting, snap=snap == "yes"), fps)
                for k, (c, t, p) in videos.items()
            }
            r = temporal_ap_ar(props, gt, (0.5, 0.75, 0.9, 0.95), (100, 50, 30, 20, 10, 5))
            row = {f"AP@{t:g}": v for t, v in r["ap"].items()}
            row.update({f"AR@{n}": v for n, v in r["ar"].items()}, **{"AV1M++ score": av1m_score(r)})
            lines.append(
                f"| {refine} | {edge_w:g} | {fusion:g} | {sigma:g} | {voting:g} | {snap} | "
                + " | ".join(f"{row[c]:.3f}" for c in cols)
                + " |"
            )
            if best is None or row["AV1M++ score"] > best[0]:
                best = (row["AV1M++ score"], refine, edge_w, fusion, sigma, voting, snap)
    lines += [
        "",
        f"Best AV1M++ score {best[0]:.3f}: refine {best[1]}, edge w {best[2]:g}, fusion {best[3]:g}, sigma "
        f"{best[4]:g}, voting {best[5]:g}, snap {best[6]}.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
