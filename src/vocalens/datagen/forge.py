"""Partial fakes made from real talking-face videos (``vocalens forge``), in LAV-DF's layout.

Every source video (any container, fps, size) is decoded onto the 25 fps / 16 kHz grid, its
longest side capped, and written once as a real copy plus ``fakes_per_video`` partially
manipulated copies. A fake has 1..``max_fakes`` periods; inside each period, and only there:

* audio ``replace``: speech from another source of the same split, loudness-matched to this
  video's speech level and cross-faded over ``crossfade_ms`` inside the period's edges;
* audio ``shift``: this video's own audio from ``0.2..0.6`` s earlier (or later), i.e. the
  period is out of sync with the face;
* visual ``mouth``: the mouth region from another moment of the same video, aligned by the
  face track (``vocalens.media.faces``), colour-matched and blended through a soft ellipse;
* ``both``: a visual and an audio manipulation over the same period.

Periods start and end on frame boundaries (``[s/25, e/25)`` seconds), so
``frame_labels(fake_periods)`` marks exactly the frames that were changed. Splits are by source
(a source's real copy, its fakes and the speech donated to its fakes stay in one split).
Each source derives its plan from ``(seed, source index)`` only; videos are written atomically,
a per-source record goes to ``.forge/parts/`` so a killed run resumes, and the metadata files
are written last.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vocalens.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from vocalens.data.metadata import SPLITS, VIDEO_EXTENSIONS, lavdf_entry, write_lavdf_metadata
from vocalens.datagen.parts import (
    SILENT_LEVEL,
    PartsSummary,
    donor_speech,
    read_source,
    run_parts,
    speech_level,
    write_fakes,
)
from vocalens.errors import UserError
from vocalens.fileio import write_json_atomic
from vocalens.media import faces


@dataclass
class ForgeConfig:
    """The knobs of a forge run (all of them, so a resumed run can check it is the same run)."""

    seed: int = 0
    fakes_per_video: int = 3
    max_fakes: int = 3  # fake periods per fake video: 1..max_fakes
    min_fake_s: float = 0.4
    max_fake_s: float = 1.6
    min_gap_s: float = 0.4  # between two periods of one video
    shift_s: tuple[float, float] = (0.2, 0.6)
    crossfade_ms: float = 10.0
    max_side: int = 360
    max_seconds: float = 30.0  # longer sources are cut (memory stays bounded); 0 = no cap
    min_seconds: float = 1.0
    split_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    face_detector: str = "haar"
    face_stride: int = 5
    min_face_ratio: float = 0.5  # a source with faces in fewer frames gets no visual fakes
    crf: int = 23
    name_prefix: str = ""  # output files are {split}/{name_prefix}NNNNNN.mp4 (two sets can share one feature store)


class ForgeSummary(PartsSummary):
    """A forge run; ``counts``: (split, kind) -> videos."""


# --------------------------------------------------------------------------------- planning


def list_sources(videos_dir: str | Path) -> list[Path]:
    d = Path(videos_dir)
    if not d.is_dir():
        raise UserError(f"{d}: not a folder of videos")
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not files:
        raise UserError(f"{d}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
    return files


def assign_splits(n: int, ratios, seed: int) -> list[str]:
    """Split by source: a seeded permutation cut by ``ratios`` (train, dev, test); with three or more
    sources every split with a positive ratio gets at least one."""
    r = np.asarray(ratios, np.float64)
    if len(r) != 3 or (r < 0).any() or r.sum() <= 0:
        raise UserError(f"split ratios must be three non-negative numbers (train dev test), got {list(ratios)}")
    r = r / r.sum()
    counts = np.floor(r * n).astype(int)
    for i in np.argsort(-(r * n - counts))[: n - counts.sum()]:  # largest remainders
        counts[i] += 1
    for i in (1, 2, 0):  # at least one source in each used split when there are enough
        if r[i] > 0 and counts[i] == 0 and n >= int((r > 0).sum()):
            counts[i] += 1
            counts[int(np.argmax(counts))] -= 1
    order = np.random.default_rng([seed, 7919]).permutation(n)
    splits = [""] * n
    names = np.repeat(np.array(SPLITS), counts)
    for pos, src in enumerate(order):
        splits[src] = str(names[pos])
    return splits


def place_periods(
    rng: np.random.Generator, num_frames: int, n: int, min_len: int, max_len: int, gap: int
) -> list[tuple[int, int]]:
    """``n`` non-overlapping frame ranges [s, e) at least ``gap`` apart (fewer if they do not fit)."""
    while n > 0:
        lens = rng.integers(min_len, max_len + 1, n)
        free = num_frames - int(lens.sum()) - (n - 1) * gap
        if free >= 0:
            pos = np.sort(rng.integers(0, free + 1, n))
            starts = pos + np.concatenate([[0], np.cumsum(lens[:-1] + gap)])
            return [(int(s), int(s + m)) for s, m in zip(starts, lens)]
        n -= 1
    return []


# --------------------------------------------------------------------------------- audio


def _edge_ramp(length: int, xf: int) -> np.ndarray:
    """1 inside, raised-cosine ramps of ``xf`` samples at both ends (all inside [0, length))."""
    w = np.ones(length, np.float32)
    xf = min(xf, length // 4)
    if xf > 0:
        r = (0.5 - 0.5 * np.cos(np.pi * (np.arange(xf) + 0.5) / xf)).astype(np.float32)
        w[:xf] = r
        w[-xf:] = r[::-1]
    return w


def replace_audio(
    audio: np.ndarray, s: int, e: int, donor: np.ndarray, rng: np.random.Generator, target_level: float, xf: int
) -> dict | None:
    """Samples [s, e) := a loudness-matched speech window of ``donor``, cross-faded inside the edges."""
    n = e - s
    if len(donor) < n:
        return None
    hop = 320
    starts = np.arange(0, len(donor) - n + 1, hop)
    energy = np.convolve(donor**2, np.ones(n, np.float32) / n, mode="valid")[starts]
    cand = starts[energy >= np.median(energy)]  # speech, not a pause
    d0 = int(rng.choice(cand))
    win = donor[d0 : d0 + n]
    gain = float(np.clip(target_level / max(speech_level(donor), 1e-6), 0.1, 10.0))
    w = _edge_ramp(n, xf)
    audio[s:e] = w * np.clip(win * gain, -1, 1) + (1 - w) * audio[s:e]
    return {"donor_start_s": round(d0 / SAMPLE_RATE, 4), "gain": round(gain, 4)}


def shift_audio(
    audio: np.ndarray, orig: np.ndarray, s: int, e: int, rng: np.random.Generator, shift_s: tuple[float, float], xf: int
) -> dict | None:
    """Samples [s, e) := the same video's audio ``d`` seconds earlier (delay) or later (advance)."""
    d = int(round(rng.uniform(*shift_s) * SAMPLE_RATE))
    options = [sign for sign in (1, -1) if 0 <= s - sign * d and e - sign * d <= len(orig)]
    if not options:
        return None
    sign = int(rng.choice(options))
    w = _edge_ramp(e - s, xf)
    audio[s:e] = w * orig[s - sign * d : e - sign * d] + (1 - w) * audio[s:e]
    return {"shift_s": round(sign * d / SAMPLE_RATE, 4)}  # positive: audio lags the face


