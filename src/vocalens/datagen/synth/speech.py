"""Speech-like audio for the synthetic dataset: source-filter synthesis in numpy.

An utterance is planned as words of CV(C) syllables with pauses; each phone sets targets
(formants F1-F3, voicing, frication, loudness) and articulatory lip targets (opening, rounding).
Targets are smoothed (coarticulation), a glottal sawtooth with a pitch contour (declination,
accents, jitter) plus noise is filtered frame by frame in the STFT domain by a cascade of
formant resonators. The same plan yields the lip tracks that drive the rendered mouth, so
audio and mouth share one cause, as in real speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import istft, stft

from vocalens.constants import SAMPLE_RATE

SR = SAMPLE_RATE  # speech is made at the datasets' rate
CTRL_RATE = 200  # control tracks (formants, gains, lips) at 5 ms
HOP = SR // CTRL_RATE
NFFT = 512
STFT_HOP = 160  # filter envelopes change every 10 ms

# vowel: F1, F2, F3 (Hz, adult male reference), lip opening 0..1, rounding -1 (spread) .. 1 (round)
VOWELS = {
    "a": (730, 1090, 2440, 1.00, 0.0),
    "e": (530, 1840, 2480, 0.60, -0.5),
    "i": (290, 2250, 2890, 0.30, -1.0),
    "o": (500, 900, 2400, 0.65, 0.7),
    "u": (310, 870, 2250, 0.35, 1.0),
    "ae": (660, 1720, 2410, 0.85, -0.4),
    "er": (490, 1350, 1690, 0.45, 0.2),
}
# consonant: kind, place-dependent noise centre (Hz), lip opening, rounding
CONSONANTS = {
    "p": ("stop", 800, 0.0, 0.0),
    "b": ("vstop", 800, 0.0, 0.0),
    "m": ("nasal", 0, 0.0, 0.0),
    "t": ("stop", 4000, 0.25, -0.2),
    "d": ("vstop", 4000, 0.25, -0.2),
    "n": ("nasal", 0, 0.25, -0.2),
    "k": ("stop", 2200, 0.35, 0.0),
    "g": ("vstop", 2200, 0.35, 0.0),
    "s": ("fric", 5500, 0.15, -0.6),
    "f": ("fric", 3500, 0.08, -0.2),
    "sh": ("fric", 2800, 0.2, 0.8),
    "l": ("approx", 0, 0.35, 0.0),
    "r": ("approx", 0, 0.3, 0.5),
    "w": ("approx", 0, 0.15, 1.0),
    "h": ("aspir", 0, 0.5, 0.0),
}
CONS_NAMES = list(CONSONANTS)
VOWEL_NAMES = list(VOWELS)


@dataclass(frozen=True)
class Speaker:
    """Voice of one synthetic speaker."""

    f0: float  # mean pitch, Hz
    formant_scale: float  # vocal tract length: ~1.0 male, ~1.17 female
    breathiness: float  # aspiration noise relative to voicing
    rate: float  # speaking-rate factor (>1 is faster)
    tilt: float  # spectral tilt of the source, dB/octave below 0
    pitch_range: float  # semitones of accent excursions


def random_speaker(rng: np.random.Generator) -> Speaker:
    female = rng.random() < 0.5
    return Speaker(
        f0=float(rng.uniform(165, 250) if female else rng.uniform(85, 145)),
        formant_scale=float(rng.uniform(1.08, 1.22) if female else rng.uniform(0.9, 1.05)),
        breathiness=float(rng.uniform(0.02, 0.15)),
        rate=float(rng.uniform(0.8, 1.25)),
        tilt=float(rng.uniform(-3.0, 0.0)),
        pitch_range=float(rng.uniform(1.5, 5.0)),
    )


@dataclass
class Utterance:
    """Rendered speech and the tracks derived from it (all at CTRL_RATE unless said)."""

    audio: np.ndarray  # [N] float32 at SR, clean (no room noise), peak-normalised
    lip_open: np.ndarray  # articulatory opening target 0..1, smoothed
    lip_round: np.ndarray  # rounding -1..1, smoothed
    energy: np.ndarray  # 0..1 loudness envelope of the audio (dB-mapped RMS at CTRL_RATE)
    words: list  # [(word, start_s, end_s)]

    def mouth(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mouth opening and rounding at times ``t`` (s): opening follows articulation x loudness."""
        idx = np.clip(np.asarray(t) * CTRL_RATE, 0, len(self.energy) - 1)
        grid = np.arange(len(self.energy))
        op = np.interp(idx, grid, self.lip_open) * np.interp(idx, grid, self.energy) ** 0.6
        return op, np.interp(idx, grid, self.lip_round)


