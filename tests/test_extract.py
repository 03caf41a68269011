import json
from pathlib import Path

import numpy as np
import pytest

from vocalens.cli import main
from vocalens.data.align import resample_to_frames
from vocalens.data.labels import frame_labels
from vocalens.data.metadata import read_lavdf
from vocalens.data.store import list_videos, read_features
from vocalens.encoders import build_audio_encoder, build_visual_encoder
from vocalens.errors import MediaError, UserError
from vocalens.localizer.extract import extract_one, missing_runs, parse_shard, shard_records
from vocalens.media.video import load_video, write_video

SR = 16000


def _video(path, fps=25.0, seconds=1.2, size=48, onset=None, audio=True):
    n = int(round(fps * seconds))
    frames = np.zeros((n, size, size, 3), np.uint8)
    frames[:] = (5 * np.arange(n) % 256)[:, None, None, None]
    wav = None
    if audio:
        wav = np.zeros(int(round(seconds * SR)), np.float32)
        if onset is not None:  # a tone from `onset` seconds to the end
            k = np.arange(len(wav) - int(onset * SR))
            wav[int(onset * SR) :] = 0.5 * np.sin(2 * np.pi * 440 * k / SR)
    return write_video(path, frames, fps, wav)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A LAV-DF-layout set: 5 good videos (one at 30 fps), one corrupt, one without audio."""
    root = tmp_path_factory.mktemp("lavdf")
    items = []
    specs = [
        ("train", "000001", 25.0, [[0.4, 0.8]], True, False),
        ("train", "000002", 25.0, [], False, False),
        ("dev", "000003", 30.0, [[0.0, 0.2]], False, True),
        ("test", "000004", 25.0, [[0.5, 1.2]], True, True),
        ("test", "000005", 25.0, [], False, False),
    ]
    for split, vid, fps, periods, mv, ma in specs:
        _video(root / split / f"{vid}.mp4", fps=fps, onset=0.6)
        items.append(
            {
                "file": f"{split}/{vid}.mp4",
                "split": split,
                "fake_periods": periods,
                "duration": 1.2,
                "modify_video": mv,
                "modify_audio": ma,
                "n_fakes": len(periods),
            }
        )
    (root / "test" / "000006.mp4").write_bytes(b"\x00\x01garbage" * 100)  # corrupt
    _video(root / "test" / "000007.mp4", audio=False)  # no audio track
    for vid in ("000006", "000007"):
        items.append(
            {
                "file": f"test/{vid}.mp4",
                "split": "test",
                "fake_periods": [],
                "duration": 1.2,
                "modify_video": False,
                "modify_audio": False,
            }
        )
    (root / "metadata.min.json").write_text(json.dumps(items))
    return root


def _run(*argv):
    argv = [str(a) for a in argv]
    face = [] if "--face" in argv else ["--face", "none"]
    return main(["extract", "--quiet", *face, *argv])


@pytest.fixture(scope="module")
def extracted(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("feats")
    rc = _run(
        "--dataset_root",
        dataset,
        "--metadata",
        dataset / "metadata.min.json",
        "--output_root",
        out,
        "--splits",
        "train",
        "dev",
        "test",
        "--num_workers",
        "2",
    )  # threads, out of order finishing
    return out, rc


def test_layout_schema_and_labels(dataset, extracted):
    out, rc = extracted
    assert rc == 1  # 000006 (corrupt) and 000007 (no audio) failed; the rest were extracted (errors.batch_exit)
    assert [p.name for p in list_videos(out, "train")] == ["000001", "000002"]
    assert [p.name for p in list_videos(out, "test")] == ["000004", "000005"]
    records = {r.video_id: r for r in read_lavdf(dataset, check_files=False)}
    for split in ("train", "dev", "test"):
        for folder in list_videos(out, split):
            assert sorted(f.name for f in folder.iterdir()) == [
                "audio_embeddings.npz",
                "meta.json",
                "visual_embeddings.npz",
            ]
            with np.load(folder / "visual_embeddings.npz") as z:
                assert sorted(z.files) == ["embeddings", "frame_labels"]
                assert z["embeddings"].dtype == np.float16 and z["frame_labels"].dtype == np.uint8
            feats = read_features(folder)
            rec = records[folder.name]
            meta = feats.meta
            assert feats.visual.shape == (30, 512) and feats.audio.shape == (30, 1024)  # 1.2 s at 25 Hz
            assert meta["fps"] == 25.0 and meta["audio_rate"] == 25.0 and meta["duration"] == pytest.approx(1.2)
            assert meta["split"] == split and meta["source"] == str(rec.path) and meta["video_id"] == rec.video_id
            assert meta["visual_encoder"]["name"] == "default" and meta["audio_encoder"]["dim"] == 1024
            assert meta["faces_found"] == 1.0 and meta["face"] == "none"
            assert meta["fake_periods"] == [list(p) for p in rec.fake_periods]
            assert meta["label"] == rec.label and meta["manipulation"] == rec.manipulation
            assert meta["modify_video"] == rec.modify_video and meta["modify_audio"] == rec.modify_audio
            assert np.array_equal(feats.frame_labels, frame_labels(rec.fake_periods, 30, 25.0))
    # hand-checked: [0.4, 0.8) at 25 fps = frames 10..19 (centres 0.42..0.78)
    lab = read_features(out / "train" / "000001").frame_labels
    assert lab.sum() == 10 and lab[10] == 1 and lab[19] == 1 and lab[9] == 0 and lab[20] == 0
    assert read_features(out / "dev" / "000003").meta["source_fps"] == pytest.approx(30.0)


def test_corrupt_and_audioless_videos_recorded_and_skipped(extracted):
    out, _ = extracted
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted(f["video_id"] for f in failures) == ["000006", "000007"]
    noaudio = next(f for f in failures if f["video_id"] == "000007")
    assert "no audio track" in noaudio["error"] and noaudio["error"].startswith(str(Path(noaudio["source"])))
    assert not (out / "test" / "000006").exists() and not (out / "test" / "000007").exists()


def test_30fps_input_gives_25fps_frames(tmp_path):
    _video(tmp_path / "v" / "a.mp4", fps=30.0, seconds=2.0)
    out = tmp_path / "out"
    assert _run("--dataset_root", tmp_path / "v", "--output_root", out, "--num_workers", "0") == 0
    feats = read_features(out / "test" / "a")
    assert feats.num_frames == 50 and feats.audio.shape[0] == 50
    # a plain folder has no labels
    assert feats.frame_labels is None and feats.meta["label"] is None and feats.meta["manipulation"] == "unknown"


def test_audio_onset_lands_on_the_right_frame(tmp_path):
    """A tone starting at 0.8 s (frame 20 at 25 fps) must light up frame 20 after resample_to_frames."""
    _video(tmp_path / "v" / "a.mp4", fps=30.0, seconds=2.0, onset=0.8)
    out = tmp_path / "out"
    assert _run("--dataset_root", tmp_path / "v", "--output_root", out, "--num_workers", "0", "--dtype", "float32") == 0
    feats = read_features(out / "test" / "a")
    on_frames = resample_to_frames(feats.audio, feats.audio_rate, feats.num_frames, feats.fps)
    hops = on_frames[:, :512].reshape(-1, 4, 128).mean(-1)  # [T, 4] 10 ms hops per frame
    quiet = hops[:15].max()
    assert (hops[:19] <= quiet + 1e-3).all()  # frames before 0.76 s: silence
    assert (hops[21:] > quiet + 0.5).all()  # frames after 0.84 s: tone
    assert hops[20].max() > quiet + 0.5  # the onset frame


def test_skip_existing_after_a_killed_run(dataset, tmp_path):
    out = tmp_path / "out"
    args = ["--dataset_root", dataset, "--output_root", out, "--splits", "train", "--num_workers", "0"]
    assert _run(*args) == 0
    good = out / "train" / "000001"
    mtime = (good / "meta.json").stat().st_mtime_ns
    # a killed run leaves: a temp folder of a video, and a half-written folder under its own name
    (out / "train" / ".tmp-000002-abcd1234").mkdir()
    (out / "train" / ".tmp-000002-abcd1234" / "visual_embeddings.npz").write_bytes(b"partial")
    other_shard_tmp = out / "train" / ".tmp-999999-zzzz9999"  # not ours: left alone
    other_shard_tmp.mkdir()
    half = out / "train" / "000002"
    (half / "meta.json").unlink()
    assert _run(*args, "--skip_existing") == 0
    assert (good / "meta.json").stat().st_mtime_ns == mtime  # complete folder skipped
    assert (half / "meta.json").is_file() and read_features(half).num_frames == 30  # half-written redone
    assert not (out / "train" / ".tmp-000002-abcd1234").exists() and other_shard_tmp.exists()


def test_two_shards_cover_every_video_once(dataset, tmp_path, monkeypatch):
    records = read_lavdf(dataset, check_files=False)
    a, b = shard_records(records, 0, 2), shard_records(records, 1, 2)
    ids = [r.video_id for r in a + b]
    assert sorted(ids) == sorted(r.video_id for r in records) and len(set(ids)) == len(ids)
    assert parse_shard("1/3") == (1, 3)
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parse_shard(None) == (2, 4)
    with pytest.raises(UserError, match="--shard 3/3"):
        parse_shard("3/3")
    # end to end: RANK/WORLD_SIZE from the environment and --shard give disjoint halves
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "out"
    base = ["--dataset_root", dataset, "--output_root", out, "--splits", "train", "dev", "--num_workers", "0"]
    assert _run(*base) == 0
    assert _run(*base, "--shard", "1/2", "--num_workers", "1", "--worker_kind", "process") == 0
    got = sorted(p.name for s in ("train", "dev") for p in list_videos(out, s))
    assert got == ["000001", "000002", "000003"]


def test_missing_weights_folder_is_a_one_line_cli_error(dataset, tmp_path, capsys):
    rc = _run(
        "--dataset_root",
        dataset,
        "--output_root",
        tmp_path / "o",
        "--visual_encoder",
        "vit",
        "--visual_weights",
        tmp_path / "no-such-vit",
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(tmp_path / "no-such-vit") in err


def test_extract_with_hf_encoders_from_saved_folders(dataset, tmp_path):
    import torch
    from transformers import ViTConfig, ViTModel, Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    ViTModel(
        ViTConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
            image_size=32,
            patch_size=16,
        ),
        add_pooling_layer=False,
    ).save_pretrained(tmp_path / "vit")
    Wav2Vec2Model(
        Wav2Vec2Config(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
            conv_dim=(16,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        )
    ).save_pretrained(tmp_path / "w2v")
    out = tmp_path / "out"
    assert (
        _run(
            "--dataset_root",
            dataset,
            "--output_root",
            out,
            "--splits",
            "dev",
            "--num_workers",
            "0",
            "--visual_encoder",
            "vit",
            "--visual_weights",
            tmp_path / "vit",
            "--audio_encoder",
            "wav2vec2",
            "--audio_weights",
            tmp_path / "w2v",
        )
        == 0
    )
    feats = read_features(out / "dev" / "000003")
    assert feats.visual.shape == (30, 32) and feats.audio_rate == 50.0 and feats.audio.shape == (59, 32)
    assert feats.meta["visual_encoder"]["weights"] == str(tmp_path / "vit")
    rebuilt = build_visual_encoder(**feats.meta["visual_encoder"])
    assert rebuilt.dim == 32


def test_face_detection_on_a_real_clip(real_clips, tmp_path):
    """--face auto on a real talking face: crops found on (nearly) every frame, recorded compactly."""
    clip = tmp_path / "v" / "clip.mp4"
    m = load_video(real_clips / "LipNet__bbaf2n.mpg")
    write_video(clip, m.frames[:25], 25.0, m.audio[:16000])  # 1 s keeps the test fast
    out = tmp_path / "out"
    assert _run("--face", "auto", "--dataset_root", tmp_path / "v", "--output_root", out, "--num_workers", "0") == 0
    meta = read_features(out / "test" / "clip").meta
    assert meta["face"] == "auto" and meta["face_detector"] in ("haar", "mediapipe")
    assert meta["faces_found"] >= 0.9 and meta["num_frames"] == 25
    missing = sum(e - s for s, e in meta["face_missing_frames"])
    assert missing == round((1 - meta["faces_found"]) * 25)


def test_unknown_face_detector_is_a_user_error(dataset, tmp_path, capsys):
    rc = _run("--dataset_root", dataset, "--output_root", tmp_path / "o", "--face", "bogus")
    assert rc == 2 and "--face bogus" in capsys.readouterr().err


def test_extract_one_matches_the_store(dataset, extracted):
    out, _ = extracted
    vis, aud = build_visual_encoder("default"), build_audio_encoder("default")
    one = extract_one(dataset / "dev" / "000003.mp4", vis, aud, face="none")
    stored = read_features(out / "dev" / "000003")
    assert one.visual.shape == stored.visual.shape and one.audio.shape == stored.audio.shape
    assert np.allclose(one.visual, stored.visual, atol=2e-2) and np.allclose(one.audio, stored.audio, atol=2e-2)
    assert one.meta["audio_rate"] == 25.0 and one.frame_labels is None
    with pytest.raises(MediaError, match="no audio track"):
        extract_one(dataset / "test" / "000007.mp4", vis, aud, face="none")


def test_missing_runs():
    assert missing_runs(np.array([1, 0, 0, 1, 1, 0], bool)) == [[1, 3], [5, 6]]
    assert missing_runs(np.ones(4, bool)) == []