# --------------------------------------------------------------------------------- visual


def _ellipse_mask(h: int, w: int, cx: float, cy: float, a: float, b: float) -> np.ndarray:
    """Soft ellipse: 1 inside 0.8 of the radii, smooth to 0 at 1.15 (a feathered mouth patch)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx + 0.5 - cx) / a) ** 2 + ((yy + 0.5 - cy) / b) ** 2)
    t = np.clip((1.15 - r) / 0.35, 0, 1)
    return (t * t * (3 - 2 * t))[..., None]


def swap_mouth(frames: np.ndarray, orig: np.ndarray, track: faces.FaceTrack, s: int, e: int, offset: int) -> float:
    """Frames [s, e): mouth region := the mouth of frame t+offset, aligned by the face boxes,
    colour-matched and blended through a soft ellipse. Returns the mean change (grey levels)
    inside the ellipse."""
    import cv2  # noqa: PLC0415

    h, w = frames.shape[1:3]
    mb = faces.mouth_boxes(track.boxes)
    side = track.boxes[:, 2] - track.boxes[:, 0]
    change = []
    for t in range(s, e):  # one small warp per frame of the period
        src = t + offset
        x0, y0, x1, y1 = mb[t]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a, b = (x1 - x0) / 2, (y1 - y0) / 2
        rx0, ry0 = int(max(0, np.floor(cx - 1.2 * a))), int(max(0, np.floor(cy - 1.2 * b)))
        rx1, ry1 = int(min(w, np.ceil(cx + 1.2 * a))), int(min(h, np.ceil(cy + 1.2 * b)))
        if rx1 - rx0 < 4 or ry1 - ry0 < 4:
            continue
        k = side[src] / side[t]
        sx0, sy0, sx1, sy1 = mb[src]
        scx, scy = (sx0 + sx1) / 2, (sy0 + sy1) / 2
        # region pixel (u, v) -> source pixel: k * ((u + rx0) - cx) + scx
        m = np.array([[k, 0, k * (rx0 - cx) + scx], [0, k, k * (ry0 - cy) + scy]], np.float64)
        patch = cv2.warpAffine(
            orig[src],
            m,
            (rx1 - rx0, ry1 - ry0),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        ).astype(np.float32)
        mask = _ellipse_mask(ry1 - ry0, rx1 - rx0, cx - rx0, cy - ry0, a, b)
        target = orig[t, ry0:ry1, rx0:rx1].astype(np.float32)
        wsum = mask.sum() + 1e-6
        patch += ((target * mask).sum((0, 1)) - (patch * mask).sum((0, 1))) / wsum  # colour match
        out = mask * patch + (1 - mask) * target
        frames[t, ry0:ry1, rx0:rx1] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        inside = mask[..., 0] > 0.5
        change.append(float(np.abs(out - target)[inside].mean()) if inside.any() else 0.0)
    return float(np.mean(change)) if change else 0.0


# --------------------------------------------------------------------------------- one source


@dataclass
class Source:
    index: int
    path: Path
    name: str
    split: str


class DonorPool:
    """Speech donors: the other usable sources of the same split, audio loaded on demand."""

    def __init__(self, sources: list[Source], cache: int = 8):
        self.by_split: dict[str, list[Source]] = {}
        for s in sources:
            self.by_split.setdefault(s.split, []).append(s)
        self._cache: dict[int, np.ndarray | None] = {}
        self._order: list[int] = []
        self._limit = cache

    def _audio(self, src: Source) -> np.ndarray | None:
        if src.index not in self._cache:
            self._cache[src.index] = donor_speech(src.path)
            self._order.append(src.index)
            if len(self._order) > self._limit:
                self._cache.pop(self._order.pop(0), None)
        return self._cache[src.index]

    def pick(self, target: Source, rng: np.random.Generator, min_samples: int) -> tuple[Source, np.ndarray] | None:
        others = [s for s in self.by_split.get(target.split, []) if s.index != target.index]
        for j in rng.permutation(len(others))[:8]:
            a = self._audio(others[j])
            if a is not None and len(a) >= min_samples:
                return others[j], a
        return None

    def has_donors(self, target: Source) -> bool:
        return any(s.index != target.index for s in self.by_split.get(target.split, []))


def _entry(
    file: str,
    split: str,
    periods: list[tuple[int, int]],
    original: str | None,
    mv: bool,
    ma: bool,
    num_frames: int,
    extra: dict,
) -> dict:
    return lavdf_entry(
        file,
        split,
        [[s / FPS, e / FPS] for s, e in periods],
        num_frames,
        original=original,
        modify_video=mv,
        modify_audio=ma,
        **extra,
    )


def _frame_change(new: np.ndarray, old: np.ndarray) -> float:
    """Median over the period's video frames of the RMS audio change: most of the period must change."""
    n = len(new) // SAMPLES_PER_FRAME
    d = (new[: n * SAMPLES_PER_FRAME] - old[: n * SAMPLES_PER_FRAME]).reshape(n, SAMPLES_PER_FRAME)
    return float(np.median(np.sqrt((d**2).mean(axis=1))))


