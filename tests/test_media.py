import numpy as np
import pytest

from vocalens.errors import MediaError
from vocalens.media.video import load_video, write_video


def _clip(tmp_path, fps, seconds, name="a.mp4", audio=True):
    n = int(round(fps * seconds))
    frames = np.zeros((n, 64, 64, 3), np.uint8)
    frames[:] = (4 * np.arange(n) % 256)[:, None, None, None]  # frame index as grey level
    sr = 16000
    wav = None
    if audio:
        wav = np.zeros(int(seconds * sr), np.float32)
        wav[int(1.0 * sr) : int(1.1 * sr)] = 0.5 * np.sin(np.arange(int(0.1 * sr)) * 2 * np.pi * 1000 / sr)
    return write_video(tmp_path / name, frames, fps, wav), frames


def test_30fps_resampled_to_25(tmp_path):
    path, _ = _clip(tmp_path, 30.0, 2.0)
    m = load_video(path, fps=25.0)
    assert m.num_frames == 50 and abs(m.source_fps - 30.0) < 1e-6
    # target frame i shows the source frame on screen at (i+0.5)/25
    shown = np.round(m.frames[:, 32, 32].mean(-1) / 4).astype(int)
    expect = np.floor((np.arange(50) + 0.5) / 25 * 30).astype(int)
    assert np.abs(shown - expect).max() == 0
    assert m.audio.shape == (32000,)


def test_audio_aligned_by_timestamps(tmp_path):
    path, _ = _clip(tmp_path, 25.0, 2.0)
    m = load_video(path)
    env = np.abs(m.audio)
    onset = np.flatnonzero(env > 0.1)[0] / 16000
    assert abs(onset - 1.0) < 0.01  # AAC priming would shift this by ~21 ms if ignored


def test_errors_are_media_errors(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="bad.mp4"):
        load_video(bad)
    path, _ = _clip(tmp_path, 25.0, 1.0, name="silent.mp4", audio=False)
    with pytest.raises(MediaError, match="no audio track"):
        load_video(path)
    assert load_video(path, audio="optional").audio is None
    with pytest.raises(MediaError, match="not found"):
        load_video(tmp_path / "missing.mp4")


def test_truncated_file_keeps_decoded_frames(tmp_path):
    path, _ = _clip(tmp_path, 25.0, 2.0)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        m = load_video(cut, audio="optional")
        assert 0 < m.num_frames <= 50
    except MediaError as e:  # a moov-at-end file cut in half cannot be opened at all: reported, not crashed
        assert "cut.mp4" in str(e)


def test_real_clips_decode(real_clips):
    m = load_video(real_clips / "LipNet__bbaf2n.mpg")
    assert m.num_frames == 75 and m.audio.shape == (48000,)
    m = load_video(real_clips / "lip-reading-deeplearning__sample_video.mp4", max_side=240)
    assert max(m.frames.shape[1:3]) <= 240 and abs(m.num_frames - 6.97 * 25) <= 2
