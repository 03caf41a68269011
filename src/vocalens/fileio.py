"""Atomic writes: the one way vocalens puts a file that a later stage trusts on disk.

The content goes to a hidden temporary file beside the target, gets the permissions a plain
``open(path, "w")`` would give (``mkstemp`` makes 0600), and is renamed into place, so a killed
process never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


def write_json_atomic(path: str | Path, obj, **dump_kw) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, **dump_kw)
    return Path(path)
