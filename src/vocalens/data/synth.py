"""A synthetic LAV-DF: rendered talking faces with speech-like audio and partial fakes.

Layout and schema are LAV-DF's (``{train,dev,test}/NNNNNN.mp4``, ``metadata.json`` with
``timestamps``/``transcript``, ``metadata.min.json`` without), so every later stage runs on it
exactly as on LAV-DF. As in LAV-DF, each fake derives from a real video of the same split
(``original``) and is identical to it outside its fake periods; inside them the audio is replaced
(other speech, loudness-matched and cross-faded, over the same mouth), the mouth is re-driven by
other speech with lip-sync blending artefacts (visual), or both (new speech and a mouth re-driven
by it, as LAV-DF's TTS + Wav2Lip fakes). Everything derives from ``(seed, index)`` only, so a
dataset is reproducible and any video can be re-rendered alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from vocalens.data.metadata import SPLITS
from vocalens.data.synth_face import mouth_box, random_face, render_frames
from vocalens.data.synth_speech import CTRL_RATE, SR, Utterance, loudness_envelope, random_speaker, synthesize_speech
from vocalens.fileio import write_json_atomic
from vocalens.errors import UserError
from vocalens.media.video import write_video

FPS = 25
SAMPLES_PER_FRAME = SR // FPS  # 640
KINDS = ("real", "audio", "visual", "both")
ENCODER_PRESET = "superfast"


@dataclass(frozen=True)
class SynthConfig:
    """The knobs of ``vocalens synth`` (defaults follow LAV-DF's statistics)."""

    split_fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    real_fraction: float = 0.25  # the rest is split equally between audio, visual, both
    min_duration: float = 2.0
    max_duration: float = 10.0
    min_fakes: int = 1
    max_fakes: int = 3
    min_fake_length: float = 0.2
    max_fake_length: float = 1.6
    size: int = 224
    min_lag: float = 0.04  # mouth follows the sound by this much (s)
    max_lag: float = 0.12
    same_speaker: float = 0.5  # audio fakes: chance the new speech has the original's voice
    both_in_sync: bool = True  # 'both' fakes: mouth re-driven by the new audio (LAV-DF) or by other speech
    # blur (px, Gaussian sigma at 224 px) of a re-driven mouth: Wav2Lip renders the face at 96 px, so pasted
    # into a 224-px crop its mouth is upsampled ~2.3x (docs/quality.md: at 0.6-1.4 px the in-sync 'both'
    # fakes were nearly invisible to the default features)
    min_blur: float = 1.2
    max_blur: float = 2.8
    min_crf: int = 18
    max_crf: int = 30

    def check(self) -> "SynthConfig":
        fr = self.split_fractions
        if len(fr) != 3 or min(fr) < 0 or sum(fr) <= 0:
            raise UserError(f"--splits: need three non-negative fractions for train/dev/test, got {fr}")
        if not 0 <= self.real_fraction <= 1:
            raise UserError(f"--real_fraction: must lie in [0, 1], got {self.real_fraction}")
        if not 0.5 <= self.min_duration <= self.max_duration:
            raise UserError(f"--min_duration/--max_duration: need 0.5 <= min <= max, got "
                            f"{self.min_duration}, {self.max_duration}")
        if not 1 <= self.min_fakes <= self.max_fakes:
            raise UserError(f"--min_fakes/--max_fakes: need 1 <= min <= max, got {self.min_fakes}, {self.max_fakes}")
        if not 1.0 / FPS <= self.min_fake_length <= self.max_fake_length:
            raise UserError(f"--min_fake_length/--max_fake_length: need 0.04 <= min <= max, got "
                            f"{self.min_fake_length}, {self.max_fake_length}")
        if self.max_fake_length + 0.2 > self.min_duration:
            raise UserError(f"--max_fake_length {self.max_fake_length}: must be shorter than --min_duration "
                            f"{self.min_duration} minus 0.2 s")
        if self.size < 64 or self.size % 2:
            raise UserError(f"--size: need an even frame size >= 64, got {self.size}")
        if not 0 <= self.min_lag <= self.max_lag:
            raise UserError(f"--min_lag/--max_lag: need 0 <= min <= max, got {self.min_lag}, {self.max_lag}")
        if not 0 < self.min_blur <= self.max_blur:
            raise UserError(f"min_blur/max_blur: need 0 < min <= max, got {self.min_blur}, {self.max_blur}")
        if not 0 <= self.min_crf <= self.max_crf <= 51:
            raise UserError(f"--min_crf/--max_crf: need 0 <= min <= max <= 51, got {self.min_crf}, {self.max_crf}")
        return self


@dataclass(frozen=True)
class VideoPlan:
    """What one video will be, decided before anything is rendered."""

    index: int
    split: str
    kind: str  # 'real' | 'audio' | 'visual' | 'both'
    content: int  # index of the real video whose face, voice and speech this one shows
    num_frames: int
    periods: tuple[tuple[int, int], ...] = ()  # fake periods in frames [start, end)

    @property
    def file(self) -> str:
        return f"{self.split}/{self.index:06d}.mp4"

    @property
    def fake_periods(self) -> list[list[float]]:
        return [[round(s / FPS, 3), round(e / FPS, 3)] for s, e in self.periods]


def _seed(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *key])


