"""A second fake recipe, for evaluation only (``vocalens splice``): other artefacts than ``forge``.

A detector trained on ``forge`` output may learn forge's own traces (raised-cosine cross-fades,
speech of the same split's speakers at matched level, a colour-matched mouth from the same person
blended through a soft ellipse). ``splice`` makes partial fakes of the same real videos with
different tools, so its numbers do not reward those traces. Every period is a *hard cut* (no
cross-fade, no colour matching):

* audio ``tts``: espeak-ng speech of random words (a voice of the other sex than this video's
  pitch suggests), loudness-matched, replacing the period (as LAV-DF's synthetic voices do);
* audio ``other_speaker``: speech from the source whose median pitch (F0) is farthest from this
  one's (a proxy for a speaker of the other sex);
* audio ``stretch``: this video's own audio from the period's start, resampled by 0.75-0.85 or
  1.2-1.35 (tempo and pitch change together) and cut to the period: it drifts out of sync;
* visual ``mouth_swap``: the lower face of ANOTHER source video (another person), taken from
  that video's face track, resized onto this face's mouth box and pasted with a hard or 3 px
  linearly feathered rectangular edge;
* ``both``: ``mouth_swap`` and one of the audio manipulations over the same period.

Output is LAV-DF's layout, like ``forge`` (real copy + ``fakes_per_video`` fakes per source),
all in one ``split`` (the input is a folder of evaluation videos). Periods lie on the 25 fps grid
so ``frame_labels`` marks exactly the changed frames. Seeded per source, atomic writes, resumable
(``.splice/parts/``), a source that cannot be decoded is reported and skipped.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import resample_poly

from vocalens.constants import FPS, SAMPLES_PER_FRAME
from vocalens.data.metadata import SPLITS, write_lavdf_metadata
from vocalens.datagen.forge import _entry, _frame_change, list_sources, place_periods
from vocalens.datagen.parts import (
    SILENT_LEVEL,
    PartsSummary,
    donor_speech,
    load_source,
    read_source,
    run_parts,
    speech_level,
    write_fakes,
)
from vocalens.errors import UserError
from vocalens.fileio import write_json_atomic
from vocalens.media import faces
from vocalens.media.video import SAMPLE_RATE

RECIPE = "splice"
AUDIO_TYPES = ("tts", "other_speaker", "stretch")
TYPES = AUDIO_TYPES + ("mouth_swap", "both")
MOUTH_CROP = (96, 128)  # donor lower faces are kept at this (h, w), resized onto the target box
WORDS = (
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night point "
    "home water room mother area money story fact month lot right study book eye job word business issue "
    "side kind head house service friend father power hour game line end member law car city community name "
    "president team minute idea kid body information back parent face others level office door health person "
    "art war history party result change morning reason research girl guy moment air teacher force education "
    "river table seven garden yellow window silver market winter bridge coffee paper music letter"
).split()


@dataclass
class SpliceConfig:
    """All knobs of a splice run (a resumed run checks it is the same run)."""

    seed: int = 0
    split: str = "test"
    fakes_per_video: int = 2
    max_periods: int = 2  # periods per fake video: 1..max_periods
    min_fake_s: float = 0.5
    max_fake_s: float = 2.5
    min_gap_s: float = 0.4
    slow: tuple[float, float] = (0.75, 0.85)  # stretch rates below 1 (slower, lower) ...
    fast: tuple[float, float] = (1.2, 1.35)  # ... and above 1 (faster, higher)
    feather_px: int = 3  # half of the mouth swaps get a linear edge this wide, the other half a hard one
    types: tuple[str, ...] = TYPES
    max_side: int = 360
    max_seconds: float = 30.0
    min_seconds: float = 1.0
    face_detector: str = "haar"
    face_stride: int = 5
    min_face_ratio: float = 0.5
    crf: int = 23
    speakers: str | None = None  # TSV with `name` and `speaker_id` columns: one speaker never donates to itself


class SpliceSummary(PartsSummary):
    """A splice run; ``counts``: manipulation type ('real', 'tts', ...) -> videos."""


# --------------------------------------------------------------------------------- audio analysis


def median_f0(audio: np.ndarray, sr: int = SAMPLE_RATE, fmin: float = 70.0, fmax: float = 400.0) -> float:
    """Median pitch (Hz) over voiced 40 ms windows, by normalised autocorrelation; 0 when none is voiced.

    Good enough to tell a low voice from a high one, which is all it is used for."""
    win, hop = int(0.04 * sr), int(0.01 * sr)
    n = (len(audio) - win) // hop + 1
    if n <= 0:
        return 0.0
    idx = np.arange(win)[None] + hop * np.arange(n)[:, None]
    x = audio[idx].astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    energy = (x**2).sum(axis=1)
    loud = energy >= max(np.percentile(energy, 50), 1e-8 * win)
    x = x[loud] * np.hanning(win)[None]
    if not len(x):
        return 0.0
    spec = np.fft.rfft(x, 2 * win, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]
    ac /= ac[:, :1] + 1e-12
    lo, hi = int(sr / fmax), int(sr / fmin)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    voiced = ac[np.arange(len(ac)), lag] > 0.5
    return float(np.median(sr / lag[voiced])) if voiced.any() else 0.0


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


def tts_speech(words: list[str], voice: str, speed: int, binary: str) -> np.ndarray:
    """espeak-ng speech of ``words`` as 16 kHz float32, leading/trailing silence trimmed."""
    out = subprocess.run(
        [binary, "-v", voice, "-s", str(speed), "--stdout", " ".join(words)],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        sr = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    g = np.gcd(sr, SAMPLE_RATE)
    a = resample_poly(pcm, SAMPLE_RATE // g, sr // g).astype(np.float32)
    loud = np.flatnonzero(np.abs(a) > 0.02 * max(np.abs(a).max(), 1e-6))
    return a[loud[0] : loud[-1] + 1] if len(loud) else a


def stretch(orig: np.ndarray, a0: int, n: int, rate: float) -> np.ndarray | None:
    """``n`` samples of ``orig`` from ``a0`` played at ``rate`` x speed (resampling: pitch moves too)."""
    m = int(round(n * rate))
    if a0 + m > len(orig):
        return None
    return resample_poly(orig[a0 : a0 + m].astype(np.float64), n, m)[:n].astype(np.float32)


# --------------------------------------------------------------------------------- sources and donors


@dataclass
class Source:
    index: int
    path: Path
    name: str
    speaker: str = ""  # sources of one speaker never donate speech or faces to each other


CHUNK_SUFFIX = re.compile(r"__c\d+$")  # `vocalens.datagen.corpus` cuts clip X into X__c00.mp4, X__c01.mp4, ...


def clip_stem(path: str | Path) -> str:
    """The file's stem without a chunk suffix: the pieces of one clip are one speaker."""
    return CHUNK_SUFFIX.sub("", Path(path).stem)


