"""Read LAV-DF, AV-Deepfake1M and plain folders into one typed record per video.

LAV-DF: one JSON list for all splits (``metadata.min.json``, else ``metadata.json``) with
``file`` ("test/000001.mp4"), ``split``, ``fake_periods`` (seconds), ``duration``,
``modify_video``, ``modify_audio``, ``video_frames``, ``audio_frames`` (samples).
AV-Deepfake1M: ``{split}_metadata.json`` per split with ``fake_segments``,
``visual_fake_segments``, ``audio_fake_segments``, ``modify_type`` and no duration
(``video_frames / 25``). Records are validated as they are read; only records are kept.

Writing: :func:`lavdf_entry` + :func:`write_lavdf_metadata` are the one LAV-DF writer
(``vocalens synth`` and ``vocalens forge`` both write through them), next to the reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from vocalens.constants import FPS, SAMPLES_PER_FRAME
from vocalens.errors import MetadataError, UserError

SPLITS = ("train", "dev", "test")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v", ".flv")
# the fields of metadata.min.json (metadata.json adds timestamps and transcript, and any extra keys)
LAVDF_MIN_KEYS = (
    "file",
    "n_fakes",
    "fake_periods",
    "duration",
    "original",
    "modify_video",
    "modify_audio",
    "split",
    "video_frames",
    "audio_channels",
    "audio_frames",
)


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset, whatever format it came from."""

    video_id: str
    split: str
    path: Path
    file: str
    fake_periods: tuple[tuple[float, float], ...] = ()
    modify_video: bool = False
    modify_audio: bool = False
    video_frames: int | None = None
    audio_frames: int | None = None
    duration: float | None = None
    visual_fake_periods: tuple[tuple[float, float], ...] | None = None
    audio_fake_periods: tuple[tuple[float, float], ...] | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> int:
        """Video-level label: 1 when any period is fake."""
        return int(len(self.fake_periods) > 0 or self.modify_video or self.modify_audio)

    @property
    def manipulation(self) -> str:
        """'real', 'audio', 'visual' or 'both' (which modality was manipulated)."""
        return manipulation_type(self.modify_video, self.modify_audio, self.label)


def manipulation_type(modify_video: bool, modify_audio: bool, label: int = 1) -> str:
    if modify_video and modify_audio:
        return "both"
    if modify_video:
        return "visual"
    if modify_audio:
        return "audio"
    return "real" if not label else "unknown"


def video_id_from_file(file: str) -> str:
    """'test/000001.mp4' -> '000001'; nested AV-Deepfake1M paths keep their folders, joined by '__'."""
    parts = Path(file).with_suffix("").parts
    if parts and parts[0] in SPLITS:
        parts = parts[1:]
    return "__".join(parts)


def _periods(value, where: str) -> tuple[tuple[float, float], ...]:
    if value is None:
        return ()
    try:
        out = tuple((float(s), float(e)) for s, e in value)
    except (TypeError, ValueError):
        raise MetadataError(f"{where}: fake periods must be [[start, end], ...] in seconds, got {value!r}")
    return out


def _check_periods(periods, duration: float | None, where: str) -> None:
    tol = 0.05  # duration, frames/25 and samples/16000 disagree slightly in LAV-DF
    for s, e in periods:
        if not s < e:
            raise MetadataError(f"{where}: fake period [{s}, {e}] has start >= end")
        if s < -tol or (duration is not None and e > duration + tol):
            raise MetadataError(f"{where}: fake period [{s}, {e}] lies outside the video (duration {duration} s)")


def _finish(rec: VideoRecord, check_files: bool) -> VideoRecord:
    where = f"{rec.file}"
    if rec.split not in SPLITS:
        raise MetadataError(f"{where}: unknown split {rec.split!r} (expected one of {', '.join(SPLITS)})")
    _check_periods(rec.fake_periods, rec.duration, where)
    if check_files and not rec.path.is_file():
        raise MetadataError(f"{where}: video file not found at {rec.path}")
    return rec


def _lavdf_record(item: dict, root: Path) -> VideoRecord:
    file = item.get("file")
    if not isinstance(file, str):
        raise MetadataError(f"metadata entry without a 'file' field: {str(item)[:80]}")
    split = item.get("split") or Path(file).parts[0]
    vf = item.get("video_frames")
    duration = item.get("duration")
    if duration is None and vf is not None:
        duration = float(vf) / FPS
    return VideoRecord(
        video_id=video_id_from_file(file),
        split=split,
        path=root / file,
        file=file,
        fake_periods=_periods(item.get("fake_periods"), file),
        modify_video=bool(item.get("modify_video", False)),
        modify_audio=bool(item.get("modify_audio", False)),
        video_frames=int(vf) if vf is not None else None,
        audio_frames=int(item["audio_frames"]) if item.get("audio_frames") is not None else None,
        duration=float(duration) if duration is not None else None,
    )


def _av1m_record(item: dict, root: Path, split: str) -> VideoRecord:
    file = item.get("file")
    if not isinstance(file, str):
        raise MetadataError(f"metadata entry without a 'file' field: {str(item)[:80]}")
    mtype = item.get("modify_type", "real")
    vf = item.get("video_frames")
    duration = float(vf) / FPS if vf is not None else None
    rel = file if (root / file).exists() or Path(file).parts[0] == split else f"{split}/{file}"
    return VideoRecord(
        video_id=video_id_from_file(file),
        split=split,
        path=root / rel,
        file=file,
        fake_periods=_periods(item.get("fake_segments"), file),
        modify_video=mtype in ("visual_modified", "both_modified"),
        modify_audio=mtype in ("audio_modified", "both_modified"),
        video_frames=int(vf) if vf is not None else None,
        audio_frames=int(item["audio_frames"]) if item.get("audio_frames") is not None else None,
        duration=duration,
        visual_fake_periods=_periods(item.get("visual_fake_segments"), file),
        audio_fake_periods=_periods(item.get("audio_fake_segments"), file),
        extra={"modify_type": mtype},
    )