def _apportion(n: int, fractions) -> list[int]:
    """Integer counts summing to n, proportional to fractions (largest remainder)."""
    fr = np.asarray(fractions, np.float64)
    fr = fr / fr.sum()
    raw = fr * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _place_periods(rng: np.random.Generator, num_frames: int, cfg: SynthConfig) -> tuple[tuple[int, int], ...]:
    """1-3 non-overlapping fake periods on the frame grid, at least 0.2 s apart."""
    lo = max(1, int(np.ceil(cfg.min_fake_length * FPS - 1e-9)))
    hi = max(lo, int(np.floor(cfg.max_fake_length * FPS + 1e-9)))
    gap = 5
    n = int(rng.integers(cfg.min_fakes, cfg.max_fakes + 1))
    for want in range(n, 0, -1):
        for _ in range(50):
            lengths = rng.integers(lo, hi + 1, want)
            free = num_frames - lengths.sum() - gap * (want - 1)
            if free < 0:
                continue
            # random slack before, between and after the periods (uniform composition)
            cuts = np.sort(rng.integers(0, free + 1, want))
            starts = cuts + np.concatenate([[0], np.cumsum(lengths[:-1] + gap)])
            return tuple((int(s), int(s + L)) for s, L in zip(starts, lengths))
    s = int(rng.integers(0, max(1, num_frames - lo)))
    return ((s, min(num_frames, s + lo)),)


def plan_dataset(num_videos: int, seed: int, cfg: SynthConfig = SynthConfig()) -> list[VideoPlan]:
    """Splits, kinds, originals, durations and fake periods of every video (cheap, no rendering).

    Counts are apportioned exactly (largest remainder): per split, ``real_fraction`` real and the
    rest equally audio/visual/both. Each fake shows the face and speech of a real video of its
    split (its ``original``) when the split has one.
    """
    if num_videos < 1:
        raise UserError(f"--num_videos: need at least 1, got {num_videos}")
    rng = np.random.default_rng(_seed(seed, 0))
    split_of = np.repeat(np.arange(3), _apportion(num_videos, cfg.split_fractions))
    rng.shuffle(split_of)
    plans: list[VideoPlan | None] = [None] * num_videos
    for k, split in enumerate(SPLITS):
        idx = np.flatnonzero(split_of == k)
        if len(idx) == 0:
            continue
        f = (1 - cfg.real_fraction) / 3
        kinds = np.repeat(np.arange(4), _apportion(len(idx), [cfg.real_fraction, f, f, f]))
        rng.shuffle(kinds)
        reals = idx[kinds == 0]
        for i, kind in zip(idx.tolist(), kinds.tolist()):
            vr = np.random.default_rng(_seed(seed, i, 1))
            content = i if kind == 0 or len(reals) == 0 else int(reals[vr.integers(len(reals))])
            dur = np.random.default_rng(_seed(seed, content, 2)).uniform(cfg.min_duration, cfg.max_duration)
            num_frames = max(int(round(cfg.min_duration * FPS)), int(round(dur * FPS)))
            periods = _place_periods(vr, num_frames, cfg) if kind else ()
            plans[i] = VideoPlan(i, split, KINDS[kind], content, num_frames, periods)
    return plans  # type: ignore[return-value]


