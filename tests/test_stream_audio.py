"""Issue 15, long videos: the audio streams too. The track is read block by block (never whole), its
loudness statistics are summed on the way, and the audio encoders run per block with the context their
STFT windows, deltas and convolutions need, so the features equal the whole track's."""

import numpy as np
import pytest

from vocalens.avff.preprocess import make_clips, stream_clips
from vocalens.encoders import build_audio_encoder, build_visual_encoder
from vocalens.encoders.default_audio import LogMelEncoder
from vocalens.localizer.extract import extract_one
from vocalens.media import audio as audio_mod
from vocalens.media import video as video_mod
from vocalens.media.audio import FrameEnergy, iter_log_mel, log_mel
from vocalens.media.video import TrackWindow, fit_blocks, fit_length, iter_audio, load_audio
from vocalens.sync import features

CLIPS = ["LipNet__bbaf2n.mpg", "dreamtalk__acknowledgement_english.mp4"]


def _blocks(x, size):
    return [x[i : i + size] for i in range(0, len(x), size)]


@pytest.mark.parametrize("name", CLIPS)
def test_the_track_streams_in_blocks_with_the_same_samples(real_clips, name):
    whole = load_audio(real_clips / name)
    small = list(iter_audio(real_clips / name, block=1000))
    assert max(len(b) for b in small) == 1000 and len(small) > 5
    np.testing.assert_array_equal(np.concatenate(small), whole)
    n = len(whole) + 777
    np.testing.assert_array_equal(np.concatenate(list(fit_blocks(iter(small), n))), fit_length(whole, n))
    np.testing.assert_array_equal(np.concatenate(list(fit_blocks(iter(small), 999))), whole[:999])


@pytest.mark.parametrize("n_fft,n_mels", [(512, 80), (1024, 128)])
def test_log_mel_rows_of_blocks_equal_the_whole_waves(real_clips, n_fft, n_mels):
    x = load_audio(real_clips / CLIPS[1])
    n_hops = -(-len(x) // 640) * 4
    left = n_fft // 2 - 80
    right = (n_hops - 1) * 160 + n_fft - left - len(x)
    import torch
    import torch.nn.functional as F

    padded = F.pad(torch.from_numpy(x)[None, None], (left, right), mode="reflect")[0, 0]
    kw = dict(n_fft=n_fft, hop_length=160, n_mels=n_mels, win_length=400, center=False)
    whole = log_mel(padded, 16000, **kw)[:, :n_hops].T
    spec = dict(hop=160, win=400, n_fft=n_fft, n_mels=n_mels)
    rows = list(iter_log_mel(_blocks(x, 333), len(x), n_hops, block_hops=40, multiple=4, **spec))
    assert len(rows) > 5 and all(len(r) % 4 == 0 for r in rows)
    np.testing.assert_array_equal(torch.cat(rows).numpy(), whole.numpy())


@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("encoder", ["sync", "default"])
def test_audio_encoders_per_block_equal_the_whole_track(real_clips, monkeypatch, name, encoder):
    x = load_audio(real_clips / name)
    enc = build_audio_encoder(encoder)
    whole = enc.encode(x)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 3)  # block boundaries inside the clip
    monkeypatch.setattr(LogMelEncoder, "BLOCK_HOPS", 12)
    reads = []

    def read():
        reads.append(1)
        return iter(_blocks(x, 999))

    got = enc.encode_stream(read, len(x))
    assert len(reads) == 2  # statistics, then features: the track is never whole
    np.testing.assert_allclose(got, whole, atol=1e-5)


def test_sync_features_of_blocks_equal_the_whole_tracks_within_float16(real_clips):
    """The utterance statistics are summed in float64 over blocks (not torch's float32 mean over the
    whole): the float16 rows differ from a whole-track computation by at most one unit in the last place."""
    import torch

    x = load_audio(real_clips / CLIPS[1])
    t = features.num_frames(len(x))
    left = features.N_FFT // 2 - features.HOP // 2
    right = max(0, (t * 4 - 1) * features.HOP + features.N_FFT - left - len(x))
    padded = torch.nn.functional.pad(torch.from_numpy(x)[None, None], (left, right), mode="reflect")[0, 0]
    mel = log_mel(padded, 16000, n_fft=512, hop_length=160, n_mels=80, win_length=400, center=False)[:, : t * 4].T
    ref = ((mel - mel.mean(0)) / mel.std(0, unbiased=False).clamp_min(1e-3)).reshape(t, 320).half().float()
    got = features.audio_frames(x).astype(np.float32)
    assert np.abs(got - ref.numpy()).max() <= 2e-3 and np.mean(got != ref.numpy()) < 0.01


