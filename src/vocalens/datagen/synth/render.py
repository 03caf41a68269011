"""Frames and audio of one planned synthetic video: a rendered talking face, speech-like audio, and the
fake periods' manipulation (replaced audio, a re-driven mouth with blending artefacts, or both)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.signal import lfilter

from vocalens.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from vocalens.datagen.synth.face import mouth_box, random_face, render_frames
from vocalens.datagen.synth.plan import SynthConfig, VideoPlan, _seed
from vocalens.datagen.synth.speech import CTRL_RATE, Utterance, loudness_envelope, random_speaker, synthesize_speech


def _smooth_walk(rng, n: int, scale: float, smooth: float) -> np.ndarray:
    """Slow random motion: white noise low-passed over ``smooth`` frames, scaled to ``scale`` std."""
    w = max(1, int(smooth))
    x = rng.standard_normal(n + 4 * w)
    k = np.hanning(2 * w + 1)
    y = np.convolve(x, k / k.sum(), mode="same")[2 * w : 2 * w + n]
    return (y / (y.std() + 1e-9) * scale) if n > 1 else y * 0


def _blinks(rng, n: int) -> np.ndarray:
    out = np.zeros(n)
    rate = rng.uniform(0.15, 0.5) / FPS  # blinks per frame
    shape = np.array([0.4, 0.9, 1.0, 0.7, 0.3])
    t = int(rng.exponential(1 / rate))
    while t < n:
        seg = shape[: n - t]
        out[t : t + len(seg)] = np.maximum(out[t : t + len(seg)], seg)
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
            w[seg] = r[seg.start - lo : seg.stop - lo]
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
    motion = np.stack(
        [
            _smooth_walk(mr, T, 0.012 * s, 12),
            _smooth_walk(mr, T, 0.01 * s, 15),
            _smooth_walk(mr, T, 2.0, 18),
            _smooth_walk(mr, T, 0.015, 25),
        ],
        1,
    )
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
            w = _edge_weights(n, plan.periods, fade=int(0.02 * SAMPLE_RATE))
            repl = new_utt.audio.astype(np.float64)
            for a, b in plan.periods:  # loudness-match each period to what it replaces
                seg = slice(a * SAMPLES_PER_FRAME, b * SAMPLES_PER_FRAME)
                repl[seg] *= np.clip(_rms(audio[seg]) / _rms(repl[seg]), 0.3, 3.0)
            audio = (1 - w) * audio + w * repl
            keep = [wd for wd in words if not in_fake[min(T - 1, int((wd[1] + wd[2]) / 2 * FPS))]]
            new = [wd for wd in new_utt.words if in_fake[min(T - 1, int((wd[1] + wd[2]) / 2 * FPS))]]
            words = sorted(keep + new, key=lambda x: x[1])
        if plan.kind in ("visual", "both"):
            driver = (
                new_utt
                if (plan.kind == "both" and cfg.both_in_sync)
                else synthesize_speech(fr, random_speaker(fr), dur)
            )
            o2, r2 = driver.mouth(t - lag)
            # the generator smooths into its edges: first and last fake frame are part-way
            wv = in_fake.astype(np.float64)
            for a, b in plan.periods:
                wv[a] = wv[b - 1] = 0.6
            opening = (1 - wv) * opening + wv * o2
            rounding = (1 - wv) * rounding + wv * r2
            artefact = in_fake
            art = {
                "blur": float(fr.uniform(cfg.min_blur, cfg.max_blur)),
                "shift": fr.uniform(-4, 4, 3),
                "feather": float(fr.uniform(2, 4)),
            }
    opening = np.clip(opening + jitter, 0, 1)

    frames = render_frames(
        face,
        opening,
        rounding,
        blink,
        motion,
        gaze,
        artefact,
        art,
        np.random.default_rng(_seed(seed, plan.content, 5)),
        flicker,
    )
    # room: the same gain and noise floor over the whole video, fakes included
    room = lfilter([1.0], [1.0, -0.7], nr.standard_normal(n)) * 0.7 * 10 ** (room_db / 20)  # low-tilted hiss
    audio = np.clip(audio * speech_gain + room, -1, 1).astype(np.float32)
    env = loudness_envelope(audio)
    env_t = np.interp(t * CTRL_RATE, np.arange(len(env)), env)
    return Rendered(
        frames=frames,
        audio=audio,
        crf=crf,
        words=words,
        mouth_open=opening,
        envelope=env_t,
        extras={"lag": lag, "speaker": asdict(speaker), "mouth_box": mouth_box(face), "skin": face.skin.tolist()},
    )
