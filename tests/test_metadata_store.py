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


def test_file_named_like_a_split_keeps_the_split_folder(tmp_path):
    """Issue 15.1: {"file": "dev", "split": "test"} had the id '' and write_features replaced out/test."""
    root = _lavdf(tmp_path / "ds", [_entry("dev", "test"), _entry("test/000001.mp4", "test")])
    recs = read_lavdf(root)
    assert [r.video_id for r in recs] == ["dev", "000001"]
    out = tmp_path / "out"
    v, a = np.zeros((4, 2)), np.zeros((4, 2))
    store.write_features(store.video_dir(out, "test", "000001"), v, a, None, {})
    store.write_features(store.video_dir(out, "test", recs[0].video_id), v, a, None, {})
    assert sorted(p.name for p in store.list_videos(out, "test")) == ["000001", "dev"]
    for bad in ("", ".", "..", "a/b", ".hidden"):
        with pytest.raises(UserError, match="not a plain folder name"):
            store.video_dir(out, "test", bad)
    with pytest.raises(UserError, match="not a plain folder name"):
        store.write_features(out / "test" / "000001" / "..", v, a, None, {})
    assert (out / "test" / "000001").is_dir()


def test_absolute_and_parent_files_stay_inside_the_store(tmp_path):
    """Issue 15.2: an absolute `file` gave an id with a leading '/', so the store path left --output_root."""
    outside = tmp_path / "elsewhere" / "clip.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "metadata.min.json").write_text(
        json.dumps([_entry(str(outside), "test"), _entry("../elsewhere/clip.mp4", "dev")])
    )
    recs = read_lavdf(tmp_path / "ds")
    assert recs[0].path == outside
    for r in recs:
        d = store.video_dir(tmp_path / "out", r.split, r.video_id)
        assert d.parent == tmp_path / "out" / r.split and "/" not in r.video_id and r.video_id


@pytest.mark.parametrize("item", ["test/000001.mp4", None, 7, ["test/000001.mp4"]])
def test_entry_that_is_not_an_object(tmp_path, item):
    """Issue 15.8: a list entry that is not an object was an AttributeError."""
    root = _lavdf(tmp_path, [_entry("test/000001.mp4", "test")])
    (root / "metadata.min.json").write_text(json.dumps([item, _entry("test/000001.mp4", "test")]))
    with pytest.raises(MetadataError, match="metadata.min.json: metadata entry is not an object"):
        read_lavdf(root)
    skipped = SkipCounter()
    assert len(read_lavdf(root, skip_invalid=True, skipped=skipped)) == 1 and len(skipped) == 1


@pytest.mark.parametrize("key,value", [("duration", "abc"), ("video_frames", "x12"), ("audio_frames", [1])])
def test_non_numeric_fields(tmp_path, key, value, capsys):
    """Issue 15.7: non-numeric fields crashed extract and summary, even with --skip_invalid."""
    from vocalens.commands import summary

    bad = _entry("test/000002.mp4", "test")
    bad[key] = value
    root = _lavdf(tmp_path, [_entry("test/000001.mp4", "test"), bad])
    with pytest.raises(MetadataError, match=f"test/000002.mp4: {key} must be a number") as ei:
        read_lavdf(root)
    assert "\n" not in str(ei.value)
    skipped = SkipCounter()
    assert [r.video_id for r in read_lavdf(root, skip_invalid=True, skipped=skipped)] == ["000001"]
    assert summary.run(type("A", (), {"root": str(root), "metadata": None, "skip_invalid": True})()) == 0
    assert "1 videos" in capsys.readouterr().out


