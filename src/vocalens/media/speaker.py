"""Several faces in the frame: which one speaks.

The speaker's mouth moves when the voice is loud and rests when it is quiet; a listener's does
not follow the voice. Per face track: the motion of its mouth region (mean absolute difference of a
small grey mouth patch between consecutive frames, measured as the keyframe pass streams by),
correlated (Pearson, over the frames where the track holds a face) with the audio's loudness
envelope (per-frame RMS in dB, from the streamed track: vocalens.media.audio.FrameEnergy), both
lightly smoothed.
The track with the highest correlation is the speaker when it leads the others clearly
(``MIN_LEAD``) and correlates at all (``MIN_R``); otherwise the largest face is analysed.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d

from vocalens.constants import SAMPLE_RATE
from vocalens.media.audio import FrameEnergy
from vocalens.media.faces import FaceTrack, crop_regions, mouth_boxes

MIN_R = 0.15  # a mouth-voice correlation below this says nothing
MIN_LEAD = 0.1  # the speaker's correlation must lead the next face's by this much
PATCH = (12, 16)  # (h, w) of the grey mouth patch the motion is measured on


def file_loudness(path, fps: float) -> Callable[[int], np.ndarray]:
    """``num_frames -> [T]`` loudness envelope of ``path``'s audio (per-frame RMS in dB, floor -80 dB; the
    track streamed, fitted to the video's span): what :func:`choose_speaker` compares mouths with."""

    def envelope(num_frames: int) -> np.ndarray:
        from vocalens.media.video import track_energy

        return track_energy(path, num_frames, fps).loudness_db()

    return envelope


def array_loudness(audio: np.ndarray | None, fps: float) -> Callable[[int], np.ndarray | None]:
    """:func:`file_loudness` of a track in memory (None: no audio)."""

    def envelope(num_frames: int) -> np.ndarray | None:
        if audio is None or len(audio) == 0:
            return None
        from vocalens.media.video import fit_length

        n = int(round(num_frames / fps * SAMPLE_RATE))
        return FrameEnergy.of(fit_length(np.asarray(audio, np.float32).reshape(-1), n), num_frames).loudness_db()

    return envelope


def mouth_change(frame: np.ndarray, previous: np.ndarray, face_box: np.ndarray) -> float:
    """Mouth motion into ``frame``: the mean absolute difference of the grey mouth patch of
    ``face_box`` between ``previous`` and ``frame`` (the same box in both: head motion between
    keyframes does not count as mouth motion)."""
    box = mouth_boxes(np.asarray(face_box)[None])
    a = crop_regions(np.stack([previous, frame]), np.repeat(box, 2, axis=0), PATCH).astype(np.float32).mean(-1)
    return float(np.mean(np.abs(a[1] - a[0])))


def choose_speaker(tracks: list[FaceTrack], loud: np.ndarray | None) -> dict:
    """Which of ``tracks`` (largest first) to analyse: ``{"index", "how", "faces", "r"}``.

    ``how`` is 'only face', 'speaker' (mouth follows the voice), 'speaker turns' (two or more faces
    take turns: ``turns`` lists ``[start, end, track]`` frame runs, :func:`speaker_turns`), or 'largest'
    (no audio, or no face whose mouth clearly follows it). ``r`` lists each track's mouth-voice
    correlation. ``loud`` is the audio's [T] loudness envelope in dB (:func:`file_loudness`), None
    without audio; each track's ``mouth_motion`` was measured in the keyframe pass
    (vocalens.media.faces.FaceTracker.see)."""
    if len(tracks) < 2:
        return {"index": 0, "how": "only face", "faces": len(tracks), "r": None}
    if loud is None:
        return {"index": 0, "how": "largest", "faces": len(tracks), "r": None}
    env = gaussian_filter1d(np.asarray(loud, np.float64), 1.0)
    motion = []
    for tr in tracks:
        raw = tr.mouth_motion if tr.mouth_motion is not None else np.full(len(tr), np.nan)
        motion.append((gaussian_filter1d(np.nan_to_num(raw), 1.0), tr.found & ~np.isnan(raw)))
    rs = _correlations(motion, env, slice(None))
    order = np.argsort(rs)[::-1]
    best, second = int(order[0]), float(rs[order[1]])
    r = [round(x, 3) for x in rs]
    choice = {"index": 0, "how": "largest", "faces": len(tracks), "r": r}
    if rs[best] >= MIN_R and rs[best] - second >= MIN_LEAD:
        choice = {"index": best, "how": "speaker", "faces": len(tracks), "r": r}
    turns = speaker_turns(motion, env)
    if turns is not None:
        choice = {**choice, "how": "speaker turns", "turns": turns}
    return choice


def _correlations(motion, env: np.ndarray, span: slice, min_frames: int = 10) -> list[float]:
    """Each track's mouth-voice correlation over the frames ``span`` where it holds a measured face."""
    rs = []
    for m, ok in motion:
        m, ok, e = m[span], ok[span], env[span]
        if ok.sum() < min_frames or np.std(m[ok]) == 0 or np.std(e[ok]) == 0:
            rs.append(0.0)
        else:
            rs.append(float(np.corrcoef(m[ok], e[ok])[0, 1]))
    return rs


TURN = 250  # frames (10 s at 25 fps) per turn-taking block
TURN_MIN_R = 0.3  # a block goes to another face only on clear evidence: a correlation this high ...
TURN_LEAD = 0.2  # ... leading every other face's by this much


def speaker_turns(motion, env: np.ndarray) -> list[list[int]] | None:
    """Turn-taking: ``[[start, end, track], ...]`` frame runs, each block of ``TURN`` frames given to the
    face whose mouth clearly follows the voice there (a block without a clear speaker keeps the turn
    before it; leading ones the first clear turn); None unless two faces each clearly speak in some
    block (one speaker: the whole video's choice, as before)."""
    t = len(env)
    starts = list(range(0, t, TURN))
    if len(starts) < 2:
        return None
    won: list[int | None] = []
    for s in starts:
        rs = _correlations(motion, env, slice(s, s + TURN), min_frames=TURN // 5)
        order = np.argsort(rs)[::-1]
        clear = rs[order[0]] >= TURN_MIN_R and rs[order[0]] - rs[order[1]] >= TURN_LEAD
        won.append(int(order[0]) if clear else None)
    if len({w for w in won if w is not None}) < 2:
        return None
    last = next(w for w in won if w is not None)
    filled = []
    for w in won:  # a block without a clear speaker keeps the turn of the block before (the first: the next)
        last = w if w is not None else last
        filled.append(last)
    runs: list[list[int]] = []
    for s, w in zip(starts, filled):
        if runs and runs[-1][2] == w:
            runs[-1][1] = min(t, s + TURN)
        else:
            runs.append([s, min(t, s + TURN), w])
    return runs
