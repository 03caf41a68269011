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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from vocalens.constants import FPS, SAMPLES_PER_FRAME
from vocalens.errors import MetadataError, UserError

SPLITS = ("train", "dev", "test")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v", ".flv")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus")
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


def check_video_id(video_id, where: str) -> str:
    """THE video-id rule: one plain folder name (not empty, not hidden, no separator), so a store write
    ``root/split/video_id`` can never replace the split folder or land outside ``root``."""
    if not isinstance(video_id, str) or not video_id or video_id.startswith(".") or any(c in video_id for c in "/\\\0"):
        raise MetadataError(f"{where}: video id {video_id!r} is not a plain folder name")
    return video_id


def video_id_from_file(file: str) -> str:
    """'test/000001.mp4' -> '000001'; nested AV-Deepfake1M paths keep their folders, joined by '__'.

    A leading split folder is dropped only when a name remains; an absolute path's root and any '.' / '..'
    parts are dropped, so the id is always a plain folder name (:func:`check_video_id`)."""
    path = Path(file)
    parts = [x for x in path.parts if x not in (path.anchor, "", ".", "..")]
    if parts:
        parts[-1] = Path(parts[-1]).stem if Path(parts[-1]).suffix else parts[-1]
    if len(parts) > 1 and parts[0] in SPLITS:
        parts = parts[1:]
    return check_video_id("__".join(parts), file)


def _periods(value, where: str) -> tuple[tuple[float, float], ...]:
    if value is None:
        return ()
    try:
        out = tuple((float(s), float(e)) for s, e in value)
    except (TypeError, ValueError):
        raise MetadataError(f"{where}: fake periods must be [[start, end], ...] in seconds, got {value!r}")
    return out


def _number(item: dict, key: str, kind, where: str):
    """A numeric field (``kind`` int or float), None when absent; anything else is a MetadataError naming it."""
    value = item.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):
        raise MetadataError(f"{where}: {key} must be a number, got {value!r}")


def _entry_file(item, where: str) -> str:
    """The ``file`` of one metadata entry; an entry that is not an object, or has no file, is a MetadataError."""
    if not isinstance(item, dict):
        raise MetadataError(f"{where}: metadata entry is not an object: {str(item)[:80]}")
    file = item.get("file")
    if not isinstance(file, str) or not file:
        raise MetadataError(f"{where}: metadata entry without a 'file' field: {str(item)[:80]}")
    return file


# the fields that say whether a video is fake; an entry with none of them has no label, not "real"
LAVDF_LABEL_KEYS = ("fake_periods", "n_fakes", "modify_video", "modify_audio")
AV1M_LABEL_KEYS = ("modify_type", "fake_segments")


def _check_label(item: dict, keys: tuple[str, ...], file: str) -> None:
    """An entry must say whether it is fake: one with only ``file`` was silently labelled real."""
    if not any(k in item for k in keys):
        raise MetadataError(f"{file}: no label field ({', '.join(keys)}): cannot tell real from fake")


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


def _lavdf_record(item: dict, root: Path, where: str = "metadata") -> VideoRecord:
    file = _entry_file(item, where)
    _check_label(item, LAVDF_LABEL_KEYS, file)
    split = item.get("split") or Path(file).parts[0]
    vf = _number(item, "video_frames", int, file)
    duration = _number(item, "duration", float, file)
    if duration is None and vf is not None:
        duration = vf / FPS
    return VideoRecord(
        video_id=video_id_from_file(file),
        split=split,
        path=root / file,
        file=file,
        fake_periods=_periods(item.get("fake_periods"), file),
        modify_video=bool(item.get("modify_video", False)),
        modify_audio=bool(item.get("modify_audio", False)),
        video_frames=vf,
        audio_frames=_number(item, "audio_frames", int, file),
        duration=duration,
    )