def read_speakers(path: str | Path) -> dict[str, str]:
    """Clip stem -> speaker from a TSV with ``name`` and ``speaker_id`` columns (e.g. real-corpus clips.tsv)."""
    p = Path(path)
    try:
        rows = [ln.split("\t") for ln in p.read_text().splitlines() if ln.strip()]
        head = rows[0]
        i, j = head.index("name"), head.index("speaker_id")
        return {clip_stem(r[i]): r[j] for r in rows[1:]}
    except (OSError, IndexError, ValueError) as e:
        raise UserError(f"{p}: not a TSV with 'name' and 'speaker_id' columns ({e.__class__.__name__}: {e})")


class Donors:
    """What other sources lend: speech (loaded on demand) and lower faces (face-tracked on demand)."""

    def __init__(self, sources: list[Source], cfg: SpliceConfig, out_root: Path, cache: int = 4):
        self.sources = sources
        self.cfg = cfg
        self.out_root = out_root
        self._audio: dict[int, np.ndarray | None] = {}
        self._mouths: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        self._cache = cache
        self._f0: dict[int, float] | None = None

    def audio(self, i: int) -> np.ndarray | None:
        if i not in self._audio:
            a = donor_speech(self.sources[i].path)
            if len(self._audio) >= self._cache:
                self._audio.pop(next(iter(self._audio)))
            self._audio[i] = a
        return self._audio[i]

    def f0(self) -> dict[int, float]:
        """Median F0 of every source with speech, computed once per run and kept in ``.splice/f0.json``."""
        if self._f0 is None:
            path = self.out_root / ".splice" / "f0.json"
            if path.is_file():
                self._f0 = {int(k): v for k, v in json.loads(path.read_text()).items()}
            else:
                self._f0 = {}
                for s in self.sources:
                    a = self.audio(s.index)
                    f = median_f0(a) if a is not None else 0.0
                    if f > 0:
                        self._f0[s.index] = round(f, 2)
                write_json_atomic(path, {str(k): v for k, v in self._f0.items()})
        return self._f0

    def by_pitch_distance(self, i: int) -> list[int]:
        """Other sources with speech, the farthest median F0 from source ``i``'s first."""
        f0 = self.f0()
        mine = f0.get(i)
        others = [j for j in f0 if self.other_person(i, j)]
        if mine is None:
            return others
        return sorted(others, key=lambda j: (-abs(np.log(f0[j] / mine)), j))

    def other_person(self, i: int, j: int) -> bool:
        return j != i and self.sources[j].speaker != self.sources[i].speaker

    def mouths(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Source ``i``'s lower faces [T, *MOUTH_CROP, 3] and where a face was found [T], or None."""
        if i not in self._mouths:
            res = None
            try:
                frames, _ = load_source(self.sources[i].path, self.cfg)
                track = faces.detect_faces(frames, stride=self.cfg.face_stride, detector=self.cfg.face_detector)
                if track.found_ratio >= self.cfg.min_face_ratio:
                    res = (faces.crop_regions(frames, lower_face_boxes(track.boxes), MOUTH_CROP), track.found)
            except Exception:  # noqa: BLE001 - a broken source is simply not a donor
                res = None
            if len(self._mouths) >= self._cache:
                self._mouths.pop(next(iter(self._mouths)))
            self._mouths[i] = res
        return self._mouths[i]


def lower_face_boxes(face_boxes: np.ndarray) -> np.ndarray:
    """The mouth box of ``vocalens.media.faces`` widened by 20 %: lips, their corners and the chin's top."""
    mb = faces.mouth_boxes(face_boxes).astype(np.float64)
    c = (mb[:, :2] + mb[:, 2:]) / 2
    half = (mb[:, 2:] - mb[:, :2]) / 2 * 1.2
    return np.concatenate([c - half, c + half], axis=1).astype(np.float32)


# --------------------------------------------------------------------------------- manipulations


def _edge_mask(h: int, w: int, feather: int) -> np.ndarray:
    """1 inside a rectangle, a linear ramp of ``feather`` px at its border (0 px: a hard edge)."""
    if feather <= 0:
        return np.ones((h, w, 1), np.float32)
    ry = np.minimum(np.arange(h) + 1, h - np.arange(h)) / (feather + 1)
    rx = np.minimum(np.arange(w) + 1, w - np.arange(w)) / (feather + 1)
    return np.clip(np.minimum(ry[:, None], rx[None]), 0, 1).astype(np.float32)[..., None]


def paste_mouths(
    frames: np.ndarray, boxes: np.ndarray, s: int, e: int, donor: np.ndarray, d0: int, feather: int
) -> float:
    """Frames [s, e): the lower-face box := donor lower faces d0.. resized to it. Returns the mean change."""
    h, w = frames.shape[1:3]
    change = []
    for t in range(s, e):
        x0, y0, x1, y1 = boxes[t]
        x0, y0 = int(max(0, round(x0))), int(max(0, round(y0)))
        x1, y1 = int(min(w, round(x1))), int(min(h, round(y1)))
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        patch = cv2.resize(donor[d0 + t - s], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32)
        target = frames[t, y0:y1, x0:x1].astype(np.float32)
        m = _edge_mask(y1 - y0, x1 - x0, feather)
        out = m * patch + (1 - m) * target
        frames[t, y0:y1, x0:x1] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        change.append(float(np.abs(out - target).mean()))
    return float(np.mean(change)) if len(change) == e - s else 0.0  # every frame of the period must change


def _tts_voice(my_f0: float | None, rng: np.random.Generator) -> str:
    """A female espeak voice for a low voice, a male one for a high voice (unknown pitch: either)."""
    sex = "f" if my_f0 is not None and my_f0 < 165 else "m" if my_f0 is not None else str(rng.choice(["f", "m"]))
    return f"{rng.choice(['en-us', 'en-gb', 'en'])}+{sex}{int(rng.integers(1, 5))}"


def audio_period(
    how: str,
    out_a: np.ndarray,
    orig: np.ndarray,
    a0: int,
    a1: int,
    src: Source,
    donors: Donors,
    rng: np.random.Generator,
    cfg: SpliceConfig,
    level: float,
) -> dict | None:
    """Samples [a0, a1) of ``out_a`` := one audio manipulation, hard cut at both edges; its record or None."""
    n = a1 - a0
    if how == "stretch":
        rate = float(rng.uniform(*(cfg.slow if rng.random() < 0.5 else cfg.fast)))
        seg = stretch(orig, a0, n, rate)
        if seg is None:
            rate = float(rng.uniform(*cfg.slow))  # slowing down needs less audio after the period
            seg = stretch(orig, a0, n, rate)
        if seg is None:
            return None
        out_a[a0:a1] = seg
        return {"audio": "stretch", "rate": round(rate, 4)}
    if how == "other_speaker":
        for j in donors.by_pitch_distance(src.index)[:3]:
            d = donors.audio(j)
            if d is None or len(d) < n:
                continue
            hop = 320
            starts = np.arange(0, len(d) - n + 1, hop)
            energy = np.convolve(d**2, np.ones(n, np.float32) / n, mode="valid")[starts]
            d0 = int(rng.choice(starts[energy >= np.median(energy)]))  # speech, not a pause
            gain = float(np.clip(level / max(speech_level(d), 1e-6), 0.1, 10.0))
            out_a[a0:a1] = np.clip(d[d0 : d0 + n] * gain, -1, 1)
            f0 = donors.f0()
            return {
                "audio": "other_speaker",
                "donor": donors.sources[j].name,
                "donor_start_s": round(d0 / SAMPLE_RATE, 4),
                "gain": round(gain, 4),
                "f0_hz": f0.get(src.index),
                "donor_f0_hz": f0.get(j),
            }
        return None
    if how == "tts":
        binary = espeak_binary()
        if binary is None:
            return None
        voice = _tts_voice(donors.f0().get(src.index), rng)
        speed = int(rng.integers(140, 190))
        words = [str(w) for w in rng.choice(WORDS, int(np.ceil(n / SAMPLE_RATE * 3)) + 2)]
        speech = tts_speech(words, voice, speed, binary)
        while len(speech) < n:  # short: say more words after a short pause
            speech = np.concatenate(
                [
                    speech,
                    np.zeros(1600, np.float32),
                    tts_speech([str(w) for w in rng.choice(WORDS, 4)], voice, speed, binary),
                ]
            )
        gain = float(np.clip(level / max(speech_level(speech), 1e-6), 0.1, 10.0))
        out_a[a0:a1] = np.clip(speech[:n] * gain, -1, 1)
        return {"audio": "tts", "voice": voice, "speed_wpm": speed, "words": " ".join(words), "gain": round(gain, 4)}
    raise ValueError(how)


def make_fake(
    kind: str,
    frames: np.ndarray,
    audio: np.ndarray,
    track: faces.FaceTrack | None,
    src: Source,
    donors: Donors,
    rng: np.random.Generator,
    cfg: SpliceConfig,
    level: float,
    audio_kinds: list[str],
    tries: int = 12,
):
    """One fake of ``kind`` (a name in TYPES): (frames, audio, periods, details) or None."""
    t_len = len(frames)
    min_len = max(1, int(round(cfg.min_fake_s * FPS)))
    max_len = min(max(min_len, int(round(cfg.max_fake_s * FPS))), t_len)  # short clips get shorter periods
    if max_len < min_len:
        return None
    gap = int(round(cfg.min_gap_s * FPS))
    visual = kind in ("mouth_swap", "both")
    n_want = int(rng.integers(1, cfg.max_periods + 1))
    boxes = lower_face_boxes(track.boxes) if visual else None
    mouth_donors = donors.by_pitch_distance(src.index) if visual else []
    if visual:  # sources without speech can lend a face too
        mouth_donors += [
            s.index for s in donors.sources if donors.other_person(src.index, s.index) and s.index not in mouth_donors
        ]
    for attempt in range(tries):
        n = max(1, n_want - attempt // 4)
        periods = place_periods(rng, t_len, n, min_len, max_len, gap)
        if not periods:
            return None
        out_f = frames.copy() if visual else frames
        out_a = audio.copy() if kind != "mouth_swap" else audio
        details, ok = [], True
        for s, e in periods:
            d = {"period_frames": [s, e]}
            if visual:
                if not track.found[s:e].all():
                    ok = False
                    break
                pasted = False
                half = mouth_donors[: max(1, len(mouth_donors) // 2 + 1)]  # the farther-pitched half, any order
                for j in [half[k] for k in rng.permutation(len(half))] + mouth_donors[len(half) :]:
                    m = donors.mouths(j)
                    if m is None:
                        continue
                    crops, found = m
                    runs = [d0 for d0 in range(len(found) - (e - s) + 1) if found[d0 : d0 + e - s].all()]
                    if not runs:
                        continue
                    d0 = int(rng.choice(runs))
                    feather = cfg.feather_px if rng.random() < 0.5 else 0
                    change = paste_mouths(out_f, boxes, s, e, crops, d0, feather)
                    if change >= 2.0:
                        d.update(
                            visual="mouth_swap",
                            donor_face=donors.sources[j].name,
                            donor_start_s=round(d0 / FPS, 4),
                            edge="hard" if feather == 0 else f"feather{feather}px",
                            mean_change=round(change, 2),
                        )
                        pasted = True
                        break
                    out_f[s:e] = frames[s:e]  # too similar: undo, try another face
                if not pasted:
                    ok = False
                    break
            if kind != "mouth_swap":
                how = kind if kind in AUDIO_TYPES else str(rng.choice(audio_kinds))
                a0, a1 = s * SAMPLES_PER_FRAME, e * SAMPLES_PER_FRAME
                info = audio_period(how, out_a, audio, a0, a1, src, donors, rng, cfg, level)
                if info is None or _frame_change(out_a[a0:a1], audio[a0:a1]) < 0.25 * level:
                    ok = False  # unchanged audio must not be labelled fake
                    break
                d.update(info)
            details.append(d)
        if ok:
            return out_f, out_a, periods, details
    return None


# --------------------------------------------------------------------------------- one source


def splice_source(src: Source, cfg: SpliceConfig, out_root: Path, donors: Donors, tts_ok: bool) -> dict:
    """Decode one source, write its real copy and its fakes; returns its part record."""
    got = read_source(src.path, cfg)
    if isinstance(got, dict):
        return got
    frames, audio = got
    t_len = len(frames)
    rng = np.random.default_rng([cfg.seed, src.index, 0x5B1CE])
    level = speech_level(audio)
    can_audio = level >= SILENT_LEVEL
    track = (
        faces.detect_faces(frames, stride=cfg.face_stride, detector=cfg.face_detector)
        if {"mouth_swap", "both"} & set(cfg.types)
        else None
    )
    can_visual = (
        track is not None
        and track.found_ratio >= cfg.min_face_ratio
        and any(donors.other_person(src.index, s.index) for s in donors.sources)
    )
    audio_kinds = [
        k
        for k in AUDIO_TYPES
        if k in cfg.types and (k != "tts" or tts_ok) and (k != "other_speaker" or donors.by_pitch_distance(src.index))
    ]
    if not audio_kinds and "both" in cfg.types:  # 'both' alone still needs some audio manipulation
        audio_kinds = [
            k
            for k in AUDIO_TYPES
            if (k != "tts" or tts_ok) and (k != "other_speaker" or donors.by_pitch_distance(src.index))
        ]
    kinds = [
        k
        for k in cfg.types
        if (k in AUDIO_TYPES and can_audio and k in audio_kinds)
        or (k == "mouth_swap" and can_visual)
        or (k == "both" and can_visual and can_audio and audio_kinds)
    ]
    note = []
    if not can_audio:
        note.append("silent audio: no audio fakes")
    if track is not None and not can_visual:
        note.append(f"faces in {track.found_ratio:.0%} of frames: no visual fakes")
    block = 1 + cfg.fakes_per_video
    files = [f"{cfg.split}/{src.index * block + j:06d}.mp4" for j in range(block)]
    base = {"source": src.name, "recipe": RECIPE}
    # types rotate over the whole run (source i starts at i * fakes_per_video), so every type gets its share
    plan = (
        [kinds[(src.index * cfg.fakes_per_video + j) % len(kinds)] for j in range(cfg.fakes_per_video)] if kinds else []
    )
    entries = write_fakes(
        out_root,
        files,
        frames,
        audio,
        cfg.crf,
        plan,
        lambda kind: make_fake(kind, frames, audio, track, src, donors, rng, cfg, level, audio_kinds),
        lambda file: _entry(
            file, cfg.split, [], None, False, False, t_len, {**base, "manipulation": "real", "manipulations": []}
        ),
        lambda file, kind, periods, details: _entry(
            file,
            cfg.split,
            periods,
            files[0],
            kind in ("mouth_swap", "both"),
            kind != "mouth_swap",
            t_len,
            {**base, "manipulation": kind, "manipulations": details},
        ),
        note,
    )
    return {"entries": entries, "note": "; ".join(note)}


# --------------------------------------------------------------------------------- the run


def write_metadata(out_root: Path, entries: list[dict]) -> None:
    """metadata.json (every field) and metadata.min.json (LAV-DF's fields): the one LAV-DF writer."""
    write_lavdf_metadata(out_root, sorted(entries, key=lambda e: e["file"].split("/")[-1]))


def gather_sources(src_dirs, speakers: dict[str, str] | None = None) -> list[Source]:
    """Videos of every folder (recursively); names are relative paths, prefixed by the folder when there are several.

    A source's speaker is ``speakers[clip stem]`` (symlink targets are looked up too), else its clip stem, so
    chunks ``X__c00.mp4``, ``X__c01.mp4`` of one clip never donate to each other even without a table."""
    dirs = [Path(d) for d in ([src_dirs] if isinstance(src_dirs, (str, Path)) else src_dirs)]
    if not dirs:
        raise UserError("splice: give at least one folder of videos")
    out = []
    for d in dirs:
        for p in list_sources(d):
            rel = str(p.relative_to(d))
            name = rel if len(dirs) == 1 else f"{d.name}/{rel}"
            table = speakers or {}
            spk = (
                table.get(clip_stem(p))
                or table.get(clip_stem(p.resolve()))
                or str(Path(name).with_name(clip_stem(name)))
            )
            out.append(Source(len(out), p, name, spk))
    return out


def splice_dataset(
    src_dirs, output_root: str | Path, seed: int = 0, progress: bool = True, log=print, **knobs
) -> SpliceSummary:
    """Turn folders of real talking-face videos into a LAV-DF-layout evaluation set of spliced fakes.

    ``knobs`` are :class:`SpliceConfig` fields. Re-running into the same ``output_root`` resumes.
    """
    if "types" in knobs:
        knobs["types"] = tuple(knobs["types"])
    cfg = SpliceConfig(seed=seed, **knobs)
    bad = [t for t in cfg.types if t not in TYPES]
    if bad or not cfg.types:
        raise UserError(f"splice: unknown manipulation type(s) {bad} (choose from {', '.join(TYPES)})")
    if cfg.split not in SPLITS:
        raise UserError(f"splice: --split must be one of {', '.join(SPLITS)}, got {cfg.split!r}")
    if cfg.fakes_per_video < 0 or cfg.max_periods < 1 or not 0 < cfg.min_fake_s <= cfg.max_fake_s:
        raise UserError(
            f"bad splice settings: fakes_per_video={cfg.fakes_per_video}, max_periods={cfg.max_periods}, "
            f"fake length {cfg.min_fake_s}..{cfg.max_fake_s} s"
        )
    faces.resolve_detector(cfg.face_detector)
    out_root = Path(output_root)
    sources = gather_sources(src_dirs, read_speakers(cfg.speakers) if cfg.speakers else None)
    dirs = [src_dirs] if isinstance(src_dirs, (str, Path)) else list(src_dirs)
    conf = json.loads(
        json.dumps(
            {
                **asdict(cfg),
                "videos": [str(Path(d).resolve()) for d in dirs],
                "sources": [[s.name, s.speaker] for s in sources],
            }
        )
    )
    conf_path = out_root / ".splice" / "config.json"
    if conf_path.is_file():
        if json.loads(conf_path.read_text()) != conf:
            raise UserError(f"{out_root}: holds a splice run with other settings or sources; use a new --output_root")
    else:
        write_json_atomic(conf_path, conf)
    tts_ok = espeak_binary() is not None
    summary = SpliceSummary(output_root=out_root, sources=len(sources))
    if not tts_ok and "tts" in cfg.types:
        log("warning: espeak-ng not found (apt-get install espeak-ng): no 'tts' fakes in this run")
        summary.notes.append("espeak-ng not found: no tts fakes")
    donors = Donors(sources, cfg, out_root)
    t0 = time.perf_counter()
    entries = run_parts(
        sources,
        out_root,
        "splice",
        lambda src: splice_source(src, cfg, out_root, donors, tts_ok),
        summary,
        lambda e: e["manipulation"],
        progress,
        log,
    )
    write_metadata(out_root, entries)
    summary.seconds = time.perf_counter() - t0
    return summary
