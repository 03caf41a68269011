"""The default model shipped inside the package: installing it, and the recorded outputs that prove
a build loads it unchanged.

``install`` copies a calibrated localizer and the sync encoder weights its features came from
into ``vocalens/assets/`` and records, beside them, what the pair outputs on a fixed seeded
input (``default_localizer.json``). ``reference_outputs`` recomputes those numbers, so a test can
check that the shipped files, loaded with ``weights_only=True`` / safetensors, give them back.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from vocalens import assets
from vocalens.errors import UserError
from vocalens.fileio import write_json_atomic

REFERENCE_FRAMES = 60  # 2.4 s of fixed input
MAX_BYTES = 25 * 2**20  # the budget for everything shipped


def reference_input(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed 'talking face': 60 frames of 96x96 face crops whose lower half opens and closes at
    4 Hz, and 16 kHz audio whose loudness follows the same 4 Hz rhythm. Deterministic."""
    rng = np.random.default_rng(seed)
    t = np.arange(REFERENCE_FRAMES) / 25.0
    opening = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    faces = np.full((REFERENCE_FRAMES, 96, 96, 3), 170, np.uint8)
    for i, o in enumerate(opening):
        h = int(4 + 14 * o)
        faces[i, 66 - h // 2 : 66 + h // 2, 34:62] = 40  # the mouth
    faces = np.clip(faces.astype(np.int16) + rng.integers(-6, 7, faces.shape), 0, 255).astype(np.uint8)
    n = int(REFERENCE_FRAMES / 25.0 * 16000)
    ts = np.arange(n) / 16000.0
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * ts)
    wave = (0.2 * env * (np.sin(2 * np.pi * 180 * ts) + 0.3 * rng.standard_normal(n))).astype(np.float32)
    return faces, wave


def reference_outputs(checkpoint: str | Path | None = None) -> dict:
    """Encoders + localizer of ``checkpoint`` (default: the shipped one) on :func:`reference_input`."""
    from vocalens.localizer.detect import load_encoders
    from vocalens.localizer.predict import Predictor

    ckpt = checkpoint or assets.default_localizer()
    if ckpt is None:
        raise UserError("this build of vocalens ships no default model")
    pred = Predictor.from_checkpoint(ckpt)
    enc = load_encoders(pred.config, source=str(ckpt))
    faces, wave = reference_input()
    visual, audio = enc.visual.encode(faces), enc.audio.encode(wave)
    out = pred.predict(visual, audio, enc.audio.rate, 25.0)
    return {
        "visual_sum": float(np.sum(visual)),
        "audio_sum": float(np.sum(audio)),
        "frame_probs": [round(float(p), 6) for p in out["frame_probs"]],
        "video_prob": round(float(out["video_prob"]), 6),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(model: str | Path, sync_weights: str | Path) -> Path:
    """Ship ``model`` (a calibrated localizer whose features came from the sync encoder ``sync_weights``)."""
    from vocalens.train import checkpoint as ckpt_io

    model, sync_weights = Path(model), Path(sync_weights)
    ck = ckpt_io.load(model)
    task = dict(ck["task"])
    for key in ("visual_encoder", "audio_encoder"):
        enc = dict(task.get(key) or {})
        if enc.get("name") != "sync":
            raise UserError(f"{model}: {key} is {enc.get('name')!r}; only sync-encoder models can be shipped")
        enc.pop("weights", None)  # the shipped sync weights are the encoder's default
        task[key] = enc
    if "calibration" not in task:
        raise UserError(f"{model}: not calibrated (run `vocalens calibrate` on the dev speakers first)")
    size = model.stat().st_size + sync_weights.stat().st_size
    if size > MAX_BYTES:
        raise UserError(
            f"{model}: model + sync weights are {size / 2**20:.1f} MB, over the {MAX_BYTES // 2**20} MB budget"
        )
    shutil.copyfile(sync_weights, assets.ASSETS / ".sync_encoder.safetensors.tmp")
    (assets.ASSETS / ".sync_encoder.safetensors.tmp").replace(assets.ASSETS / "sync_encoder.safetensors")
    ckpt_io.save_atomic({**ck, "task": task}, assets.DEFAULT_LOCALIZER)
    record = {
        "files": {p.name: _sha256(p) for p in (assets.DEFAULT_LOCALIZER, assets.ASSETS / "sync_encoder.safetensors")},
        "calibration": task["calibration"],
        "reference": reference_outputs(assets.DEFAULT_LOCALIZER),
        "card": "docs/model_card.md",
    }
    write_json_atomic(assets.ASSETS / "default_localizer.json", record)
    return assets.DEFAULT_LOCALIZER


def recorded() -> dict:
    """What :func:`install` recorded about the shipped files."""
    path = assets.ASSETS / "default_localizer.json"
    if not path.is_file():
        raise UserError(f"{path}: not found (this build ships no default model)")
    return json.loads(path.read_text())
