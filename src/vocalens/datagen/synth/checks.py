"""Is the synthetic set fair? Per-frame cheap cues must not find the fakes; the A/V signal must.

Used by the tests and by ``benchmarks/bench_synth.py``: per-frame loudness, brightness and
loudness jumps of rendered videos are scored as fake-frame detectors (ROC AUC, 0.5 = chance),
and the correlation of the drawn mouth opening with the speech envelope is measured in real
videos and inside audio-replaced periods (the signal a localizer should learn).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from vocalens.constants import FPS, SAMPLES_PER_FRAME
from vocalens.data.labels import frame_labels
from vocalens.datagen.synth.plan import VideoPlan
from vocalens.datagen.synth.render import Rendered

CHEAP_CUES = ("loudness", "brightness", "loudness_jump")


def frame_cues(plan: VideoPlan, r: Rendered) -> dict:
    """Per-frame arrays [T] of one rendered video: labels, cheap cues, mouth opening, speech envelope."""
    T = plan.num_frames
    a = r.audio.reshape(T, SAMPLES_PER_FRAME).astype(np.float64)
    loud = 20 * np.log10(np.sqrt(np.mean(a**2, 1)) + 1e-6)
    x0, y0, x1, y1 = r.extras["mouth_box"]
    boxes = r.frames[:, y0:y1, x0:x1].astype(np.float32)
    ref = boxes[int(np.argmin(r.mouth_open))]
    return {
        "kind": plan.kind,
        "label": frame_labels(plan.fake_periods, T),
        "loudness": loud,
        "brightness": r.frames.mean((1, 2, 3)),
        "loudness_jump": np.abs(np.diff(loud, prepend=loud[0])),
        "mouth": r.mouth_open,
        "envelope": r.envelope,
        "mouth_change": np.abs(boxes - ref).mean((1, 2, 3)),  # pixels of the mouth box vs its most closed frame
        "lag": r.extras["lag"],
    }


def cue_aucs(cues: list[dict], centre: bool = False) -> dict[str, float]:
    """ROC AUC of each cheap cue as a fake-frame score over all frames; ``centre`` removes each video's mean."""
    y = np.concatenate([c["label"] for c in cues])
    out = {}
    for k in CHEAP_CUES:
        x = np.concatenate([c[k] - (c[k].mean() if centre else 0.0) for c in cues])
        out[k] = float(roc_auc_score(y, x))
    return out


def sync_correlations(cues: list[dict]) -> dict[str, float]:
    """Mean correlation of mouth opening with the (lag-shifted) speech envelope: in real videos, inside
    audio-replaced periods, and of the mouth-box pixels with the opening (the mouth visibly moves)."""
    real, faked = [], []
    for c in cues:
        k = max(1, int(round(c["lag"] * FPS)))
        m, e, lab = c["mouth"][k:], c["envelope"][:-k], c["label"][k:]
        if c["kind"] == "real":
            real.append(np.corrcoef(m, e)[0, 1])
        elif c["kind"] == "audio" and lab.sum() >= 10:
            faked.append(np.corrcoef(m[lab == 1], e[lab == 1])[0, 1])
    pix = [np.corrcoef(c["mouth"], c["mouth_change"])[0, 1] for c in cues]
    return {
        "real": float(np.mean(real)) if real else float("nan"),
        "audio_fake": float(np.mean(faked)) if faked else float("nan"),
        "pixels": float(np.median(pix)),
        "n_real": len(real),
        "n_audio_fake": len(faked),
    }
