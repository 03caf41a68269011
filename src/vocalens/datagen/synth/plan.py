"""What each synthetic video will be (split, kind, source, length, fake periods), decided before anything
is rendered; everything derives from ``(seed, index)`` so any video can be re-rendered alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocalens.constants import FPS
from vocalens.data.metadata import SPLITS
from vocalens.errors import UserError

KINDS = ("real", "audio", "visual", "both")


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
            raise UserError(
                f"--min_duration/--max_duration: need 0.5 <= min <= max, got {self.min_duration}, {self.max_duration}"
            )
        if not 1 <= self.min_fakes <= self.max_fakes:
            raise UserError(f"--min_fakes/--max_fakes: need 1 <= min <= max, got {self.min_fakes}, {self.max_fakes}")
        if not 1.0 / FPS <= self.min_fake_length <= self.max_fake_length:
            raise UserError(
                f"--min_fake_length/--max_fake_length: need 0.04 <= min <= max, got "
                f"{self.min_fake_length}, {self.max_fake_length}"
            )
        if self.max_fake_length + 0.2 > self.min_duration:
            raise UserError(
                f"--max_fake_length {self.max_fake_length}: must be shorter than --min_duration "
                f"{self.min_duration} minus 0.2 s"
            )
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
