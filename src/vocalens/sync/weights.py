"""Sync encoder weights as one small safetensors file (no pickle): tensors + the config as metadata."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from vocalens.assets import ASSETS
from vocalens.errors import UserError
from vocalens.fileio import atomic_path
from vocalens.sync.model import SyncConfig, SyncNet

DEFAULT_WEIGHTS = ASSETS / "sync_encoder.safetensors"


def save_weights(model: SyncNet, path: str | Path, **info) -> Path:
    """Write ``model``'s state dict and config (plus ``info``: crop, box, training figures) atomically.
    Floating tensors are stored as float16 (half the size; loading casts back to float32)."""
    from safetensors.torch import save  # noqa: PLC0415

    tensors = {
        k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in model.state_dict().items()
    }
    meta = {"format": "vocalens-sync-1", "config": json.dumps(model.cfg.to_dict()), "info": json.dumps(info)}
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(ordered_header(save(tensors, metadata=meta), list(meta)))
    return Path(path)


def ordered_header(blob: bytes, order: list[str]) -> bytes:
    """A safetensors file with its metadata in ``order``. safetensors writes the metadata map in a hash order
    that changes from one call to the next, so the same weights would make files (and digests: a feature
    store records one) that differ by run; rewritten in a fixed order, the same weights make the same bytes."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    fixed = {"__metadata__": {k: meta[k] for k in order if k in meta}, **header}
    text = json.dumps(fixed, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > n:
        raise ValueError("safetensors header grew when reordered")
    return blob[:8] + text + b" " * (n - len(text)) + blob[8 + n :]


def file_digest(path: str | Path) -> str:
    """First 12 hex digits of the file's sha256: which weights made a feature store."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> tuple[SyncNet, dict, str]:
    from safetensors import SafetensorError  # noqa: PLC0415
    from safetensors.torch import load_file, safe_open  # noqa: PLC0415

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a sync encoder weights file ({e})")
    if meta.get("format") != "vocalens-sync-1":
        raise UserError(f"{path}: not a sync encoder weights file (format {meta.get('format')!r})")
    model = SyncNet(SyncConfig.from_dict(json.loads(meta["config"])))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise UserError(f"{path}: weights do not fit the recorded config ({str(e).splitlines()[0]})")
    return model.eval(), json.loads(meta.get("info", "{}")), file_digest(path)


def load_weights(path: str | Path | None = None) -> tuple[SyncNet, dict, str]:
    """(model in eval mode, info, digest) from ``path`` (default: the file shipped in the package).
    Cached: the visual and the audio encoder share one load."""
    p = Path(path) if path else DEFAULT_WEIGHTS
    if not p.is_file():
        hint = "" if path else " (the package ships none: train one with `vocalens sync-train`)"
        raise UserError(f"{p}: sync encoder weights not found{hint}")
    return _load(str(p.resolve()), p.stat().st_mtime)
