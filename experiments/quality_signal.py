"""Is the audio-visual signal in the features, and are the labels right? (docs/quality.md, Diagnosis)

    PYTHONPATH=src python experiments/quality_signal.py --features_root feats          # store checks
    PYTHONPATH=src python experiments/quality_signal.py --blur                          # synth blur check

--features_root: (1) stored frame_labels against frame_labels(meta.fake_periods); (2) a parameter-free
sync score, the local (``--window`` frames) correlation of the visual change energy ||v[t]-v[t-1]|| with
the audio change energy ``--lag`` frames earlier, as a fake-frame score (ROC AUC over real videos + one
manipulation type). --blur: within-video AUC of low high-frequency DCT energy of the mouth crop on
'both' fakes, rendered with the synth's former mouth blur (0.6-1.4 px) and with its current one.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score


def _smooth(z, w):
    return np.convolve(z, np.ones(w) / w, mode="same")


def local_corr(x, y, w):
    mx, my = _smooth(x, w), _smooth(y, w)
    cov = _smooth(x * y, w) - mx * my
    vx, vy = _smooth(x * x, w) - mx * mx, _smooth(y * y, w) - my * my
    return cov / np.sqrt(np.maximum(vx * vy, 1e-8))


def store_checks(root: str, window: int, lag: int) -> None:
    from vocalens.data.labels import frame_labels
    from vocalens.data.store import list_videos, read_features
    from vocalens.localizer.data import frames_of

    mismatch = frames = 0
    by_kind: dict[str, list] = {}
    for split in ("train", "dev", "test"):
        for p in list_videos(root, split):
            f = read_features(p)
            v, a = (x.astype(np.float32) for x in frames_of(f))
            lab = f.frame_labels
            mismatch += int((lab != frame_labels(f.meta["fake_periods"], f.num_frames, f.fps)).sum())
            frames += len(lab)
            ev = np.linalg.norm(np.diff(v, axis=0, prepend=v[:1]), axis=1)
            ea = np.linalg.norm(np.diff(a, axis=0, prepend=a[:1]), axis=1)
            ea = np.concatenate([np.full(lag, ea[0]), ea[: len(ea) - lag]]) if lag else ea
            by_kind.setdefault(f.meta["manipulation"], []).append((lab, -local_corr(ea, ev, window)))
    print(f"frame_labels vs fake_periods: {mismatch} mismatching frames of {frames}")
    print(f"| manipulation | AUC of -local corr(visual change, audio change), window {window}, lag {lag} |")
    print("|---|---|")
    for kind in ("audio", "visual", "both"):
        items = by_kind.get(kind, []) + by_kind.get("real", [])
        y = np.concatenate([i[0] for i in items])
        s = np.concatenate([i[1] for i in items])
        print(f"| {kind} | {roc_auc_score(y, s):.3f} |")


def blur_check(n_videos: int) -> None:
    import dataclasses

    import vocalens.datagen.synth as S
    from vocalens.data.labels import frame_labels
    from vocalens.encoders import build_visual_encoder

    enc = build_visual_encoder("default", normalize="none")
    now = S.SynthConfig(max_duration=6)
    plans = [p for p in S.plan_dataset(10 * n_videos, 0, now) if p.kind == "both"][:n_videos]
    for cfg in (dataclasses.replace(now, min_blur=0.6, max_blur=1.4), now):
        ys, ss = [], []
        for p in plans:
            r = S.render_video(p, 0, cfg)
            hf = np.log((enc.encode(r.frames)[:, 64:256] ** 2).mean(1) + 1e-6)
            ys.append(frame_labels(p.fake_periods, p.num_frames))
            ss.append(hf.mean() - hf)
        print(
            f"mouth blur {cfg.min_blur}-{cfg.max_blur} px: within-video AUC of low high-frequency DCT energy "
            f"on {len(plans)} 'both' videos = {roc_auc_score(np.concatenate(ys), np.concatenate(ss)):.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features_root")
    ap.add_argument("--window", type=int, default=15)
    ap.add_argument("--lag", type=int, default=2)
    ap.add_argument("--blur", action="store_true")
    ap.add_argument("--blur_videos", type=int, default=6)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.features_root:
        store_checks(args.features_root, args.window, args.lag)
    if args.blur:
        blur_check(args.blur_videos)


if __name__ == "__main__":
    main()