def make_fake(
    kind: str,
    frames: np.ndarray,
    audio: np.ndarray,
    track: faces.FaceTrack,
    src: Source,
    donors: DonorPool,
    rng: np.random.Generator,
    cfg: ForgeConfig,
    level: float,
    tries: int = 20,
):
    """One fake of ``kind`` ('audio' | 'visual' | 'both'): (frames, audio, periods, details) or None."""
    t_len = len(frames)
    min_len = max(1, int(round(cfg.min_fake_s * FPS)))
    max_len = max(min_len, int(round(cfg.max_fake_s * FPS)))
    gap = int(round(cfg.min_gap_s * FPS))
    xf = int(round(cfg.crossfade_ms * SAMPLE_RATE / 1000))
    n_want = int(rng.integers(1, cfg.max_fakes + 1))
    for attempt in range(tries):
        n = max(1, n_want - attempt // 5)  # fewer periods when they keep failing
        periods = place_periods(rng, t_len, n, min_len, max_len, gap)
        if not periods:
            return None
        out_f = frames.copy() if kind != "audio" else frames
        out_a = audio.copy() if kind != "visual" else audio
        details = []
        ok = True
        for s, e in periods:
            d = {"period_frames": [s, e]}
            if kind in ("visual", "both"):
                if not track.found[s:e].all():
                    ok = False
                    break
                lo, hi = -s, t_len - e  # offsets keeping [s+o, e+o) inside the video
                far = max(e - s, 10)
                offs = np.array([o for o in range(lo, hi + 1) if abs(o) >= far and track.found[s + o : e + o].all()])
                if len(offs) == 0:
                    ok = False
                    break
                o = int(rng.choice(offs))
                change = swap_mouth(out_f, frames, track, s, e, o)
                if change < 2.0:  # the other moment looked the same: not a real manipulation
                    ok = False
                    break
                d.update(visual="mouth", source_offset_s=o / FPS)
            if kind in ("audio", "both"):
                a0, a1 = s * SAMPLES_PER_FRAME, e * SAMPLES_PER_FRAME
                how = "replace" if donors.has_donors(src) and rng.random() < 0.5 else "shift"
                info = None
                if how == "replace":
                    picked = donors.pick(src, rng, a1 - a0)
                    if picked is not None:
                        info = replace_audio(out_a, a0, a1, picked[1], rng, level, xf)
                        if info is not None:
                            info["donor"] = picked[0].name
                if info is None:
                    how = "shift"
                    info = shift_audio(out_a, audio, a0, a1, rng, cfg.shift_s, xf)
                if info is None or _frame_change(out_a[a0:a1], audio[a0:a1]) < 0.25 * level:
                    ok = False  # silence replaced by silence would be a fake label on unchanged audio
                    break
                d.update(audio=how, **info)
            details.append(d)
        if ok:
            return out_f, out_a, periods, details
    return None


def forge_source(src: Source, cfg: ForgeConfig, out_root: Path, donors: DonorPool) -> dict:
    """Decode one source and write its real copy and fakes; returns its part record."""
    got = read_source(src.path, cfg)
    if isinstance(got, dict):
        return got
    frames, audio = got
    t_len = len(frames)
    rng = np.random.default_rng([cfg.seed, src.index])
    track = faces.detect_faces(frames, stride=cfg.face_stride, detector=cfg.face_detector)
    level = speech_level(audio)
    can_audio = level >= SILENT_LEVEL
    can_visual = track.found_ratio >= cfg.min_face_ratio
    note = []
    if not can_audio:
        note.append("silent audio: no audio fakes")
    if not can_visual:
        note.append(f"faces in {track.found_ratio:.0%} of frames: no visual fakes")
    block = 1 + cfg.fakes_per_video
    files = [f"{src.split}/{cfg.name_prefix}{src.index * block + j:06d}.mp4" for j in range(block)]
    base = {"source": src.name}
    kinds = [
        k
        for k in ("audio", "visual", "both")
        if (k != "audio" or can_audio) and (k != "visual" or can_visual) and (k != "both" or (can_audio and can_visual))
    ]
    plan = [kinds[(j + int(rng.integers(0, 3))) % len(kinds)] for j in range(cfg.fakes_per_video)] if kinds else []
    entries = write_fakes(
        out_root,
        files,
        frames,
        audio,
        cfg.crf,
        plan,
        lambda kind: make_fake(kind, frames, audio, track, src, donors, rng, cfg, level),
        lambda file: _entry(
            file, src.split, [], None, False, False, t_len, {**base, "faces_found": round(track.found_ratio, 4)}
        ),
        lambda file, kind, periods, details: _entry(
            file,
            src.split,
            periods,
            files[0],
            kind != "audio",
            kind != "visual",
            t_len,
            {**base, "manipulations": details},
        ),
        note,
    )
    return {"entries": entries, "note": "; ".join(note)}


# --------------------------------------------------------------------------------- the run


def _count_key(e: dict) -> tuple[str, str]:
    """(split, kind) of a metadata entry: what ``ForgeSummary.counts`` counts."""
    kind = (
        "both"
        if e["modify_video"] and e["modify_audio"]
        else "visual"
        if e["modify_video"]
        else "audio"
        if e["modify_audio"]
        else "real"
    )
    return e["split"], kind


def forge_dataset(
    videos_dir: str | Path, output_root: str | Path, seed: int = 0, progress: bool = True, log=print, **knobs
) -> ForgeSummary:
    """Turn a folder of real talking-face videos into a LAV-DF-layout dataset of partial fakes.

    ``knobs`` are :class:`ForgeConfig` fields. Re-running with the same settings into the same
    ``output_root`` resumes: sources already done are not redone.
    """
    cfg = ForgeConfig(seed=seed, **knobs)
    if cfg.fakes_per_video < 0 or cfg.max_fakes < 1 or not 0 < cfg.min_fake_s <= cfg.max_fake_s:
        raise UserError(
            f"bad forge settings: fakes_per_video={cfg.fakes_per_video}, max_fakes={cfg.max_fakes}, "
            f"fake length {cfg.min_fake_s}..{cfg.max_fake_s} s"
        )
    faces.resolve_detector(cfg.face_detector)
    out_root = Path(output_root)
    videos_dir = Path(videos_dir)
    paths = list_sources(videos_dir)
    splits = assign_splits(len(paths), cfg.split_ratios, cfg.seed)
    sources = [Source(i, p, str(p.relative_to(videos_dir)), sp) for i, (p, sp) in enumerate(zip(paths, splits))]
    conf = {**asdict(cfg), "videos": str(videos_dir.resolve()), "sources": [s.name for s in sources]}
    conf = json.loads(json.dumps(conf))  # tuples -> lists, as read back
    conf_path = out_root / ".forge" / "config.json"
    if conf_path.is_file():
        if json.loads(conf_path.read_text()) != conf:
            raise UserError(f"{out_root}: holds a forge run with other settings or sources; use a new --output_root")
    else:
        write_json_atomic(conf_path, conf)
    summary = ForgeSummary(output_root=out_root, sources=len(sources))
    donors = DonorPool(sources)
    t0 = time.perf_counter()
    entries = run_parts(
        sources,
        out_root,
        "forge",
        lambda src: forge_source(src, cfg, out_root, donors),
        summary,
        _count_key,
        progress,
        log,
    )
    entries.sort(key=lambda e: e["file"].split("/")[-1])
    write_lavdf_metadata(out_root, entries)
    summary.seconds = time.perf_counter() - t0
    return summary