def _smooth_walk(rng, n: int, scale: float, smooth: float) -> np.ndarray:
    """Slow random motion: white noise low-passed over ``smooth`` frames, scaled to ``scale`` std."""
    w = max(1, int(smooth))
    x = rng.standard_normal(n + 4 * w)
    k = np.hanning(2 * w + 1)
    y = np.convolve(x, k / k.sum(), mode="same")[2 * w: 2 * w + n]
    return (y / (y.std() + 1e-9) * scale) if n > 1 else y * 0


def _blinks(rng, n: int) -> np.ndarray:
    out = np.zeros(n)
    rate = rng.uniform(0.15, 0.5) / FPS  # blinks per frame
    shape = np.array([0.4, 0.9, 1.0, 0.7, 0.3])
    t = int(rng.exponential(1 / rate))
    while t < n:
        seg = shape[: n - t]
        out[t: t + len(seg)] = np.maximum(out[t: t + len(seg)], seg)
        t += 6 + int(rng.exponential(1 / rate))
    return out


def _edge_weights(num_samples: int, periods_frames, fade: int) -> np.ndarray:
    """1 inside the periods, 0 outside, raised-cosine cross-fades of ``fade`` samples centred on each edge."""
    w = np.zeros(num_samples)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    for s, e in periods_frames:
        a, b = s * SAMPLES_PER_FRAME, e * SAMPLES_PER_FRAME
        w[a:b] = 1.0
        for edge, r in ((a, ramp), (b, ramp[::-1])):
            lo = edge - fade // 2
            seg = slice(max(0, lo), min(num_samples, lo + fade))
            w[seg] = r[seg.start - lo: seg.stop - lo]
    return w


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


@dataclass
class Rendered:
    frames: np.ndarray  # [T,S,S,3] uint8
    audio: np.ndarray  # [T*640] float32
    crf: int
    words: list
    mouth_open: np.ndarray  # [T] the opening drawn in each frame (for tests and figures)
    envelope: np.ndarray  # [T] loudness envelope (0..1) of the final audio at each frame
    extras: dict = field(default_factory=dict)