def _load_json(path: Path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: metadata file not found")
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})")


def find_lavdf_metadata(root: Path) -> Path:
    for name in ("metadata.min.json", "metadata.json"):
        if (root / name).is_file():
            return root / name
    raise UserError(f"{root}: no metadata.min.json or metadata.json found")


class SkipCounter:
    """Collects the records skipped with ``skip_invalid=True`` (reason per file)."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.skipped)


def _validated(
    records: Iterable[VideoRecord], splits, check_files: bool, skip_invalid: bool, skipped: SkipCounter | None
) -> Iterator[VideoRecord]:
    for make in records:
        try:
            rec = _finish(make() if callable(make) else make, check_files)
        except MetadataError as e:
            if not skip_invalid:
                raise
            if skipped is not None:
                skipped.skipped.append(str(e))
            continue
        if splits is None or rec.split in splits:
            yield rec


def read_lavdf(
    root: str | Path,
    metadata: str | Path | None = None,
    splits: Iterable[str] | None = None,
    check_files: bool = True,
    skip_invalid: bool = False,
    skipped: SkipCounter | None = None,
) -> list[VideoRecord]:
    """All records of a LAV-DF-layout dataset (our synth/forge output too), filtered to ``splits``."""
    root = Path(root)
    meta_path = Path(metadata) if metadata else find_lavdf_metadata(root)
    items = _load_json(meta_path)
    if not isinstance(items, list):
        raise UserError(f"{meta_path}: expected a JSON list of videos (LAV-DF format)")
    splits = set(splits) if splits else None
    makers = (lambda it=it: _lavdf_record(it, root) for it in items)
    return list(_validated(makers, splits, check_files, skip_invalid, skipped))


def read_av1m(
    root: str | Path,
    splits: Iterable[str] = ("train", "val"),
    check_files: bool = True,
    skip_invalid: bool = False,
    skipped: SkipCounter | None = None,
) -> list[VideoRecord]:
    """Records of AV-Deepfake1M (``{split}_metadata.json``). Its 'val' split is read as 'dev'."""
    root = Path(root)
    out: list[VideoRecord] = []
    for split in splits:
        ours = "dev" if split == "val" else split
        items = _load_json(root / f"{split}_metadata.json")
        makers = (
            lambda it=it: _av1m_record(it, root / split if (root / split).is_dir() else root, ours) for it in items
        )
        out.extend(_validated(makers, None, check_files, skip_invalid, skipped))
    return out


def read_folder(folder: str | Path, split: str = "test", **_ignored) -> list[VideoRecord]:
    """A plain folder of videos, no labels: for inference on a user's own files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    return [
        VideoRecord(
            video_id="__".join(p.relative_to(folder).with_suffix("").parts),
            split=split,
            path=p,
            file=str(p.relative_to(folder)),
        )
        for p in files
    ]


def read_dataset(
    root: str | Path, metadata: str | Path | None = None, splits: Iterable[str] | None = None, **kw
) -> list[VideoRecord]:
    """Whatever ``root`` is: LAV-DF layout, AV-Deepfake1M layout, or a plain folder of videos."""
    root = Path(root)
    if metadata is not None:
        if Path(metadata).name.endswith("_metadata.json"):
            split = Path(metadata).name[: -len("_metadata.json")]
            return read_av1m(root, [split], **kw)
        return read_lavdf(root, metadata, splits, **kw)
    if (root / "metadata.min.json").is_file() or (root / "metadata.json").is_file():
        return read_lavdf(root, None, splits, **kw)
    av1m = [s for s in ("train", "val", "test") if (root / f"{s}_metadata.json").is_file()]
    if av1m:
        want = [s for s in av1m if splits is None or s in splits or (s == "val" and "dev" in splits)]
        return read_av1m(root, want, **kw)
    return read_folder(root, **kw)


def lavdf_entry(
    file: str,
    split: str,
    fake_periods,
    num_frames: int,
    *,
    original: str | None,
    modify_video: bool,
    modify_audio: bool,
    duration: float | None = None,
    **extra,
) -> dict:
    """One LAV-DF ``metadata.json`` entry for a 25 fps video with 16 kHz mono audio.

    ``fake_periods`` are ``[[start, end]]`` in seconds; ``duration`` defaults to ``num_frames / 25``;
    ``extra`` keys (``timestamps``, ``transcript``, provenance) go into metadata.json only.
    """
    return {
        "file": file,
        "n_fakes": len(fake_periods),
        "fake_periods": [[float(s), float(e)] for s, e in fake_periods],
        "duration": float(num_frames / FPS if duration is None else duration),
        "original": original,
        "modify_video": bool(modify_video),
        "modify_audio": bool(modify_audio),
        "split": split,
        "video_frames": int(num_frames),
        "audio_channels": 1,
        "audio_frames": int(num_frames) * SAMPLES_PER_FRAME,
        **extra,
    }


def write_lavdf_metadata(root: str | Path, entries: list[dict]) -> None:
    """``root/metadata.json`` (entries as given) and ``root/metadata.min.json`` (:data:`LAVDF_MIN_KEYS` only),
    atomically."""
    from vocalens.fileio import write_json_atomic

    root = Path(root)
    write_json_atomic(root / "metadata.json", entries)
    write_json_atomic(root / "metadata.min.json", [{k: e[k] for k in LAVDF_MIN_KEYS} for e in entries])