def test_same_stem_files_get_distinct_ids(tmp_path):
    """Issue 15.3: x.mp4 and x.mkv got one id, so the second overwrote the first's features."""
    from vocalens.data.metadata import read_folder

    for name in ("x.mp4", "x.mkv", "x_mp4.avi", "y.mp4", "sub/x.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    recs = read_folder(tmp_path)
    ids = [r.video_id for r in recs]
    assert len(set(ids)) == len(ids) == 5
    assert dict(zip((r.file for r in recs), ids))["y.mp4"] == "y"
    assert dict(zip((r.file for r in recs), ids))["sub/x.mp4"] == "sub__x"
    assert {ids[i] for i, r in enumerate(recs) if r.file in ("x.mp4", "x.mkv")} <= {"x_mp4", "x_mkv", "x_mp4-2"}


@pytest.mark.parametrize("fmt", ["lavdf", "av1m"])
def test_entry_without_a_label_is_not_called_real(tmp_path, fmt):
    """Issue 15.14: {"file": ...} alone was labelled real; now a MetadataError naming it (skipped and counted)."""
    if fmt == "lavdf":
        root = _lavdf(tmp_path, [_entry("test/000001.mp4", "test"), {"file": "test/000002.mp4", "split": "test"}])
        read = lambda **kw: read_lavdf(root, **kw)  # noqa: E731
    else:
        (tmp_path / "val").mkdir()
        items = [{"file": "a.mp4", "modify_type": "real", "video_frames": 10}, {"file": "b.mp4", "video_frames": 10}]
        (tmp_path / "val_metadata.json").write_text(json.dumps(items))
        read = lambda **kw: read_av1m(tmp_path, ["val"], check_files=False, **kw)  # noqa: E731
    with pytest.raises(MetadataError, match="no label field .*cannot tell real from fake") as ei:
        read()
    assert ("000002" if fmt == "lavdf" else "b.mp4") in str(ei.value)
    skipped = SkipCounter()
    assert len(read(skip_invalid=True, skipped=skipped)) == 1 and len(skipped) == 1


def test_duplicate_entry_is_refused_or_counted(tmp_path, capsys):
    """Issue 15.14: a second entry for the same video silently replaced the first."""
    from vocalens.commands import summary

    first = _entry("test/000001.mp4", "test")
    again = _entry("test/000001.mp4", "test", [(0.5, 1.0)], ma=True)
    other_file_same_id = _entry("000001.mkv", "test")
    root = _lavdf(tmp_path, [first, _entry("dev/000001.mp4", "dev"), again, other_file_same_id])
    with pytest.raises(MetadataError, match=r"duplicate entry for video test/000001 \(first: test/000001.mp4"):
        read_lavdf(root)
    skipped = SkipCounter()
    recs = read_lavdf(root, skip_invalid=True, skipped=skipped)
    assert [(r.split, r.label) for r in recs] == [("test", 0), ("dev", 0)]  # the first kept; same id in dev is fine
    assert len(skipped) == 2 and all("duplicate" in s for s in skipped.skipped)
    assert summary.run(type("A", (), {"root": str(root), "metadata": None, "skip_invalid": True})()) == 0
    assert "skipped 2 invalid entries" in capsys.readouterr().out


def test_summary_of_a_feature_store(tmp_path, capsys):
    """Issue 15.15: `vocalens summary FEATURE_STORE` printed '0 videos'."""
    from vocalens.cli import main
    from vocalens.datagen.toy import write_toy_store

    root = write_toy_store(tmp_path / "feats", {"train": 8, "test": 4}, frames=(25, 25), visual_dim=8, audio_dim=6)
    store.append_failure(root, {"video_id": "x", "error": "x: broken"})
    summary = store.store_summary(root)
    train = summary["splits"]["train"]
    assert train["videos"] == 8 and train["frames"] == 200 and summary["failures"] == 1
    assert dict(train["labels"]) == {"real": 2, "audio": 2, "visual": 2, "both": 2}
    fake = sum(e - s for p in store.list_videos(root, "train") for s, e in store.read_meta(p)["fake_periods"])
    assert train["fake_seconds"] == pytest.approx(fake) and 0 < fake < train["seconds"] == 8.0
    assert main(["summary", str(root)]) == 0
    out = capsys.readouterr().out
    assert "feature store, 12 videos" in out and "0 videos" not in out
    train_line = next(line for line in out.splitlines() if line.startswith("train"))
    assert train_line.split()[:3] == ["train", "8", "200"] and "8/6" in train_line and "toy/toy" in train_line
    assert f"{100 * fake / 8.0:5.1f}%".strip() in train_line and "1 failed videos, 0 skipped entries" in out