def _av1m_record(item: dict, root: Path, split: str, where: str = "metadata") -> VideoRecord:
    file = _entry_file(item, where)
    _check_label(item, AV1M_LABEL_KEYS, file)
    mtype = item.get("modify_type", "real")
    vf = _number(item, "video_frames", int, file)
    duration = vf / FPS if vf is not None else None
    rel = file if (root / file).exists() or Path(file).parts[0] == split else f"{split}/{file}"
    return VideoRecord(
        video_id=video_id_from_file(file),
        split=split,
        path=root / rel,
        file=file,
        fake_periods=_periods(item.get("fake_segments"), file),
        modify_video=mtype in ("visual_modified", "both_modified"),
        modify_audio=mtype in ("audio_modified", "both_modified"),
        video_frames=vf,
        audio_frames=_number(item, "audio_frames", int, file),
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
    """Records that pass every check. THE duplicate rule: a second entry for a split's video id is a
    MetadataError naming both files (the first is kept), so it never silently replaces the first."""
    first: dict[tuple[str, str], str] = {}
    for make in records:
        try:
            rec = _finish(make() if callable(make) else make, check_files)
            key = (rec.split, rec.video_id)
            if key in first:
                raise MetadataError(
                    f"{rec.file}: duplicate entry for video {rec.split}/{rec.video_id} (first: {first[key]}; "
                    "the first is kept)"
                )
            first[key] = rec.file
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
    makers = (lambda it=it: _lavdf_record(it, root, str(meta_path)) for it in items)
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
        meta_path = root / f"{split}_metadata.json"
        items = _load_json(meta_path)
        if not isinstance(items, list):
            raise UserError(f"{meta_path}: expected a JSON list of videos (AV-Deepfake1M format)")
        base = root / split if (root / split).is_dir() else root
        makers = (lambda it=it: _av1m_record(it, base, ours, str(meta_path)) for it in items)
        out.extend(_validated(makers, None, check_files, skip_invalid, skipped))
    return out


def folder_skips(folder: Path) -> list[str]:
    """What a plain folder holds that looks like media but is not a video to read, one line each: folders
    named like videos, broken links, audio-only files (by extension)."""
    out = []
    for p in sorted(folder.rglob("*")):
        ext = p.suffix.lower()
        if ext in VIDEO_EXTENSIONS and p.is_dir():
            out.append(f"{p}: is a directory, not a video file (skipped)")
        elif ext in VIDEO_EXTENSIONS + AUDIO_EXTENSIONS and p.is_symlink() and not p.exists():
            out.append(f"{p}: broken link (skipped)")
        elif ext in AUDIO_EXTENSIONS and p.is_file():
            out.append(f"{p}: audio only, no video (skipped)")
    return out


def read_folder(
    folder: str | Path, split: str = "test", skipped: SkipCounter | None = None, **_ignored
) -> list[VideoRecord]:
    """A plain folder of videos, no labels: for inference on a user's own files.

    The id is the relative path without its extension, folders joined by '__'; files whose ids would
    collide (``x.mp4`` and ``x.mkv``) keep their extension (``x_mp4``, ``x_mkv``), and a numbered suffix
    settles any clash left, so no video's features overwrite another's. Folders named like videos, broken
    links and audio-only files are not read: they are listed in ``skipped`` (:func:`folder_skips`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    if skipped is not None:
        skipped.skipped.extend(folder_skips(folder))
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    rels = [p.relative_to(folder) for p in files]
    plain = ["__".join(r.with_suffix("").parts) for r in rels]
    clash = {i for i, n in Counter(plain).items() if n > 1}
    ids: list[str] = []
    taken = set(plain) - clash
    for r, vid in zip(rels, plain):
        if vid in clash:
            base = vid + "_" + r.suffix.lstrip(".")
            vid, n = base, 2
            while vid in taken:
                vid, n = f"{base}-{n}", n + 1
        taken.add(vid)
        ids.append(check_video_id(vid, str(folder / r)))
    return [VideoRecord(video_id=vid, split=split, path=p, file=str(r)) for p, r, vid in zip(files, rels, ids)]


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