def render_video(plan: VideoPlan, seed: int, cfg: SynthConfig = SynthConfig()) -> Rendered:
    """Frames and audio of one planned video (before encoding); depends only on (seed, plan)."""
    T = plan.num_frames
    n = T * SAMPLES_PER_FRAME
    dur = T / FPS
    face_ss, voice_ss, motion_ss, noise_ss = _seed(seed, plan.content, 3).spawn(4)
    face = random_face(np.random.default_rng(face_ss), cfg.size)
    vr = np.random.default_rng(voice_ss)
    speaker = random_speaker(vr)
    utt = synthesize_speech(vr, speaker, dur)
    mr = np.random.default_rng(motion_ss)
    lag = mr.uniform(cfg.min_lag, cfg.max_lag)
    t = (np.arange(T) + 0.5) / FPS
    opening, rounding = utt.mouth(t - lag)
    jitter = mr.normal(0, 0.025, T)
    blink = _blinks(mr, T)
    s = cfg.size
    motion = np.stack([_smooth_walk(mr, T, 0.012 * s, 12), _smooth_walk(mr, T, 0.01 * s, 15),
                       _smooth_walk(mr, T, 2.0, 18), _smooth_walk(mr, T, 0.015, 25)], 1)
    motion[:, 1] += 0.01 * s * opening  # slight nod with the jaw
    gaze = np.stack([_smooth_walk(mr, T, 0.5, 20), _smooth_walk(mr, T, 0.3, 20)], 1)
    flicker = 1.0 + _smooth_walk(mr, T, 0.01, 20)
    crf = int(mr.integers(cfg.min_crf, cfg.max_crf + 1))
    nr = np.random.default_rng(noise_ss)
    speech_gain = nr.uniform(0.25, 0.8)
    room_db = nr.uniform(-65, -45)

    audio = utt.audio.astype(np.float64)
    words = list(utt.words)
    artefact = np.zeros(T, bool)
    art = {}
    if plan.kind != "real":
        fr = np.random.default_rng(_seed(seed, plan.index, 4))
        in_fake = np.zeros(T, bool)
        for a, b in plan.periods:
            in_fake[a:b] = True
        new_utt: Utterance | None = None
        if plan.kind in ("audio", "both"):
            voice = speaker if fr.random() < cfg.same_speaker else random_speaker(fr)
            new_utt = synthesize_speech(fr, voice, dur)
            w = _edge_weights(n, plan.periods, fade=int(0.02 * SR))
            repl = new_utt.audio.astype(np.float64)
            for a, b in plan.periods:  # loudness-match each period to what it replaces
                seg = slice(a * SAMPLES_PER_FRAME, b * SAMPLES_PER_FRAME)
                repl[seg] *= np.clip(_rms(audio[seg]) / _rms(repl[seg]), 0.3, 3.0)
            audio = (1 - w) * audio + w * repl
            keep = [wd for wd in words if not in_fake[min(T - 1, int((wd[1] + wd[2]) / 2 * FPS))]]
            new = [wd for wd in new_utt.words if in_fake[min(T - 1, int((wd[1] + wd[2]) / 2 * FPS))]]
            words = sorted(keep + new, key=lambda x: x[1])
        if plan.kind in ("visual", "both"):
            driver = new_utt if (plan.kind == "both" and cfg.both_in_sync) else \
                synthesize_speech(fr, random_speaker(fr), dur)
            o2, r2 = driver.mouth(t - lag)
            # the generator smooths into its edges: first and last fake frame are part-way
            wv = in_fake.astype(np.float64)
            for a, b in plan.periods:
                wv[a] = wv[b - 1] = 0.6
            opening = (1 - wv) * opening + wv * o2
            rounding = (1 - wv) * rounding + wv * r2
            artefact = in_fake
            art = {"blur": float(fr.uniform(cfg.min_blur, cfg.max_blur)), "shift": fr.uniform(-4, 4, 3),
                   "feather": float(fr.uniform(2, 4))}
    opening = np.clip(opening + jitter, 0, 1)

    frames = render_frames(face, opening, rounding, blink, motion, gaze, artefact, art,
                           np.random.default_rng(_seed(seed, plan.content, 5)), flicker)
    # room: the same gain and noise floor over the whole video, fakes included
    room = lfilter([1.0], [1.0, -0.7], nr.standard_normal(n)) * 0.7 * 10 ** (room_db / 20)  # low-tilted hiss
    audio = np.clip(audio * speech_gain + room, -1, 1).astype(np.float32)
    env = loudness_envelope(audio)
    env_t = np.interp(t * CTRL_RATE, np.arange(len(env)), env)
    return Rendered(frames=frames, audio=audio, crf=crf, words=words, mouth_open=opening, envelope=env_t,
                    extras={"lag": lag, "speaker": asdict(speaker), "mouth_box": mouth_box(face),
                            "skin": face.skin.tolist()})


def metadata_entry(plan: VideoPlan, words: list, originals: dict[int, str]) -> dict:
    """One LAV-DF metadata entry (``metadata.json`` form; ``metadata.min.json`` drops timestamps/transcript)."""
    return {
        "file": plan.file,
        "n_fakes": len(plan.periods),
        "fake_periods": plan.fake_periods,
        "timestamps": [[w, float(a), float(b)] for w, a, b in words],
        "duration": round(plan.num_frames / FPS, 3),
        "transcript": " ".join(w for w, _, _ in words),
        "original": None if plan.kind == "real" or plan.content == plan.index else originals[plan.content],
        "modify_video": plan.kind in ("visual", "both"),
        "modify_audio": plan.kind in ("audio", "both"),
        "split": plan.split,
        "video_frames": plan.num_frames,
        "audio_channels": 1,
        "audio_frames": plan.num_frames * SAMPLES_PER_FRAME,
    }


