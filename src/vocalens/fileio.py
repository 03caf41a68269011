"""Atomic writes: the one way vocalens puts a file that a later stage trusts on disk (and standard JSON).

The content goes to a hidden temporary file beside the target, gets the permissions a plain
``open(path, "w")`` would give (``mkstemp`` makes 0600), and is renamed into place, so a killed
process never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """0666 minus the umask (what ``open(path, "w")`` gives; ``mkstemp`` makes 0600)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """0777 minus the umask (what ``mkdir`` gives; ``mkdtemp`` makes 0700)."""
    return 0o777 & ~_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, file_mode())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(folder: str | Path) -> list[str]:
    """Delete the temporary files :func:`atomic_path` leaves in ``folder`` when a process is killed mid-write
    (``.tmp-*``; a kill -9 runs no cleanup): call it where one process owns the folder, at its start."""
    removed = []
    for p in Path(folder).glob(".tmp-*"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def write_json_atomic(path: str | Path, obj, **dump_kw) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, **dump_kw)
    return Path(path)


def clean_json(obj):
    """NaN/inf -> None, numpy -> Python (float curves rounded to 6 decimals), so the JSON is standard."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            a = np.round(obj.astype(np.float64), 6)
            return [None if not math.isfinite(v) else v for v in a.tolist()]
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_json(path: str | Path, obj, indent: int | None = None) -> Path:
    """Standard JSON (NaN -> null), written to a temporary name and renamed."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        if isinstance(obj, dict) and isinstance(obj.get("videos"), list):
            # one video at a time: a whole split's curves never exist as Python lists at once
            head = {k: v for k, v in obj.items() if k != "videos"}
            f.write(json.dumps(clean_json(head), allow_nan=False)[:-1])
            f.write(', "videos": [' if head else '"videos": [')
            for i, v in enumerate(obj["videos"]):
                f.write(("," if i else "") + "\n" + json.dumps(clean_json(v), allow_nan=False))
            f.write("\n]}\n")
        elif isinstance(obj, list):
            f.write("[")
            for i, v in enumerate(obj):
                f.write(("," if i else "") + "\n" + json.dumps(clean_json(v), indent=indent, allow_nan=False))
            f.write("\n]\n")
        else:
            json.dump(clean_json(obj), f, indent=indent, allow_nan=False)
    return path
