"""The `sync` encoders: shapes and rates, safetensors weights, errors, and the offset search."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vocalens.encoders import available_encoders, build_audio_encoder, build_visual_encoder
from vocalens.errors import UserError
from vocalens.sync.features import audio_frames, lower_face_grey
from vocalens.sync.model import SyncConfig, SyncNet
from vocalens.sync.offset import corr_offset_scores, cosine_offset_scores, estimated_offsets, find_offset, window_starts
from vocalens.sync.weights import load_weights, save_weights


@pytest.fixture()
def weights(tmp_path):
    torch.manual_seed(0)
    model = SyncNet(SyncConfig(dim=32, width=4, hidden=16)).eval()
    return save_weights(model, tmp_path / "w" / "sync.safetensors", crop="face"), model


def test_registered_for_both_streams():
    enc = available_encoders()
    assert "sync" in enc["visual"] and "sync" in enc["audio"]


def test_shapes_and_rates(weights):
    path, _ = weights
    vis = build_visual_encoder("sync", weights=str(path))
    aud = build_audio_encoder("sync", weights=str(path))
    t = 37
    faces = np.random.default_rng(0).integers(0, 256, (t, 96, 96, 3), dtype=np.uint8)
    wave = np.random.default_rng(1).standard_normal(t * 640).astype(np.float32) * 0.1
    v, a = vis.encode(faces), aud.encode(wave)
    assert v.shape == (t, 32) and a.shape == (t, 32) and v.dtype == a.dtype == np.float32
    assert aud.rate == 25.0 and vis.dim == aud.dim == 32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert vis.encode(faces[:0]).shape == (0, 32)
    # the recorded config rebuilds the same encoder; another weights file is refused
    again = build_visual_encoder(**vis.config(), weights=str(path))
    np.testing.assert_allclose(again.encode(faces), v, atol=1e-6)
    with pytest.raises(UserError, match="made with"):
        build_audio_encoder(**{**aud.config(), "weights_digest": "000000000000"}, weights=str(path))


def test_weights_round_trip(weights):
    path, model = weights
    loaded, info, digest = load_weights(path)
    assert info["crop"] == "face" and len(digest) == 12
    for k, v in model.state_dict().items():  # stored as float16
        w = loaded.state_dict()[k]
        assert w.dtype == v.dtype and torch.allclose(w, v, rtol=1e-3, atol=1e-4), k
    crops = torch.randint(0, 256, (30, 32, 48), dtype=torch.uint8)
    assert torch.allclose(loaded.embed_visual(crops), model.embed_visual(crops), atol=2e-2)
    assert path.stat().st_size < 5_000_000
    with open(path, "rb") as f:  # safetensors: an 8-byte header length then a JSON header, no pickle
        assert f.read(9)[8:9] == b"{"


def test_same_weights_make_the_same_file(weights, tmp_path):
    """The file (and so the digest a feature store records) depends only on the weights and their info, not on
    the order safetensors happens to write its metadata map in, which changes from call to call."""
    from safetensors.torch import save

    from vocalens.sync.weights import file_digest, ordered_header

    path, model = weights
    again = [save_weights(model, tmp_path / f"again{i}.safetensors", crop="face") for i in range(6)]
    assert {p.read_bytes() for p in again} == {path.read_bytes()}
    assert len({file_digest(p) for p in again}) == 1
    raw = save({"x": torch.zeros(3)}, metadata={"b": "2", "a": "1", "c": "3"})
    for order in (["a", "b", "c"], ["c", "b", "a"]):
        fixed = ordered_header(raw, order)
        n = int.from_bytes(fixed[:8], "little")
        assert len(fixed) == len(raw) and list(json.loads(fixed[8 : 8 + n])["__metadata__"]) == order
        assert fixed[8 + n :] == raw[8 + n :]  # the tensor bytes are untouched


def test_weights_for_unknown_crops_are_refused(tmp_path):
    path = save_weights(SyncNet(SyncConfig(dim=8, width=4, hidden=8)), tmp_path / "m.safetensors", crop="mouth")
    with pytest.raises(UserError, match="'mouth' crops"):
        build_visual_encoder("sync", weights=str(path))


@pytest.fixture(scope="module")
def grid_faces(real_clips):
    """A GRID clip's crop_faces crops, as `vocalens extract` hands them to a visual encoder."""
    from vocalens.media.faces import crop_faces, detect_faces
    from vocalens.media.video import load_video

    frames = load_video(real_clips / "LipNet__bbaf2n.mpg").frames
    return crop_faces(frames, detect_faces(frames), size=224)