def _plan(rng: np.random.Generator, speaker: Speaker, duration: float):
    """Phone sequence as a list of (name, kind, dur_s, params) covering ``duration`` seconds."""
    phones = []
    words = []
    t = float(rng.uniform(0.0, 0.25))
    phones.append(("_", "sil", t, None))
    while t < duration:
        n_syl = int(rng.choice([1, 1, 2, 2, 2, 3]))
        word = []
        w0 = t
        for _ in range(n_syl):
            syl = []
            if rng.random() < 0.85:
                c = CONS_NAMES[rng.integers(len(CONS_NAMES))]
                syl.append(c)
            syl.append(VOWEL_NAMES[rng.integers(len(VOWEL_NAMES))])
            if rng.random() < 0.25:
                syl.append(["m", "n", "s", "t", "k", "l"][rng.integers(6)])
            for ph in syl:
                if ph in VOWELS:
                    d = rng.uniform(0.09, 0.24)
                    kind = "vowel"
                else:
                    kind = CONSONANTS[ph][0]
                    d = {"stop": 0.08, "vstop": 0.07, "nasal": 0.07, "fric": 0.10, "approx": 0.06, "aspir": 0.06}[
                        kind
                    ] * rng.uniform(0.7, 1.4)
                d /= speaker.rate
                phones.append((ph, kind, d, None))
                t += d
            word.append("".join(syl))
        words.append(("".join(word), w0, t))
        # pause: short between words, long between phrases
        pause = rng.uniform(0.25, 0.6) if rng.random() < 0.2 else rng.uniform(0.02, 0.14)
        phones.append(("_", "sil", pause, None))
        t += pause
    return phones, words


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = width
    xp = np.concatenate([np.full(pad, x[0]), x, np.full(pad, x[-1])])
    return np.convolve(xp, k, mode="same")[pad:-pad]