class _NoWhole:
    """An encoder pair that refuses the whole track / the whole video's per-frame inputs."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name in ("encode", "encode_global"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def encode(self, x):  # pragma: no cover - must not be called
        raise AssertionError("the whole track / video went to the encoder")


@pytest.mark.parametrize("encoders", ["sync", "default"])
def test_extract_streams_the_audio_and_equals_the_whole_path(real_clips, monkeypatch, encoders):
    path = real_clips / CLIPS[0]
    v, a = build_visual_encoder(encoders), build_audio_encoder(encoders)
    x = load_audio(path)
    ref = extract_one(path, v, a, face="haar")
    monkeypatch.setattr(video_mod, "AUDIO_BLOCK", 1000)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 5)
    monkeypatch.setattr(LogMelEncoder, "BLOCK_HOPS", 12)
    seen = []
    real_iter = video_mod.iter_audio

    def spy(*args, **kw):
        for b in real_iter(*args, **kw):
            seen.append(len(b))
            yield b

    import vocalens.localizer.extract as ex

    monkeypatch.setattr(ex, "iter_audio", spy)
    wrap = _NoWhole if encoders == "sync" else (lambda e: e)  # sync: nothing whole reaches the encoders
    small = extract_one(path, wrap(v), wrap(a), face="haar")
    assert max(seen) <= 1000 < sum(seen)
    np.testing.assert_allclose(small.audio, ref.audio, atol=1e-5)
    np.testing.assert_allclose(small.visual, ref.visual, atol=1e-5)
    t = ref.num_frames
    fitted = fit_length(x, int(round(t / 25 * 16000)))
    np.testing.assert_allclose(small.audio, a.encode(fitted), atol=1e-5)  # the whole track's features
    assert small.meta["audio_rms"] == pytest.approx(float(np.sqrt(np.mean(np.square(fitted, dtype=np.float64)))))
    assert small.meta["speech_fraction"] == ref.meta["speech_fraction"] > 0.2


def test_frame_energy_of_blocks_gives_the_tracks_statistics():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(640 * 50 + 17) * np.repeat(rng.random(51) > 0.5, 640)[: 640 * 50 + 17]).astype(np.float32)
    e = FrameEnergy(len(x), 50)
    for b in _blocks(x, 333):
        e.add(b)
    frames = x[: 640 * 50].reshape(50, 640).astype(np.float64)
    np.testing.assert_allclose(e.frame_rms(), np.sqrt(np.mean(frames**2, axis=1)))
    r = np.sqrt(np.mean(frames**2, axis=1))
    want = float(np.mean((r > 1e-4) & (r >= 0.1 * np.percentile(r, 95))))
    assert e.speech_fraction() == pytest.approx(want) and 0.2 < want < 0.8
    assert e.rms() == pytest.approx(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))))
    assert audio_mod.speech_fraction(x, 50) == pytest.approx(want)
    np.testing.assert_allclose(e.loudness_db(), 10 * np.log10(np.maximum(np.mean(frames**2, axis=1), 1e-8)))


def test_a_track_window_reads_forward_in_blocks():
    x = np.arange(10_000, dtype=np.float32)
    w = TrackWindow(iter(_blocks(x, 777)), limit=9000)
    np.testing.assert_array_equal(w.take(100, 50), x[100:150])
    np.testing.assert_array_equal(w.take(5000, 10), x[5000:5010])
    assert len(w._buf) < 1600  # only from the last start on
    np.testing.assert_array_equal(w.take(8995, 10), np.r_[x[8995:9000], np.zeros(5, np.float32)])
    with pytest.raises(ValueError, match="forward"):
        w.take(0, 5)


@pytest.mark.parametrize("t_len", [5, 70, 131])
def test_avff_clips_from_a_streamed_track(t_len):
    rng = np.random.default_rng(t_len)
    faces = rng.integers(0, 256, (t_len, 4, 4, 3), dtype=np.uint8)
    audio = rng.standard_normal(t_len * 640 + 123).astype(np.float32)
    starts = [s for s, _, _ in stream_clips(iter([faces]), audio, 16, 2)]
    want_f, want_w = make_clips(faces, audio[: t_len * 640], starts, 16, 2)
    track = TrackWindow(iter(_blocks(audio, 500)))
    got = list(stream_clips((faces[i : i + 7] for i in range(0, t_len, 7)), track, 16, 2))
    np.testing.assert_array_equal(np.stack([f for _, f, _ in got]), want_f)
    np.testing.assert_array_equal(np.stack([w for _, _, w in got]), want_w)
