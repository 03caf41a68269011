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


def labelled_args(specs: list[str] | None, default: str) -> list[tuple[str, str]]:
    """``LABEL=ARGS`` options (e.g. --recipe "20 epochs=--epochs 20") as (label, args); none given: [(default, "")]."""
    return [tuple(s.split("=", 1)) if "=" in s else (s, "") for s in (specs or [default + "="])]


def slug(label: str) -> str:
    """A label as a folder name: "seed 1" -> "seed_1"."""
    import re  # noqa: PLC0415

    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")


def vocalens_cmd(argv) -> list[str]:
    """A `vocalens` command line run by this interpreter (the benchmark's own environment)."""
    import sys  # noqa: PLC0415

    return [sys.executable, "-m", "vocalens", *map(str, argv)]


def run_jobs(jobs: dict[str, list], max_jobs: int, ok: tuple[int, ...] = (0,)) -> None:
    """Several vocalens commands, at most ``max_jobs`` at a time, each logging to NAME.log (NAME a path);
    raises SystemExit naming the ones that exited with a code not in ``ok``, after all have finished."""
    import subprocess  # noqa: PLC0415
    import time  # noqa: PLC0415

    pending, running, bad = list(jobs.items()), {}, []
    while pending or running:
        while pending and len(running) < max(1, max_jobs):
            name, argv = pending.pop(0)
            logf = Path(name).with_suffix(".log")
            logf.parent.mkdir(parents=True, exist_ok=True)
            print(f"$ vocalens {' '.join(map(str, argv))}   (log: {logf})", flush=True)
            with open(logf, "a") as f:  # the child keeps its own copy of the descriptor
                running[name] = subprocess.Popen(vocalens_cmd(argv), stdout=f, stderr=subprocess.STDOUT)
        done = [n for n, p in running.items() if p.poll() is not None]
        if not done:
            time.sleep(1.0)
        for n in done:
            if running.pop(n).returncode not in ok:
                bad.append(n)
    if bad:
        raise SystemExit(f"failed: {', '.join(bad)} (see their .log files)")
