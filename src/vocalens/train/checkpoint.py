"""Checkpoints: atomic writes (temp + rename) and exact RNG capture for `--resume`.

Everything stored is loadable with ``torch.load(weights_only=True)``: tensors, numbers, strings,
lists and dicts (RNG states are converted), so a checkpoint from elsewhere never runs code.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from vocalens.errors import UserError
from vocalens.fileio import atomic_path


def save_atomic(obj: dict, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or a run folder -> its best.pth (else last.pth)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pth", "last.pth"):
            if (path / name).is_file():
                return path / name
    return path


def load(path: str | Path, map_location="cpu") -> dict:
    """THE checkpoint reader of both systems (a run folder means its best.pth); UserError naming the file."""
    path = resolve(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle / zip errors of every kind
        raise UserError(
            f"{path}: not a readable vocalens checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        )
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise UserError(f"{path}: not a vocalens checkpoint (no 'model' entry)")
    ckpt["_path"] = str(path)
    return ckpt


def rng_state() -> dict:
    py = random.getstate()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
