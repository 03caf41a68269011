"""What every benchmark script does with its table: print it, and write it to its results file atomically
(a killed run never leaves half a table for `run_all.py --collect` to pick up)."""

from __future__ import annotations

from pathlib import Path

from vocalens.fileio import atomic_path


def publish(lines: list[str], out: str | Path) -> str:
    """Join ``lines`` into markdown, print it, write it to ``out`` (folders made as needed); returns the text."""
    text = "\n".join(lines) + "\n"
    print(text)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text)
    return text