def test_aligned_crop_centres_the_mouth(grid_faces):
    """The 'aligned' input puts the mouth corners (face mesh) at the same place whatever the face crop did."""
    from vocalens.media.landmarks import MOUTH_CORNERS, aligned_lower_faces, detect_landmarks, mediapipe_mesh_available
    from vocalens.sync.features import ALIGNED_HW, sync_crops

    if not mediapipe_mesh_available():
        pytest.skip("mediapipe face mesh not installed")
    grey = sync_crops(grid_faces, "aligned")
    assert grey.shape == (len(grid_faces), *ALIGNED_HW) and grey.dtype == np.uint8
    # the mesh on the aligned crops finds the mouth corners level and centred, every frame alike
    lower = aligned_lower_faces(grid_faces, 96)
    s = 96
    from vocalens.media.faces import FaceTrack

    whole = FaceTrack(
        np.tile([0, 0, s, s], (len(lower), 1)).astype(np.float32), *[np.ones(len(lower), bool)] * 2, (s, s)
    )
    corners = detect_landmarks(lower, whole, stride=5).points[:, list(MOUTH_CORNERS)]
    centre = corners.mean(1)
    assert np.abs(centre[:, 0] - s / 2).max() < 0.1 * s  # horizontally centred
    assert np.abs(corners[:, 0, 1] - corners[:, 1, 1]).max() < 0.06 * s  # level
    assert centre[:, 1].std() < 0.03 * s  # fixed height: the crop does not wander


def test_aligned_weights_stream_in_blocks_like_whole(tmp_path, grid_faces):
    """Weights trained on 'aligned' crops make the visual encoder align the face crops it is handed;
    streamed in blocks (extract's 256-frame blocks) it gives nearly the features of the whole clip."""
    from vocalens.media.landmarks import mediapipe_mesh_available
    from vocalens.sync.features import ALIGNED_HW

    if not mediapipe_mesh_available():
        pytest.skip("mediapipe face mesh not installed")
    torch.manual_seed(0)
    model = SyncNet(SyncConfig(dim=16, width=4, hidden=16, crop_hw=ALIGNED_HW)).eval()
    path = save_weights(model, tmp_path / "al.safetensors", crop="aligned")
    vis = build_visual_encoder("sync", weights=str(path))
    assert vis.config()["crop"] == "aligned"
    assert vis.encode(grid_faces).shape == (len(grid_faces), 16)
    # what the network sees: the aligned crops, streamed in 30-frame blocks vs the whole clip at once
    whole = vis.encode_local(grid_faces).astype(np.float32)
    blocks = np.concatenate(list(vis._local_blocks(grid_faces[s : s + 30] for s in range(0, len(grid_faces), 30))))
    assert blocks.shape == whole.shape == (len(grid_faces), *ALIGNED_HW)
    assert np.abs(blocks - whole).mean() < 2.0  # grey levels of 255
    # and not the fixed-fraction crop: those inputs differ
    face = lower_face_grey(grid_faces, size=ALIGNED_HW).astype(np.float32)
    assert np.abs(face - whole).mean() > 10.0