MIN_KEYS = ("file", "n_fakes", "fake_periods", "duration", "original", "modify_video", "modify_audio", "split",
            "video_frames", "audio_channels", "audio_frames")


def _make_one(job) -> tuple[int, list]:
    """Render and encode one video (runs in a worker process); returns its index and words."""
    plan, seed, cfg, root = job
    r = render_video(plan, seed, cfg)
    path = Path(root) / plan.file
    try:
        # x264 'superfast' gives byte-identical output run to run here ('veryfast' does not) and is faster
        write_video(path, r.frames, FPS, r.audio, SR, crf=r.crf, preset=ENCODER_PRESET)
    except OSError as e:  # disk full, permissions: the user can fix these
        raise UserError(f"{path}: cannot write ({e.strerror or e})") from None
    return plan.index, [list(w) for w in r.words]


def synthesize(output_root: str | Path, num_videos: int, seed: int = 0, workers: int = 1,
               progress: bool = True, **knobs) -> list[dict]:
    """Write a synthetic LAV-DF to ``output_root``; returns the metadata entries (``metadata.json``).

    ``knobs`` are :class:`SynthConfig` fields. Videos already present from an interrupted run with the
    same settings are kept (each video is written atomically; the metadata files last).
    """
    from tqdm import tqdm

    unknown = set(knobs) - set(SynthConfig.__dataclass_fields__)
    if unknown:
        raise UserError(f"synthesize: unknown knobs {sorted(unknown)}")
    if "split_fractions" in knobs:
        knobs["split_fractions"] = tuple(float(x) for x in knobs["split_fractions"])
    cfg = SynthConfig(**knobs).check()
    root = Path(output_root)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    plans = plan_dataset(num_videos, seed, cfg)
    originals = {p.index: p.file for p in plans}

    # resume: keep finished videos only when they were made with the same settings
    stamp_path = root / ".vocalens-synth.json"
    stamp = {"num_videos": num_videos, "seed": seed, "config": asdict(cfg), "version": 1}
    words_path = root / ".vocalens-synth-words.jsonl"
    done: dict[int, list] = {}
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == json.loads(json.dumps(stamp)):
        if (root / "metadata.json").is_file():  # a finished run: its words are in the metadata
            by_file = {p.file: p.index for p in plans}
            for e in json.loads((root / "metadata.json").read_text()):
                if e.get("file") in by_file:
                    done[by_file[e["file"]]] = e.get("timestamps", [])
        for line in words_path.read_text().splitlines() if words_path.is_file() else []:
            try:
                i, w = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            done[i] = w
        done = {i: w for i, w in done.items() if (root / plans[i].file).is_file()}
    else:
        for name in ("metadata.json", "metadata.min.json"):  # stale: other settings
            (root / name).unlink(missing_ok=True)
        write_json_atomic(stamp_path, stamp)
        words_path.unlink(missing_ok=True)
    todo = [(p, seed, cfg, str(root)) for p in plans if p.index not in done]

    with open(words_path, "a") as log, tqdm(total=len(plans), initial=len(done), unit="video",
                                           desc="synth", disable=not progress) as bar:
        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for i, w in pool.imap_unordered(_make_one, todo, chunksize=1):
                    done[i] = w
                    log.write(json.dumps([i, w]) + "\n")
                    log.flush()
                    bar.update()
        else:
            for job in todo:
                i, w = _make_one(job)
                done[i] = w
                log.write(json.dumps([i, w]) + "\n")
                log.flush()
                bar.update()

    entries = [metadata_entry(p, [tuple(w) for w in done[p.index]], originals) for p in plans]
    write_json_atomic(root / "metadata.json", entries)
    write_json_atomic(root / "metadata.min.json", [{k: e[k] for k in MIN_KEYS} for e in entries])
    words_path.unlink(missing_ok=True)  # the words are in metadata.json now
    return entries
