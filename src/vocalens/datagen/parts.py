"""The plumbing ``forge`` and ``splice`` share: decode a source, write its real copy and its fakes, and run
the sources one by one with a per-source record ("part") so a killed run resumes where it stopped.

The two recipes stay independent in what they make (their fakes, plans and metadata fields are their
own: :mod:`vocalens.datagen.forge`, :mod:`vocalens.datagen.splice`); only the file writing is one code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from vocalens.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from vocalens.errors import MediaError
from vocalens.fileio import write_json_atomic
from vocalens.media.video import fit_length, iter_frames, load_audio, write_video

SILENT_LEVEL = 1e-3  # speech level (RMS of the louder half of 20 ms windows) below this: no usable audio

# make(kind) -> (frames, audio, periods, details), or None when no valid period was found
MakeFake = Callable[[str], "tuple[np.ndarray, np.ndarray, list, object] | None"]


def config_knobs(args, config_cls) -> dict:
    """The command line's values for ``config_cls``'s fields (lists as tuples, as the config holds them); not
    ``seed``, which the dataset functions take on its own. Fields without a flag keep their defaults."""
    knobs = {f.name: getattr(args, f.name) for f in fields(config_cls) if f.name != "seed" and hasattr(args, f.name)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()}


@dataclass
class PartsSummary:
    """What a forge or splice run made (``counts``: videos by the recipe's key, see ``run_parts``)."""

    output_root: Path
    sources: int = 0
    sources_used: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per skipped source
    notes: list[str] = field(default_factory=list)  # sources that could only get some kinds of fakes
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    video_seconds: float = 0.0  # seconds of video written

    @property
    def videos(self) -> int:
        return sum(self.counts.values())

    def headline(self, root: str, rates: bool = False) -> str:
        """``root: N videos from U/S sources (V s of video) in T s`` (+ videos/s and x real time)."""
        line = (
            f"{root}: {self.videos} videos from {self.sources_used}/{self.sources} sources "
            f"({self.video_seconds:.0f} s of video) in {self.seconds:.1f} s"
        )
        if rates:
            t = max(self.seconds, 1e-9)
            line += f" ({self.videos / t:.2f} videos/s, {self.video_seconds / t:.1f}x real time)"
        return line

    def footer(self) -> list[str]:
        """The notes, one line each, then how many sources were skipped (each was reported as it happened)."""
        lines = [f"note: {n}" for n in self.notes]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} source(s) (reported above)")
        return lines


def load_source(path: Path, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Frames [T,H,W,3] on the 25 fps grid (longest side capped at ``cfg.max_side``) and the audio over
    the same span. Like ``load_video`` but stops after ``cfg.max_seconds`` so long footage never fills memory."""
    cap = int(round(cfg.max_seconds * FPS)) if cfg.max_seconds and cfg.max_seconds > 0 else None
    frames = np.stack(list(islice(iter_frames(path, FPS, max_side=cfg.max_side), cap)))
    audio = fit_length(load_audio(path, SAMPLE_RATE), len(frames) * SAMPLES_PER_FRAME)
    if frames.shape[1] % 2 or frames.shape[2] % 2:  # H.264 yuv420p wants even sizes
        frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]
    return frames, audio


def read_source(path: Path, cfg) -> tuple[np.ndarray, np.ndarray] | dict:
    """(frames, audio), or the part record ``{"skipped": why}`` of a source that does not decode or is
    shorter than ``cfg.min_seconds``."""
    try:
        frames, audio = load_source(path, cfg)
    except MediaError as e:
        return {"skipped": str(e)}
    except Exception as e:  # noqa: BLE001 - any undecodable input is reported and skipped
        return {"skipped": f"{path}: cannot decode ({e.__class__.__name__}: {e})"}
    if len(frames) < cfg.min_seconds * FPS:
        return {"skipped": f"{path}: too short ({len(frames) / FPS:.2f} s < {cfg.min_seconds} s)"}
    return frames, audio


def speech_level(audio: np.ndarray, win: int = 320) -> float:
    """RMS of the louder half of 20 ms windows: the level of speech, not of the pauses."""
    n = len(audio) // win
    if n == 0:
        return 0.0
    e = np.sort((audio[: n * win].reshape(n, win) ** 2).mean(axis=1))
    return float(np.sqrt(e[n // 2 :].mean()))


def donor_speech(path: Path) -> np.ndarray | None:
    """A source's first 60 s of audio as a speech donor, or None when it is silent (speech level under
    ``SILENT_LEVEL``) or does not decode: a broken source is simply not a donor."""
    try:
        a = load_audio(path, SAMPLE_RATE)[: 60 * SAMPLE_RATE]
    except Exception:  # noqa: BLE001
        return None
    return a if speech_level(a) >= SILENT_LEVEL else None


def write_fakes(
    out_root: Path,
    files: list[str],
    frames: np.ndarray,
    audio: np.ndarray,
    crf: int,
    plan: list[str],
    make: MakeFake,
    real_entry: Callable[[str], dict],
    fake_entry: Callable[[str, str, list, object], dict],
    note: list[str],
) -> list[dict]:
    """Write the real copy to ``files[0]`` and fake ``j`` (kind ``plan[j-1]``) to ``files[j]``; returns the
    metadata entries. A fake ``make`` finds no period for is left out and counted in ``note``."""
    write_video(out_root / files[0], frames, FPS, audio, crf=crf)
    entries = [real_entry(files[0])]
    failed = 0
    for j, kind in enumerate(plan, start=1):
        res = make(kind)
        if res is None:
            failed += 1
            continue
        f_frames, f_audio, periods, details = res
        write_video(out_root / files[j], f_frames, FPS, f_audio, crf=crf)
        entries.append(fake_entry(files[j], kind, periods, details))
    if failed:
        note.append(f"{failed} fake(s) found no valid period")
    return entries


def part_path(out_root: Path, tag: str, index: int, name: str) -> Path:
    """Where source ``index`` (named ``name``) keeps its record: ``.{tag}/parts/NNNNNN-<hash>.json``."""
    key = hashlib.sha1(name.encode()).hexdigest()[:10]
    return out_root / f".{tag}" / "parts" / f"{index:06d}-{key}.json"


def run_parts(
    sources: Iterable,
    out_root: Path,
    tag: str,
    make_part: Callable[[object], dict],
    summary,
    count_key: Callable[[dict], object],
    progress: bool,
    log=print,
) -> list[dict]:
    """Every source's part, made by ``make_part(src)`` unless a finished one (all its files present) is on
    disk; fills ``summary`` (skipped, sources_used, notes, counts by ``count_key(entry)``, video_seconds)
    and returns all entries in source order."""
    entries: list[dict] = []
    bar = tqdm(sources, unit="src", disable=not progress, desc=tag)
    for src in bar:
        path = part_path(out_root, tag, src.index, src.name)
        part = json.loads(path.read_text()) if path.is_file() else None
        if part is not None and not all((out_root / e["file"]).is_file() for e in part.get("entries", [])):
            part = None
        if part is None:
            part = make_part(src)
            write_json_atomic(path, part)
        if "skipped" in part:
            summary.skipped.append(part["skipped"])
            (bar.write if progress else log)(f"skipped {part['skipped']}")
            continue
        summary.sources_used += 1
        if part.get("note"):
            summary.notes.append(f"{src.name}: {part['note']}")
        for e in part["entries"]:
            k = count_key(e)
            summary.counts[k] = summary.counts.get(k, 0) + 1
            summary.video_seconds += e["duration"]
        entries.extend(part["entries"])
        bar.set_postfix(videos=len(entries))
    return entries
