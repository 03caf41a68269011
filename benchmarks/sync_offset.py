"""Does the `sync` encoder pair measure lip sync on real footage? Find the true audio offset.

For every 1 s window (25 frames, a new one every --stride frames) of every dev and test clip of the
real corpus, each shift d in -15..+15 frames is scored by the mean cosine of the visual embedding
at t and the audio embedding at t + d; the window counts as found when the argmax is d = 0 (the
recordings are in sync). Only windows with all 31 shifts inside the clip count. Baseline without
learning: Pearson correlation of lower-face motion energy (mean |frame difference| of the grey lower
face) and audio loudness (log RMS per frame), same windows, same argmax.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sync_offset.py \
        --corpus ../shared/data/real-corpus --weights runs/sync/sync_encoder.safetensors

Clips go through the `vocalens extract` path (decode at 25 fps, face detection, `crop_faces`) and
the registered encoders. Writes benchmarks/results/sync_offset.md (or --output).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _common import publish
from vocalens.data.metadata import VideoRecord
from vocalens.encoders import build_audio_encoder, build_visual_encoder
from vocalens.localizer.extract import decode_video
from vocalens.media.crops import FACE_SIZE, iter_face_chunks
from vocalens.media.video import fit_length, load_audio
from vocalens.sync.features import lower_face_grey
from vocalens.sync.offset import corr_offset_scores, cosine_offset_scores, estimated_offsets, window_starts

LENGTH, MAX_OFFSET = 25, 15


def clips_of(corpus: Path, splits: list[str]) -> list[tuple[str, str, Path]]:
    with open(corpus / "clips.tsv", newline="") as f:
        return [
            (r["split"], r["name"], corpus / "clips" / r["name"])
            for r in csv.DictReader(f, delimiter="\t")
            if r["split"] in splits
        ]


def baseline_signals(faces: np.ndarray, wave: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower-face motion energy [T] and log RMS loudness [T] (640 samples per 25 Hz frame)."""
    g = lower_face_grey(faces).astype(np.float32)
    motion = np.concatenate([[0.0], np.abs(np.diff(g, axis=0)).mean(axis=(1, 2))])
    w = np.zeros(t * 640, np.float32)
    w[: min(len(wave), len(w))] = wave[: len(w)]
    loud = np.log(np.sqrt((w.reshape(t, 640) ** 2).mean(1)) + 1e-5)
    return motion, loud


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="../shared/data/real-corpus")
    p.add_argument(
        "--weights",
        nargs="+",
        default=[None],
        help="sync encoder weights files to compare (default: the one shipped in the package)",
    )
    p.add_argument("--labels", nargs="*", help="a name per weights file for the table")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="also score the mean of all the pairs' offset scores (e.g. several seeds of one recipe)",
    )
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    p.add_argument("--stride", type=int, default=5, help="frames between window starts (default 5)")
    p.add_argument("--face", default="auto")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "sync_offset.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    labels = args.labels or [Path(w).name if w else "shipped" for w in args.weights]
    encoders = [(build_visual_encoder("sync", weights=w), build_audio_encoder("sync", weights=w)) for w in args.weights]
    pairs = [f"sync ({lab})" for lab in labels]
    ensemble = "mean of the pairs' offset scores" if args.ensemble and len(encoders) > 1 else None
    methods = ["baseline: motion x loudness", *pairs, *([ensemble] if ensemble else [])]
    hits = {(m, s): [0, 0, 0] for m in methods for s in args.splits}  # top-1, within +-1, windows
    per_clip = []
    t0 = time.perf_counter()
    for split, name, path in clips_of(Path(args.corpus), args.splits):
        item = decode_video(VideoRecord(video_id=name, split=split, path=path, file=name), 25.0, args.face)
        if item.error:
            print(f"skip {name}: {item.error}", file=sys.stderr)
            continue
        faces = np.concatenate(list(iter_face_chunks(item.path, item.plan, FACE_SIZE, item.face_margin, 25.0)))
        t = len(faces)
        starts = window_starts(t, LENGTH, MAX_OFFSET, args.stride)
        if not starts:
            per_clip.append((split, name, t, 0, {}))
            continue
        audio = fit_length(load_audio(item.path), int(round(t / 25.0 * 16000)))  # short clips: whole
        motion, loud = baseline_signals(faces, audio, t)
        scores = {methods[0]: corr_offset_scores(motion, loud, starts, LENGTH, MAX_OFFSET)}
        for m, (vis, aud) in zip(pairs, encoders):
            scores[m] = cosine_offset_scores(vis.encode(faces), aud.encode(audio)[:t], starts, LENGTH, MAX_OFFSET)
        if ensemble:  # each pair's window x shift mean cosine, averaged over the pairs
            scores[ensemble] = np.mean([scores[m] for m in pairs], axis=0)
        accs = {}
        for m, s in scores.items():
            est = estimated_offsets(s, MAX_OFFSET)
            exact, near = est == 0, np.abs(est) <= 1
            h = hits[(m, split)]
            h[0] += int(exact.sum())
            h[1] += int(near.sum())
            h[2] += len(est)
            accs[m] = (float(exact.mean()), int(np.median(est)), float(near.mean()))
        per_clip.append((split, name, t, len(starts), accs))
        print(
            f"{split} {name}: {t} frames, {len(starts)} windows, "
            + ", ".join(f"{m} {a:.2f} (median {d:+d})" for m, (a, d, _) in accs.items()),
            file=sys.stderr,
            flush=True,
        )

    lines = [
        "# Audio offset search on real footage (sync encoder)",
        "",
        f"True audio offset among -{MAX_OFFSET}..+{MAX_OFFSET} frames for 1 s windows ({LENGTH} frames, "
        f"a window every {args.stride} frames; each shift scored by the mean per-frame similarity; argmax), on "
        "the real corpus's dev and test speakers (never trained or tuned on; model selection used dev). "
        f"Chance: 1/{2 * MAX_OFFSET + 1} = {1 / (2 * MAX_OFFSET + 1):.3f}.",
        "",
        "    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sync_offset.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "",
        "| method | split | clips | windows | top-1 | within +-1 frame | top-1, mean over clips "
        "| within +-1, mean over clips |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        for s in args.splits:
            top1, near, n = hits[(m, s)]
            # each clip once, whatever its length (sync-train --select clip_acc / clip_near / clip_both)
            accs = [c[4][m] for c in per_clip if c[0] == s and c[3]]
            clip_mean = " | ".join(f"{np.mean([a[k] for a in accs]):.3f}" if accs else "-" for k in (0, 2))
            lines.append(
                f"| {m} | {s} | {len(accs)} | {n} | {top1 / max(n, 1):.3f} | {near / max(n, 1):.3f} | {clip_mean} |"
            )
    lines += [
        "",
        "Per clip: top-1 (median estimated offset in frames; clips shorter than 55 frames have no window):",
        "",
        "| split | clip | frames | windows | " + " | ".join(methods) + " |",
        "|---|---|---|---|" + "---|" * len(methods),
    ]
    for split, name, t, n, accs in per_clip:
        lines.append(
            f"| {split} | {name} | {t} | {n} | "
            + " | ".join(f"{accs[m][0]:.2f} ({accs[m][1]:+d})" if m in accs else "-" for m in methods)
            + " |"
        )
    lines += ["", f"({time.perf_counter() - t0:.0f} s on 1 CPU thread, decoding and face detection included.)"]
    publish(lines, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
