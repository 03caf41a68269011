"""How far off is the audio of the sync encoder's *training* clips? Measured by a sync model.

Each train clip of a `vocalens sync-train` cache is scored at audio shifts of -12..+12 mel hops
(10 ms each) by the mean cosine of the model's visual and shifted audio embeddings (the same
curves `sync-train --realign` uses, vocalens.sync.realign); the table gives, per source, the
argmax of the pooled curve, the median of the per-clip argmaxes, and the shift `--realign` would
apply (relative to the pooled curve of every source but the largest). Long clips are listed one by
one. Only `train` clips are read (never dev or test).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sync_train_offsets.py \
        --cache runs/sync/cache.npz --weights src/vocalens/assets/sync_encoder.safetensors
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _common import publish
from vocalens.sync.cache import load_cache
from vocalens.sync.realign import HOP_MS, clip_curves, source_of, source_offsets
from vocalens.sync.weights import load_weights


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", required=True, help="a sync-train cache.npz")
    p.add_argument("--weights", help="sync encoder weights (default: the file shipped in the package)")
    p.add_argument("--max_hops", type=int, default=12, help="shifts searched, in 10 ms hops (default 12)")
    p.add_argument("--long", type=int, default=100, help="list clips with at least this many frames (default 100)")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "sync_train_offsets.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cache = load_cache(args.cache)
    model, info, digest = load_weights(args.weights)
    train = cache.indices("train")
    curves = clip_curves(model, cache, train, args.max_hops)
    shifts, counts, ref_peak = source_offsets(curves, cache)
    m = args.max_hops
    peaks = {i: int(np.argmax(c)) - m for i, c in curves.items()}
    lines = [
        "# Audio offset of the sync encoder's training clips, measured by a sync model",
        "",
        f"Weights {args.weights or 'shipped'} (digest {digest}); cache {args.cache}; train clips only "
        f"({len(curves)} of {len(train)} long enough for +-{m} hops). Offsets in 10 ms mel hops "
        f"(4 per video frame); positive: the model matches the lips with audio that comes later.",
        "",
        "    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sync_train_offsets.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "",
        "| source | clips | pooled argmax (hops) | median clip argmax (hops) | clips within +-2 hops of the median |"
        " --realign shift (hops) |",
        "|---|---|---|---|---|---|",
    ]
    for g in sorted(counts, key=lambda g: -counts[g]):
        mine = [peaks[i] for i in curves if source_of(cache.names[i]) == g]
        pooled = np.mean([curves[i] for i in curves if source_of(cache.names[i]) == g], axis=0)
        med = int(np.median(mine))
        near = float(np.mean(np.abs(np.array(mine) - med) <= 2))
        lines.append(
            f"| {g} | {counts[g]} | {int(np.argmax(pooled)) - m:+d} | {med:+d} | {near:.2f} | {shifts[g]:+d} |"
        )
    lines += [
        "",
        f"Reference (pooled curve of every source but the largest): argmax {ref_peak:+d} hops "
        f"({ref_peak * HOP_MS:+d} ms).",
        "",
        f"Clips of at least {args.long} frames: argmax in hops, and the curve's margin "
        "(peak minus the mean over shifts):",
        "",
        "| clip | frames | argmax (hops) | peak - mean |",
        "|---|---|---|---|",
    ]
    for i in curves:
        n = int(cache.offsets[i + 1] - cache.offsets[i])
        if n >= args.long:
            c = curves[i]
            lines.append(f"| {cache.names[i]} | {n} | {peaks[i]:+d} | {c.max() - c.mean():.3f} |")
    lines += ["", f"({time.perf_counter() - t0:.0f} s on 1 CPU thread.)"]
    publish(lines, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