def test_missing_or_bad_weights_is_one_line_error(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(UserError) as e:
        build_visual_encoder("sync", weights=str(missing))
    assert str(missing) in str(e.value) and "\n" not in str(e.value)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(UserError, match="bad.safetensors"):
        build_audio_encoder("sync", weights=str(bad))


def test_features_align_to_video_frames():
    faces = np.zeros((5, 224, 224, 3), np.uint8)
    assert lower_face_grey(faces).shape == (5, 32, 48)
    mel = audio_frames(np.zeros(16000, np.float32) + 0.01 * np.random.default_rng(0).standard_normal(16000))
    assert mel.shape == (25, 320)
    assert audio_frames(np.zeros(1000, np.float32), frames=7).shape == (7, 320)


@pytest.mark.parametrize("shift", [-7, 0, 3, 15])
def test_offset_search_finds_known_shift(shift):
    rng = np.random.default_rng(5)
    v = rng.standard_normal((120, 16))
    a = np.roll(v, shift, axis=0) + 0.3 * rng.standard_normal((120, 16))  # a[t + shift] ~ v[t]
    assert find_offset(v, a, max_offset=15) == shift
    starts = window_starts(len(v), 25, 15, stride=5)
    assert starts[0] == 15 and starts[-1] + 25 + 15 <= 120
    est = estimated_offsets(cosine_offset_scores(v, a, starts, 25, 15), 15)
    assert (est == shift).mean() > 0.9
    x = rng.standard_normal(120).cumsum()
    y = np.roll(x, shift) + 0.1 * rng.standard_normal(120)
    assert (estimated_offsets(corr_offset_scores(x, y, starts, 25, 15), 15) == shift).mean() > 0.9


def test_offset_search_needs_room():
    with pytest.raises(ValueError):
        find_offset(np.zeros((20, 4)), np.zeros((20, 4)), max_offset=15)


def _toy_cache(num_clips=6, frames=40, seed=0):
    """Clips where the audio frame carries the crop's brightness pattern: learnable sync."""
    from vocalens.sync.cache import SyncCache

    rng = np.random.default_rng(seed)
    crops, audio = [], []
    for _ in range(num_clips):
        level = rng.uniform(0, 1, frames)
        c = np.full((frames, 32, 48), 60, np.uint8)
        c[:, 12:20, 12:36] = (60 + 180 * level[:, None, None]).astype(np.uint8)  # an opening "mouth"
        crops.append(c)
        audio.append((level[:, None] * np.ones((1, 320)) + 0.1 * rng.standard_normal((frames, 320))).astype(np.float16))
    n = num_clips
    return SyncCache(
        crops=np.concatenate(crops),
        audio=np.concatenate(audio),
        offsets=np.arange(n + 1) * frames,
        names=[f"c{i}" for i in range(n)],
        splits=["train"] * (n - 2) + ["dev"] * 2,
        speakers=[f"s{i}" for i in range(n)],
        found=np.ones(n, np.float32),
        info={"crop": "face"},
    )


def test_training_step_masks_repeats_and_learns():
    from vocalens.sync.task import SyncTask

    torch.manual_seed(0)
    np.random.seed(0)
    task = SyncTask(_toy_cache(), SyncConfig(dim=16, width=4, hidden=16), length=8)
    ds = task.train_dataset()
    assert len(ds) == 4 * (40 // 8) and ds[0]["crops"].shape == (12, 32, 48)
    aug = SyncTask(_toy_cache(), SyncConfig(dim=16, width=4, hidden=16), length=8, shift=2, freq_mask=8).train_dataset()
    assert aug[0]["crops"].shape == (12, 32, 48) and aug[0]["audio"].shape == (12, 320)
    model = task.build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = task.collate([ds[0], ds[0]])  # the same segment twice: its repeats must not be negatives
    loss, logs = task.step(model, batch)
    assert torch.isfinite(loss) and 0 <= float(logs["shift_acc"]) <= 1
    losses = []
    for i in range(25):
        loss, _ = task.step(model, task.collate([ds[(i * 4 + j) % len(ds)] for j in range(4)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3
    model.eval()
    out = task.validate(task.predict(model, task.collate([task.val_dataset()[0]])))
    assert set(out) == {"offset_acc", "offset_near", "offset_both", "clip_acc", "clip_near", "clip_both", "windows"}
    assert out["windows"] == 0  # 40 frames: no 55-frame window
    # pooled windows vs the mean over clips: a long clip at 10 % and a short one at 100 %
    two = task.validate([(10, 100, 50, "dev"), (4, 4, 4, "dev")])
    assert two["offset_acc"] == pytest.approx(14 / 104) and two["clip_acc"] == pytest.approx(0.55)
    assert two["clip_near"] == pytest.approx(0.75) and two["clip_both"] == pytest.approx(1.30)
    assert task.validate([(0, 0, 0, "dev")])["clip_acc"] == 0.0  # no window anywhere
    # cross-validation: held-out clips get their own figures and leave the dev ones (which select) alone
    cv = task.validate([(10, 100, 50, "dev"), (4, 4, 4, "dev"), (3, 10, 6, "holdout"), (0, 0, 0, "holdout")])
    assert {k: cv[k] for k in two} == two
    assert cv["holdout_offset_acc"] == pytest.approx(0.3) and cv["holdout_windows"] == 10
    assert (cv["holdout_hits"], cv["holdout_near_hits"], cv["holdout_clips"]) == (3, 6, 1)


def test_holdout_clips_are_scored_not_trained():
    from vocalens.sync.task import SyncTask

    cfg = SyncConfig(dim=16, width=4, hidden=16)
    with pytest.raises(ValueError, match="also a training clip"):
        SyncTask(_toy_cache(), cfg, length=8, holdout_clips=[0])
    task = SyncTask(_toy_cache(), cfg, length=8, train_clips=[0, 1, 2], holdout_clips=[3])
    assert sorted(task.train_dataset().items) == [i for i in (0, 1, 2) for _ in range(5)]
    val = task.val_dataset()
    assert [(val.clips[k], val[k]["group"]) for k in range(len(val))] == [(4, "dev"), (5, "dev"), (3, "holdout")]


def test_speaker_folds_keep_each_speaker_whole():
    from vocalens.sync.cache import SyncCache, speaker_folds

    speakers = ["A", "A", "A", "B", "C", "D", "E", "F", "short", "real-clips/x"]
    names = [f"c{i}.mp4" for i in range(8)] + ["short/s.mp4", "real-clips/x.mp4"]
    n = len(names)
    cache = SyncCache(
        np.zeros((n * 10, 2, 2), np.uint8), np.zeros((n * 10, 320), np.float16), np.arange(n + 1) * 10,
        names, ["train"] * n, speakers, np.ones(n, np.float32), {"crop": "face"},
    )  # fmt: skip
    folds = speaker_folds(cache, list(range(n)), 3)
    assert sorted(folds) == list(range(8))  # short/ and extra-folder clips are never held out
    by_speaker = {}
    for i, k in folds.items():
        by_speaker.setdefault(speakers[i], set()).add(k)
    assert all(len(ks) == 1 for ks in by_speaker.values())  # a speaker is on one side only
    sizes = [sum(1 for k in folds.values() if k == f) for f in range(3)]
    assert sorted(sizes) == [2, 3, 3] and folds == speaker_folds(cache, list(range(n)), 3)  # balanced, repeatable


def test_sync_train_holdout_writes_the_held_out_figures(tmp_path, capsys):
    import json

    from vocalens.commands import sync_train

    cache = _toy_cache(frames=70)  # 4 train clips of 4 speakers, 2 dev; 70 frames hold 4 offset windows
    fields = dict(offsets=cache.offsets, names=np.array(cache.names), splits=np.array(cache.splits))
    fields.update(speakers=np.array(cache.speakers), found=cache.found, info=np.array(json.dumps(cache.info)))
    np.savez(tmp_path / "cache.npz", crops=cache.crops, audio=cache.audio, **fields)
    for bad in ("1", "2/2", "0/1"):
        with pytest.raises(UserError, match="--holdout"):
            sync_train.run(_sync_train_args(tmp_path, "--holdout", bad))
    assert sync_train.run(_sync_train_args(tmp_path, "--holdout", "1/2")) == 0
    assert "training on 2 of 2 train clips" in capsys.readouterr().out
    record = json.loads((tmp_path / "run" / "holdout.json").read_text())
    assert record["holdout"] == "1/2" and len(record["clips"]) == 2 and len(record["speakers"]) == 2
    assert record["metrics"]["holdout_windows"] == 8 and record["metrics"]["windows"] == 8


class _LevelModel:
    """A stand-in sync model whose cosine peaks where the crop's brightness equals the audio's level:
    crop frame t shows the mean of hop levels 4t..4t+3, an audio frame is heard as the mean of its 4 hops."""

    cfg = SyncConfig(kernel=1)  # context 0
    freqs = torch.linspace(1.0, 40.0, 24)

    def eval(self):
        return self

    def _embed(self, level):
        x = level[..., None] * self.freqs
        return torch.nn.functional.normalize(torch.cat([x.cos(), x.sin()], -1), dim=-1)

    def embed_visual(self, crops):
        return self._embed(torch.as_tensor(crops)[:, 0, 0].float() / 255)

    def audio(self, x):
        return self._embed(x.reshape(*x.shape[:2], 4, -1).mean((2, 3)))


def _lagged_cache(lags: dict[str, int], frames: int = 60, seed: int = 3):
    """Clips whose audio lags the lips by a known number of hops, per source (names 'src/clip')."""
    from vocalens.sync.cache import SyncCache

    rng = np.random.default_rng(seed)
    crops, audio, names = [], [], []
    for src, lag in lags.items():
        for k in range(3):
            hops = rng.uniform(0, 1, frames * 4 + 40)
            seen = hops[20 : 20 + frames * 4].reshape(frames, 4).mean(1)
            heard = hops[20 - lag : 20 - lag + frames * 4]  # hop k is heard lag hops late
            crops.append(np.broadcast_to((seen * 255).round().astype(np.uint8)[:, None, None], (frames, 32, 48)))
            audio.append(np.repeat(heard.reshape(frames, 4, 1), 80, axis=2).reshape(frames, 320).astype(np.float16))
            names.append(f"{src}/{k}.mp4")
    n = len(names)
    return SyncCache(
        np.concatenate(crops),
        np.concatenate(audio),
        np.arange(n + 1) * frames,
        names,
        ["train"] * n,
        [s.split("/")[0] for s in names],
        np.ones(n, np.float32),
        {"crop": "face"},
    )


def test_shift_audio_moves_hops():
    from vocalens.sync.realign import shift_audio

    a = np.arange(3 * 320, dtype=np.float32).reshape(3, 320)  # hop k of the clip holds 80 * k .. 80 * k + 79
    out = shift_audio(a, 2).reshape(12, 80)
    assert out[0, 0] == 160 and out[9, 0] == 880 and out[10, 0] == out[11, 0] == 880  # edge-padded at the end
    assert shift_audio(a, -1).reshape(12, 80)[0, 0] == 0 and shift_audio(a, -1).reshape(12, 80)[1, 0] == 0
    assert shift_audio(a, 0) is a


def test_realign_recovers_a_known_lag():
    from vocalens.sync.realign import clip_curves, realigned, source_of, source_offsets

    cache = _lagged_cache({"short": 3, "clips": 0, "extra": 0, "wide": 0, "more": 0})
    cache.names = [
        n if n.startswith("short/") else n.split("/")[1] if n.startswith("clips/") else n for n in cache.names
    ]
    assert (
        source_of("short/0.mp4") == "short"
        and source_of("a.mp4") == "clips"
        and source_of("real-clips/a.mp4") == "real-clips"
    )
    train = cache.indices("train")
    curves = clip_curves(_LevelModel(), cache, train, max_hops=6)
    assert all(int(np.argmax(c)) - 6 == (3 if cache.names[i].startswith("short/") else 0) for i, c in curves.items())
    # 'short' has 3 clips like the others: name the reference instead of relying on "all but the largest"
    shifts, counts, ref = source_offsets(curves, cache, reference=["clips", "extra"])
    assert shifts["short"] == 3 and shifts["clips"] == 0 and ref == 0 and counts["short"] == 3
    fixed = realigned(cache, shifts, train)
    again = clip_curves(_LevelModel(), fixed, train, max_hops=6)
    assert all(int(np.argmax(c)) == 6 for c in again.values())  # every clip in sync now
    assert fixed.info["realign_hops"] == {"short": 3} and np.shares_memory(fixed.crops, cache.crops)
    np.testing.assert_array_equal(
        cache.audio, _lagged_cache({"short": 3, "clips": 0, "extra": 0, "wide": 0, "more": 0}).audio
    )


def test_realign_reference_defaults_to_all_but_the_largest_source():
    from vocalens.sync.realign import clip_curves, offset_curve, source_offsets

    cache = _lagged_cache({"big": -2, "a": 1, "b": 1})
    cache.names = cache.names + ["big/x.mp4"]
    cache.offsets = np.append(cache.offsets, cache.offsets[-1])  # an empty clip: too short to measure
    cache.splits = cache.splits + ["train"]
    curves = clip_curves(_LevelModel(), cache, list(range(10)), max_hops=6)
    assert 9 not in curves and offset_curve(_LevelModel(), cache.crops[:2], cache.audio[:2], 6) is None
    curves[10] = curves[0]  # 'big' now has 4 measured clips
    cache.names.append("big/y.mp4")
    shifts, counts, ref = source_offsets(curves, cache)
    assert counts["big"] == 4 and ref == 1 and shifts == {"big": -3, "a": 0, "b": 0}
    tiny = SyncNet(SyncConfig(dim=8, width=4, hidden=8)).eval()  # the real network gives a curve of the right size
    assert offset_curve(tiny, cache.crops[:30], cache.audio[:30], 4).shape == (9,)


def _write_lagged_cache(tmp_path):
    import json

    cache = _lagged_cache({"short": 3, "clips": 0, "real-clips": -2}, frames=60)
    cache.names = [n.split("/")[1] if n.startswith("clips/") else n for n in cache.names]
    cache.splits = ["train", "train", "dev"] * 3  # one clip per source is dev: never measured or moved
    path = tmp_path / "cache.npz"
    np.savez(
        path,
        crops=cache.crops,
        audio=cache.audio,
        offsets=cache.offsets,
        names=np.array(cache.names),
        splits=np.array(cache.splits),
        speakers=np.array(cache.speakers),
        found=cache.found,
        info=np.array(json.dumps(cache.info)),
    )
    return path


def _sync_train_args(tmp_path, *extra):
    import argparse

    from vocalens.commands import sync_train

    p = argparse.ArgumentParser()
    sync_train.add_arguments(p)
    base = ["--corpus", str(tmp_path), "--output_dir", str(tmp_path / "run"), "--cache", str(tmp_path / "cache.npz")]
    tiny = ["--epochs", "1", "--dim", "8", "--width", "4", "--hidden", "8", "--kernel", "3", "--length", "8"]
    return p.parse_args(base + tiny + ["--batch_size", "4", "--no_progress", *extra])


def test_sync_train_realign_moves_only_the_named_sources(tmp_path, monkeypatch):
    from vocalens.commands import sync_train
    from vocalens.sync import weights as weights_mod

    _write_lagged_cache(tmp_path)
    monkeypatch.setattr(weights_mod, "load_weights", lambda w: (_LevelModel(), {}, "level0000000"))
    args = _sync_train_args(
        tmp_path, "--realign", "--realign_reference", "clips", "--realign_sources", "short", "--realign_max_hops", "6"
    )
    args.select = "offset_both"
    assert sync_train.run(args) == 0
    _, info, _ = weights_mod._load.__wrapped__(str(tmp_path / "run" / "sync_encoder.safetensors"), 0.0)
    assert info["realign_hops"] == {"short": 3} and info["select"] == "offset_both"  # real-clips (-2) stays


def test_sync_train_bad_shift_is_one_line_error(tmp_path):
    from vocalens.commands import sync_train

    _write_lagged_cache(tmp_path)
    with pytest.raises(UserError, match="SOURCE=HOPS"):
        sync_train.run(_sync_train_args(tmp_path, "--shift", "short"))
    with pytest.raises(UserError, match="no train clips from the sources"):
        sync_train.run(_sync_train_args(tmp_path, "--sources", "nowhere"))


@pytest.mark.parametrize("crop", ["face", "aligned"])
def test_cache_decodes_a_clip_with_each_crop(real_clips, crop):
    """sync-train's cache holds exactly what the visual encoder computes from extract's face crops."""
    from vocalens.media.landmarks import mediapipe_mesh_available
    from vocalens.sync.cache import Clip, decode_clip, face_crops
    from vocalens.sync.features import CROP_KINDS, sync_crops

    if crop == "aligned" and not mediapipe_mesh_available():
        pytest.skip("mediapipe face mesh not installed")
    clip = Clip("c", real_clips / "LipNet__bbaf2n.mpg", "train", "s")
    crops, audio, found = decode_clip(clip, crop)
    assert crops.shape == (len(audio), *CROP_KINDS[crop][1]) and audio.shape[1] == 320 and found > 0.9
    from vocalens.media.crops import DETECT_MAX_SIDE
    from vocalens.media.video import load_video

    faces, _ = face_crops(load_video(clip.path, fps=25, max_side=DETECT_MAX_SIDE).frames)
    np.testing.assert_array_equal(sync_crops(faces, crop), crops)


def test_sync_train_aligned_crop_records_its_input(tmp_path):
    """sync-train --crop aligned trains on 40 x 48 aligned crops and says so in the weights; a cache of
    the other crop is refused rather than trained on."""
    import json

    from vocalens.commands import sync_train
    from vocalens.sync.features import ALIGNED_BOX, ALIGNED_HW

    _write_lagged_cache(tmp_path)
    with pytest.raises(UserError, match="built with crop 'face'"):
        sync_train.run(_sync_train_args(tmp_path, "--crop", "aligned"))
    cache = _toy_cache(frames=70)
    path = tmp_path / "cache.npz"
    grey = np.repeat(cache.crops, 2, axis=1)[:, :40]  # 40 x 48 stand-ins for aligned crops
    fields = dict(offsets=cache.offsets, names=np.array(cache.names), splits=np.array(cache.splits))
    fields.update(speakers=np.array(cache.speakers), found=cache.found, info=np.array(json.dumps({"crop": "aligned"})))
    np.savez(path, crops=grey, audio=cache.audio, **fields)
    assert sync_train.run(_sync_train_args(tmp_path, "--crop", "aligned")) == 0
    model, info, _ = load_weights(tmp_path / "run" / "sync_encoder.safetensors")
    assert info["crop"] == "aligned" and tuple(info["box"]) == ALIGNED_BOX and model.cfg.crop_hw == ALIGNED_HW
    vis = build_visual_encoder("sync", weights=str(tmp_path / "run" / "sync_encoder.safetensors"))
    assert vis.crop == "aligned" and vis.box == ALIGNED_BOX
