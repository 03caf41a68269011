import json

import numpy as np
import pytest

from vocalens.data import store
from vocalens.data.metadata import SkipCounter, read_av1m, read_dataset, read_lavdf
from vocalens.errors import MetadataError, UserError


def _lavdf(tmp_path, entries, touch=True, name="metadata.min.json"):
    for e in entries:
        if touch:
            (tmp_path / e["file"]).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / e["file"]).write_bytes(b"x")
    (tmp_path / name).write_text(json.dumps(entries))
    return tmp_path


def _entry(file, split, periods=(), dur=4.0, mv=False, ma=False):
    return {
        "file": file,
        "split": split,
        "n_fakes": len(periods),
        "fake_periods": [list(p) for p in periods],
        "duration": dur,
        "original": None,
        "modify_video": mv,
        "modify_audio": ma,
        "video_frames": int(dur * 25),
        "audio_channels": 1,
        "audio_frames": int(dur * 16000),
    }


def test_read_lavdf(tmp_path):
    root = _lavdf(
        tmp_path,
        [
            _entry("train/000001.mp4", "train"),
            _entry("test/000002.mp4", "test", [(0.5, 1.2)], mv=True, ma=True),
            _entry("dev/000003.mp4", "dev", [(1.0, 2.0)], ma=True),
        ],
    )
    recs = read_lavdf(root)
    assert [r.video_id for r in recs] == ["000001", "000002", "000003"]
    assert recs[1].fake_periods == ((0.5, 1.2),) and recs[1].manipulation == "both" and recs[1].label == 1
    assert recs[0].manipulation == "real" and recs[2].manipulation == "audio"
    assert [r.video_id for r in read_lavdf(root, splits=["test"])] == ["000002"]
    assert recs[1].path == root / "test/000002.mp4"


def test_falls_back_to_metadata_json(tmp_path):
    root = _lavdf(tmp_path, [_entry("train/000001.mp4", "train")], name="metadata.json")
    assert len(read_dataset(root)) == 1


@pytest.mark.parametrize(
    "entry,msg",
    [
        (_entry("test/000009.mp4", "test", [(2.0, 1.0)]), "start >= end"),
        (_entry("test/000009.mp4", "test", [(3.5, 9.0)]), "outside the video"),
        (_entry("test/000009.mp4", "holdout"), "unknown split"),
    ],
)
def test_bad_entries_name_the_video(tmp_path, entry, msg):
    root = _lavdf(tmp_path, [entry])
    with pytest.raises(MetadataError, match=msg) as ei:
        read_lavdf(root)
    assert "000009" in str(ei.value) and "\n" not in str(ei.value)
    skipped = SkipCounter()
    assert read_lavdf(root, skip_invalid=True, skipped=skipped) == [] and len(skipped) == 1


def test_missing_file_and_bad_json(tmp_path):
    root = _lavdf(tmp_path, [_entry("test/000001.mp4", "test")], touch=False)
    with pytest.raises(MetadataError, match="not found"):
        read_lavdf(root)
    assert len(read_lavdf(root, check_files=False)) == 1
    (tmp_path / "metadata.min.json").write_text("[{")
    with pytest.raises(UserError, match="not valid JSON"):
        read_lavdf(root)


def test_read_av1m(tmp_path):
    items = [
        {
            "file": "id0/vid_a/000.mp4",
            "modify_type": "real",
            "fake_segments": [],
            "visual_fake_segments": [],
            "audio_fake_segments": [],
            "video_frames": 100,
            "audio_frames": 64000,
        },
        {
            "file": "id0/vid_a/001.mp4",
            "modify_type": "audio_modified",
            "fake_segments": [[1.0, 1.4]],
            "visual_fake_segments": [],
            "audio_fake_segments": [[1.0, 1.4]],
            "video_frames": 100,
            "audio_frames": 64000,
        },
    ]
    for it in items:
        (tmp_path / "val" / it["file"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "val" / it["file"]).write_bytes(b"x")
    (tmp_path / "val_metadata.json").write_text(json.dumps(items))
    recs = read_av1m(tmp_path, ["val"])
    assert [r.split for r in recs] == ["dev", "dev"]
    assert recs[1].manipulation == "audio" and recs[1].duration == 4.0
    assert recs[1].video_id == "id0__vid_a__001" and recs[1].audio_fake_periods == ((1.0, 1.4),)
    assert len(read_dataset(tmp_path, splits=["dev"])) == 2


def test_store_roundtrip_and_atomicity(tmp_path):
    d = store.video_dir(tmp_path, "test", "000001")
    v = np.random.rand(10, 4).astype(np.float32)
    a = np.random.rand(20, 3).astype(np.float32)
    store.write_features(d, v, a, np.array([0, 1] * 5), {"fps": 25.0, "audio_rate": 50.0})
    f = store.read_features(d)
    assert f.visual.shape == (10, 4) and f.audio.shape == (20, 3) and f.audio_rate == 50.0
    np.testing.assert_allclose(f.visual, v, atol=1e-3)
    assert f.frame_labels.tolist() == [0, 1] * 5
    assert [p.name for p in store.list_videos(tmp_path, "test")] == ["000001"]
    with pytest.raises(ValueError):
        store.write_features(store.video_dir(tmp_path, "test", "000002"), v, a, np.zeros(3), {})
    # the failed write left nothing that looks like a video, not even a temp folder
    assert [p.name for p in (tmp_path / "test").iterdir()] == ["000001"]
    with pytest.raises(UserError):
        store.read_features(tmp_path / "test" / "nope")


def test_store_folders_get_normal_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        d = store.write_features(
            store.video_dir(tmp_path, "test", "000001"), np.zeros((2, 2)), np.zeros((2, 2)), None, {}
        )
    finally:
        os.umask(old)
    assert d.stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