def _resonator_gain(freqs: np.ndarray, fc: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """|H(f)| of second-order resonators, unity at DC: freqs [F], fc/bw [T] -> [T, F]."""
    f = freqs[None, :]
    c = fc[:, None]
    b = bw[:, None]
    return c**2 / np.sqrt((c**2 - f**2) ** 2 + (b * f) ** 2 + 1e-9)


def synthesize_speech(rng: np.random.Generator, speaker: Speaker, duration: float) -> Utterance:
    """An utterance of about ``duration`` seconds (exactly round(duration*SR) samples)."""
    n = int(round(duration * SR))
    nc = int(np.ceil(n / HOP)) + 1
    phones, words = _plan(rng, speaker, duration + 0.5)

    # per-control-frame targets
    F = np.zeros((3, nc))
    voice = np.zeros(nc)
    fric = np.zeros(nc)
    fric_fc = np.full(nc, 4000.0)
    amp = np.zeros(nc)
    lip_o = np.zeros(nc)
    lip_r = np.zeros(nc)
    nasal = np.zeros(nc)
    prev_vowel = VOWELS["er"]
    t = 0.0
    for name, kind, d, _ in phones:
        a, b = int(round(t * CTRL_RATE)), int(round((t + d) * CTRL_RATE))
        t += d
        if a >= nc:
            break
        b = min(max(b, a + 1), nc)
        s = slice(a, b)
        if kind == "vowel":
            f1, f2, f3, op, rd = VOWELS[name]
            prev_vowel = VOWELS[name]
            k = np.linspace(0.0, 1.0, b - a)
            drift = 1 + rng.uniform(-0.08, 0.08, 3)[:, None] * (k - 0.5)  # vowels glide a little
            F[:, s] = np.array([f1, f2, f3])[:, None] * drift
            voice[s] = 1.0
            amp[s] = rng.uniform(0.75, 1.0) * (0.7 + 0.3 * np.sin(np.pi * np.minimum(1.0, 1.3 * k)))
            lip_o[s], lip_r[s] = op, rd
        elif kind == "sil":
            F[:, s] = np.array(prev_vowel[:3])[:, None]
            lip_o[s], lip_r[s] = 0.05, lip_r[a - 1] if a > 0 else 0.0
        else:
            ckind, fc, op, rd = CONSONANTS[name]
            F[:, s] = np.array([350, prev_vowel[1], 2500])[:, None]
            lip_o[s], lip_r[s] = op, rd
            if ckind in ("stop", "vstop"):
                m = (b - a) * 2 // 3  # closure then burst
                voice[a : a + m] = 0.15 if ckind == "vstop" else 0.0
                amp[a : a + m] = 0.25
                fric[a + m : b], fric_fc[s], amp[a + m : b] = 1.0, fc, 0.6
                lip_o[a + m : b] = max(op, 0.25)
            elif ckind == "fric":
                fric[s], fric_fc[s], amp[s] = 1.0, fc, 0.45
                voice[s] = 0.3 if rng.random() < 0.4 else 0.0
            elif ckind == "nasal":
                voice[s], nasal[s], amp[s] = 1.0, 1.0, 0.45
            elif ckind == "approx":
                voice[s], amp[s] = 1.0, 0.65
                F[0, s] = 380
            else:  # aspiration
                fric[s], fric_fc[s], amp[s] = 0.6, 1500, 0.35
    F *= speaker.formant_scale
    # coarticulation: formants and lips glide, gains switch fast
    F = np.stack([_smooth(f, 9) for f in F])
    lip_o = _smooth(lip_o, 14)
    lip_r = _smooth(lip_r, 16)
    voice, fric, nasal = _smooth(voice, 3), _smooth(fric, 3), _smooth(nasal, 4)
    fric_fc = _smooth(fric_fc, 3)
    amp = _smooth(amp, 5)

    # pitch: declination over phrases, smooth accents, jitter
    tt = np.arange(nc) / CTRL_RATE
    accents = _smooth(rng.standard_normal(nc), int(CTRL_RATE * 0.35)) * 6.0
    semis = speaker.pitch_range * np.clip(accents, -1.5, 1.5) - 1.5 * (tt % 3.0) / 3.0
    f0c = speaker.f0 * 2 ** (semis / 12.0)
    f0 = np.interp(np.arange(n) / HOP, np.arange(nc), f0c)
    f0 *= 1.0 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))  # slow drift
    phase = np.cumsum(f0 / SR)
    saw = 2.0 * (phase % 1.0) - 1.0
    glottal = np.diff(np.concatenate([[0.0], saw])) * -0.5 + 0.7 * saw  # sharpen closure
    up = lambda x: np.interp(np.arange(n) / HOP, np.arange(nc), x)  # noqa: E731
    noise = rng.standard_normal(n)
    src_v = up(voice) * (glottal + speaker.breathiness * noise)
    src_n = up(fric) * rng.standard_normal(n) * 0.6

    # frame-wise filtering in the STFT domain
    kw = dict(fs=SR, nperseg=NFFT, noverlap=NFFT - STFT_HOP)
    freqs, _, V = stft(src_v, boundary="even", padded=True, **kw)
    _, _, N = stft(src_n, boundary="even", padded=True, **kw)
    T = V.shape[1]
    freqs = freqs.astype(np.float32)
    pick = lambda x: np.interp(np.arange(T) * (STFT_HOP / HOP), np.arange(nc), x).astype(np.float32)  # noqa: E731
    f1, f2, f3 = (pick(f) for f in F)
    const = lambda v: np.full(T, v, np.float32)  # noqa: E731
    H = (
        _resonator_gain(freqs, f1, 60 + 0.05 * f1)
        * _resonator_gain(freqs, f2, 80 + 0.04 * f2)
        * _resonator_gain(freqs, f3, 120 + 0.03 * f3)
        * _resonator_gain(freqs, const(3500.0), const(300.0))
    )
    tilt = (np.maximum(freqs, 100.0) / 100.0) ** (speaker.tilt / 6.02)
    H *= (tilt * (1 + (freqs / 2500.0) ** 2))[None, :]  # + higher poles: keeps energy above 3 kHz
    nas = pick(nasal)[:, None]
    H = H * (1 - nas) + nas * _resonator_gain(freqs, const(250.0), const(100.0)) * 0.5 * tilt[None, :]
    fc = pick(fric_fc)[:, None]
    Hn = 1.0 / (1.0 + ((freqs[None, :] - fc) / (0.35 * fc)) ** 2)
    Y = V * H.T + N * Hn.T
    _, y = istft(Y, boundary=True, **kw)
    y = y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
    y *= up(amp)
    y /= np.max(np.abs(y)) + 1e-9
    y *= 0.5

    energy = loudness_envelope(y)
    return Utterance(
        audio=y.astype(np.float32),
        lip_open=lip_o[: len(energy)],
        lip_round=lip_r[: len(energy)],
        energy=energy,
        words=[(w, round(a, 3), round(min(b, duration), 3)) for w, a, b in words if a < duration],
    )


def loudness_envelope(y: np.ndarray, floor_db: float = -45.0) -> np.ndarray:
    """0..1 loudness at CTRL_RATE: RMS over 25 ms windows in dB, ``floor_db``..0 dB of the peak mapped to 0..1."""
    nc = int(np.ceil(len(y) / HOP)) + 1
    win = 400
    yp = np.pad(y.astype(np.float64) ** 2, (win // 2, win // 2 + nc * HOP))
    c = np.concatenate([[0.0], np.cumsum(yp)])
    starts = np.arange(nc) * HOP
    rms = np.sqrt(np.maximum(c[starts + win] - c[starts], 0) / win)
    db = 20 * np.log10(rms + 1e-9) - 20 * np.log10(rms.max() + 1e-9)
    return np.clip((db - floor_db) / -floor_db, 0.0, 1.0)
