"""Issue 15, long videos: decode -> faces -> crops -> encoders stream in blocks (the same numbers as
the whole video in memory), phone rotation is honoured, and of several faces the speaker's is analysed."""

import av
import cv2
import numpy as np
import pytest

from vocalens.avff.preprocess import clip_starts, make_clips, stream_clips
from vocalens.encoders import build_audio_encoder, build_visual_encoder
from vocalens.localizer.extract import encode_faces, extract_one
from vocalens.media import audio as audio_mod
from vocalens.media import crops as crops_mod
from vocalens.media.crops import face_crops, iter_face_chunks, plan_faces
from vocalens.media.faces import HaarDetector
from vocalens.media.speaker import file_loudness
from vocalens.media.video import iter_frames, load_audio, load_video, write_video


def _rotated_video(path, upright: np.ndarray, rotation: int):
    """Store ``upright`` frames turned so that only a player applying the display matrix
    (``rotation`` degrees counter-clockwise, what PyAV's VideoFrame.rotation reads back) shows them upright."""
    stored = np.stack([np.rot90(f, -rotation // 90) for f in upright])
    t, h, w = stored.shape[:3]
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.set_display_rotation(rotation)
        for img in stored:
            for p in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    return path


@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_a_phone_video_decodes_upright(tmp_path, rotation):
    upright = np.zeros((4, 64, 48, 3), np.uint8)  # portrait, white top third: upright only one way
    upright[:, :20] = 255
    p = _rotated_video(tmp_path / "phone.mp4", upright, rotation)
    with av.open(str(p)) as c:  # what is stored is sideways (or upside down)
        stored = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert stored[:20].mean() < 200
    frames = np.stack(list(iter_frames(p)))
    assert frames.shape[1:3] == (64, 48)
    assert frames[:, :18].mean() > 240 and frames[:, 24:].mean() < 15
    # max_side scales the upright picture
    assert load_video(p, max_side=32, audio="skip").frames.shape[1:3] == (32, 24)


def test_a_sideways_face_is_found_after_rotation(tmp_path, real_clips):
    frames = load_video(real_clips / "LipNet__bbaf2n.mpg", audio="skip").frames[:10]
    p = _rotated_video(tmp_path / "phone.mp4", frames, -90)
    det = HaarDetector()
    with av.open(str(p)) as c:
        stored = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert det(stored) is None  # sideways: no frontal face
    plan = plan_faces(p, "haar", stride=3)
    assert plan.frame_size == frames.shape[1:3] and plan.found.mean() > 0.9


@pytest.fixture(scope="module")
def gap_video(tmp_path_factory, real_clips):
    """A real talking face whose frames 23-46 show no face (a flat grey): a missing-face run that
    crosses block boundaries, with the face tracker's interpolation and holds on both sides."""
    m = load_video(real_clips / "LipNet__bbaf2n.mpg")
    frames = m.frames.copy()
    frames[23:47] = 128
    return write_video(tmp_path_factory.mktemp("gap") / "gap.mp4", frames, audio=m.audio)


def test_streamed_crops_equal_the_whole_video_crops(gap_video):
    whole = load_video(gap_video, max_side=crops_mod.DETECT_MAX_SIDE, audio="skip").frames
    ref = face_crops(whole, 224, "haar")
    plan = plan_faces(gap_video, "haar")
    assert plan.num_frames == len(whole)
    np.testing.assert_array_equal(plan.found, ref.found)
    assert not plan.found[30:40].any() and plan.found[:20].all() and plan.found[50:].all()
    blocks = list(iter_face_chunks(gap_video, plan, 224, chunk=7))
    assert [len(b) for b in blocks][:3] == [7, 7, 7] and sum(len(b) for b in blocks) == len(whole)
    np.testing.assert_array_equal(np.concatenate(blocks), ref.frames)


def _face_crop_sync_weights(tmp_path):
    """A sync pair on the fixed-fraction lower face (the crop of the pairs shipped before 2026-12-02)."""
    import torch

    from vocalens.sync.model import SyncConfig, SyncNet
    from vocalens.sync.weights import save_weights

    torch.manual_seed(0)
    return str(save_weights(SyncNet(SyncConfig(dim=16, width=4, hidden=16)).eval(), tmp_path / "f.st", crop="face"))


def _streamed_pair(gap_video, monkeypatch, v, a):
    monkeypatch.setattr(crops_mod, "CHUNK", 10**6)  # the whole video as one block
    one = extract_one(gap_video, v, a, face="haar")
    monkeypatch.setattr(crops_mod, "CHUNK", 7)
    monkeypatch.setattr(audio_mod, "MEL_BLOCK", 37)  # and the audio's STFT in small blocks
    return one, extract_one(gap_video, v, a, face="haar")


@pytest.mark.parametrize("encoders", ["sync_face", "default"])
def test_streamed_features_do_not_depend_on_the_block_size(gap_video, monkeypatch, tmp_path, encoders):
    w = _face_crop_sync_weights(tmp_path) if encoders == "sync_face" else None
    name = "sync" if w else encoders
    v, a = build_visual_encoder(name, weights=w), build_audio_encoder(name, weights=w)
    one, small = _streamed_pair(gap_video, monkeypatch, v, a)
    np.testing.assert_allclose(small.visual, one.visual, atol=1e-5)
    np.testing.assert_allclose(small.audio, one.audio, atol=1e-5)
    assert small.meta["face_missing_frames"] == one.meta["face_missing_frames"] != []


def test_shipped_aligned_encoder_streams_nearly_like_the_whole_video(gap_video, monkeypatch):
    """The shipped pair aligns lips by the face mesh, landmarked per block (with 16 frames of the block
    before): not bit-identical across block sizes, but the features of 7-frame blocks (production: 256)
    stay within a fraction of a percent of the whole video's; the audio half is exact."""
    from vocalens.media.landmarks import mediapipe_mesh_available

    if not mediapipe_mesh_available():
        pytest.skip("mediapipe face mesh not installed")
    v, a = build_visual_encoder("sync"), build_audio_encoder("sync")
    assert v.crop == "aligned"
    one, small = _streamed_pair(gap_video, monkeypatch, v, a)
    cos = (small.visual * one.visual).sum(1) / np.linalg.norm(small.visual, axis=1) / np.linalg.norm(one.visual, axis=1)
    assert cos.mean() > 0.995 and cos.min() > 0.98  # measured: 0.9993 / 0.9946
    assert not np.allclose(small.visual, one.visual, atol=1e-5)  # so the bound above is what holds
    np.testing.assert_allclose(small.audio, one.audio, atol=1e-5)


@pytest.mark.parametrize("name", ["sync", "default"])
def test_encoders_split_into_per_frame_and_whole_video_parts(name):
    enc = build_visual_encoder(name)
    faces = np.random.default_rng(0).integers(0, 256, (40, 96, 96, 3), dtype=np.uint8)
    whole = enc.encode(faces)
    blocks = encode_faces(enc, (faces[i : i + 9] for i in range(0, 40, 9)))
    np.testing.assert_allclose(blocks, whole, atol=1e-5)


@pytest.mark.parametrize("t_len", [5, 32, 33, 70, 131])
@pytest.mark.parametrize("hop", [None, 8])
@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_avff_clips_stream_as_the_whole_video_tiles(t_len, hop, chunk):
    rng = np.random.default_rng(t_len)
    faces = rng.integers(0, 256, (t_len, 4, 4, 3), dtype=np.uint8)
    audio = rng.standard_normal(t_len * 640 + 123).astype(np.float32)
    n, stride = 16, 2
    starts = clip_starts(t_len, n * stride, hop)
    want_f, want_w = make_clips(faces, audio[: t_len * 640], starts, n, stride)
    got = list(stream_clips((faces[i : i + chunk] for i in range(0, t_len, chunk)), audio, n, stride, hop))
    assert [s for s, _, _ in got] == starts
    np.testing.assert_array_equal(np.stack([f for _, f, _ in got]), want_f)
    np.testing.assert_array_equal(np.stack([w for _, _, w in got]), want_w)


def test_long_stft_in_blocks_is_the_same(monkeypatch):
    x = np.random.default_rng(1).standard_normal(16000 * 3).astype(np.float32)
    kw = dict(n_fft=512, hop_length=160, n_mels=40, win_length=400, center=False)
    whole = audio_mod.log_mel(x, 16000, **kw)
    monkeypatch.setattr(audio_mod, "MEL_BLOCK", 13)
    np.testing.assert_array_equal(audio_mod.log_mel(x, 16000, **kw), whole)


# ------------------------------------------------------------------------------- several faces


def _two_faces(path, real_clips, speaker: str, other: str, speaker_small: bool = True):
    """Two real faces side by side; the audio is ``speaker``'s own. The speaker's face is the smaller
    one unless ``speaker_small`` is False."""
    a = load_video(real_clips / speaker)
    b = load_video(real_clips / other, audio="skip")
    n = min(a.num_frames, b.num_frames)
    small, big = 130, 230
    frames = np.full((n, 288, 512, 3), 90, np.uint8)
    for i in range(n):
        fa, fb = a.frames[i], b.frames[i]
        sa, sb = (small, big) if speaker_small else (big, small)
        for f, side, (y, x) in (
            (fa, sa, (60, 340) if speaker_small else (20, 20)),
            (fb, sb, (20, 20) if speaker_small else (60, 340)),
        ):
            s = min(f.shape[:2])
            y0, x0 = (f.shape[0] - s) // 2, (f.shape[1] - s) // 2
            frames[i, y : y + side, x : x + side] = cv2.resize(
                f[y0 : y0 + s, x0 : x0 + s], (side, side), interpolation=cv2.INTER_AREA
            )
    return write_video(path, frames, audio=a.audio[: int(round(n / 25 * 16000))])


def test_of_two_faces_the_smaller_one_that_speaks_is_analysed(tmp_path, real_clips):
    p = _two_faces(tmp_path / "two.mp4", real_clips, "LipNet__bbaf2n.mpg", "video-retalking__3.mp4")
    plan = plan_faces(p, "haar", loudness=file_loudness(p, 25))
    info = plan.face_info()
    assert info["faces"] == 2 and info["chosen"] == "speaker"
    assert info["box"][0] > 300  # the right-hand (small) face
    r = info["mouth_audio_r"]
    assert r[1] > r[0] + 0.1  # tracks are largest first: the small speaker's mouth follows the voice
    # without audio there is no speaker to find: the largest face
    assert plan_faces(p, "haar").face_info()["chosen"] == "largest"
    # the in-memory path chooses the same face
    frames = load_video(p, max_side=crops_mod.DETECT_MAX_SIDE, audio="skip").frames
    c = face_crops(frames, 64, "haar", audio=load_audio(p))
    assert c.choice["chosen"] == "speaker" and c.choice["box"] == info["box"]


def test_of_two_faces_a_large_speaker_is_kept(tmp_path, real_clips):
    p = _two_faces(tmp_path / "two.mp4", real_clips, "LipNet__bbaf2n.mpg", "video-retalking__3.mp4", False)
    info = plan_faces(p, "haar", loudness=file_loudness(p, 25)).face_info()
    assert info["faces"] == 2 and info["chosen"] == "speaker" and info["box"][0] < 200


def test_detect_features_say_which_face(tmp_path, real_clips):
    p = _two_faces(tmp_path / "two.mp4", real_clips, "LipNet__bbaf2n.mpg", "video-retalking__3.mp4")
    f = extract_one(p, build_visual_encoder("sync"), build_audio_encoder("sync"), face="haar")
    assert f.meta["face_track"]["chosen"] == "speaker" and f.meta["face_track"]["box"][0] > 300
    one = extract_one(
        real_clips / "LipNet__bbaf2n.mpg", build_visual_encoder("sync"), build_audio_encoder("sync"), face="haar"
    )
    assert one.meta["face_track"]["chosen"] == "only face" and one.meta["face_track"]["faces"] == 1


def test_sync_audio_features_of_a_long_wave_in_blocks(monkeypatch):
    from vocalens.sync import features
    from vocalens.sync.weights import load_weights

    x = (0.1 * np.random.default_rng(2).standard_normal(16000 * 4 + 77)).astype(np.float32)
    whole = features.audio_frames(x)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 7)  # blocks of 28 hops, the edge blocks reflect-padded
    np.testing.assert_array_equal(features.audio_frames(x), whole)
    model = load_weights(None)[0]
    one = model.embed_audio(whole, chunk=10**6)
    np.testing.assert_allclose(model.embed_audio(whole, chunk=7), one, atol=1e-5)


def test_rms_in_blocks():
    x = np.random.default_rng(3).standard_normal(100_003).astype(np.float32)
    assert audio_mod.rms(x) == pytest.approx(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))
    assert audio_mod.rms(np.zeros(0, np.float32)) == 0.0


def test_the_speaker_is_found_in_the_keyframe_pass(tmp_path, real_clips, monkeypatch):
    """With several faces, the mouth motion is measured as the keyframe pass streams by: the video is
    decoded once for the plan (it was decoded a third time to find the speaker)."""
    from vocalens.media import video as video_mod

    p = _two_faces(tmp_path / "two.mp4", real_clips, "LipNet__bbaf2n.mpg", "video-retalking__3.mp4")
    calls = []
    real_grid = video_mod.iter_grid

    def counted(*args, **kw):
        calls.append(args[0])
        return real_grid(*args, **kw)

    monkeypatch.setattr(video_mod, "iter_grid", counted)
    monkeypatch.setattr(video_mod, "iter_frames", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    info = plan_faces(p, "haar", loudness=file_loudness(p, 25)).face_info()
    assert len(calls) == 1 and info["chosen"] == "speaker" and info["box"][0] > 300


def test_big_blocks_come_from_mapped_pages_once_per_process(monkeypatch):
    """A long video's blocks fragmented glibc's heap (peak memory grew with length): for a video over
    10 minutes, bound_heap maps blocks of 1 MB and more from the system (returned when freed), once."""
    calls = []

    class FakeLibc:
        def malloc_trim(self, pad):
            return 1

        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(crops_mod, "_LIBC", FakeLibc())
    monkeypatch.setattr(crops_mod, "_BOUND", False)
    crops_mod.bound_heap_for(60.0)  # a short video leaves the allocator as it is (mapped pages cost CPU)
    crops_mod.bound_heap_for(None)
    assert calls == []
    crops_mod.bound_heap_for(3600.0)
    crops_mod.bound_heap()
    assert calls == [(-3, 1 << 20)]


def _turn_taking(path, real_clips):
    """Two faces side by side, the same size; the first 3 s the left one speaks (the audio is its own),
    the next 3 s the right one (its own audio); the other face talks too, out of time with the voice."""
    clip = {n: load_video(real_clips / f"LipNet__{n}.mpg") for n in ("bbaf2n", "brbk7n", "lbax4n", "lrwp9a")}
    left = np.concatenate([clip["bbaf2n"].frames[:75], clip["lbax4n"].frames[:75]])
    right = np.concatenate([clip["lrwp9a"].frames[:75], clip["brbk7n"].frames[:75]])
    audio = np.concatenate([clip["bbaf2n"].audio[: 75 * 640], clip["brbk7n"].audio[: 75 * 640]])
    frames = np.full((150, 288, 512, 3), 90, np.uint8)
    for i in range(150):
        for f, x in ((left[i], 20), (right[i], 300)):
            frames[i, 40:220, x : x + 180] = cv2.resize(f[54:234, 90:270], (180, 180), interpolation=cv2.INTER_AREA)
    return write_video(path, frames, audio=audio)


def test_turn_taking_speakers_are_followed_block_by_block(tmp_path, real_clips, monkeypatch):
    from vocalens.media import speaker

    monkeypatch.setattr(speaker, "TURN", 75)  # 3 s blocks: the turns of this 6 s video
    p = _turn_taking(tmp_path / "turns.mp4", real_clips)
    plan = plan_faces(p, "haar", loudness=file_loudness(p, 25))
    info = plan.face_info()
    assert info["chosen"] == "speaker turns" and info["faces"] == 2
    turns = info["turns"]
    assert [(t["start_frame"], t["end_frame"]) for t in turns] == [(0, 75), (75, 150)]
    assert turns[0]["box"][0] < 200 < turns[1]["box"][0]  # left face, then right face
    assert plan.track.boxes[10, 0] < 200 < plan.track.boxes[100, 0]  # the crops follow the speaker
    # one speaker with a listener: no turns, whatever the block size
    two = _two_faces(tmp_path / "two.mp4", real_clips, "LipNet__bbaf2n.mpg", "video-retalking__3.mp4")
    monkeypatch.setattr(speaker, "TURN", 25)
    assert plan_faces(two, "haar", loudness=file_loudness(two, 25)).face_info()["chosen"] == "speaker"
