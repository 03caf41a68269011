"""evaluate / infer JSON schemas (stand-in predictor here; the real Predictor below), detect."""

import json
import math

import numpy as np
import pytest

from eval_fakes import fake_inference_module, make_store
from serve_helpers import tiny_checkpoint
from vocalens.cli import main
from vocalens.eval.metrics import frame_metrics, temporal_ap_ar


@pytest.fixture
def fake_predictor(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "vocalens.localizer.predict", fake_inference_module())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("feats"), n=8)


def test_evaluate_json_and_official_proposals(fake_predictor, store, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert (
        main(
            [
                "evaluate",
                "--features_root",
                str(store),
                "--split",
                "test",
                "--checkpoint",
                "x.pth",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "EVALUATION RESULTS" in printed and "Localization IoU" in printed and "AR@100" in printed
    res = json.loads(out.read_text())  # standard JSON: NaN written as null
    assert res["threshold"] == 0.5 and len(res["videos"]) == 8
    v = res["videos"][1]
    for key in (
        "video_id",
        "frame_probs",
        "frame_labels",
        "similarity",
        "segments",
        "segments_sec",
        "video_prob",
        "video_max_prob",
        "manipulation",
        "fake_periods",
        "proposals",
        "iou",
        "f1",
    ):
        assert key in v
    assert all(
        abs(s / 25 - a) < 1e-9 and abs(e / 25 - b) < 1e-9
        for (s, e, _), (a, b, _) in zip(v["segments"], v["segments_sec"])
    )
    # metrics are recomputable from the per-video data in the JSON
    probs = np.concatenate([x["frame_probs"] for x in res["videos"]])
    labels = np.concatenate([x["frame_labels"] for x in res["videos"]])
    assert res["metrics"]["frame"]["auc"] == pytest.approx(frame_metrics(probs, labels)["auc"])
    gt = {x["video_id"]: x["fake_periods"] for x in res["videos"]}
    r = temporal_ap_ar({x["video_id"]: x["proposals"] for x in res["videos"]}, gt, [0.5], [100])
    assert res["metrics"]["temporal"]["lavdf"]["AP@0.5"] == pytest.approx(r["ap"][0.5])
    assert set(res["metrics"]["by_manipulation"]) == {"real", "audio", "visual", "both"}
    assert res["metrics"]["by_manipulation"]["real"]["frame"]["auc"] is None
    # official formats: LAV-DF frames at 25 fps keyed by file, AV-Deepfake1M seconds
    lav = json.loads((tmp_path / "results_proposals_lavdf.json").read_text())
    av1m = json.loads((tmp_path / "results_proposals_av1m.json").read_text())
    assert set(lav) == {f"test/vid{i:02d}.mp4" for i in range(8)} == set(av1m)
    sc, s, e = av1m["test/vid01.mp4"][0]
    assert lav["test/vid01.mp4"][0] == pytest.approx([sc, s * 25, e * 25])


def test_infer_seed_format(fake_predictor, store, tmp_path):
    out = tmp_path / "inf"
    assert (
        main(
            [
                "infer",
                "--checkpoint",
                "x.pth",
                "--features_dir",
                str(store / "test"),
                "--output_dir",
                str(out),
                "--threshold",
                "0.4",
                "--visualize",
            ]
        )
        == 0
    )
    res = json.loads((out / "inference_results.json").read_text())
    assert len(res) == 8 and len(list(out.glob("*.png"))) == 8
    for r in res:
        for key in (
            "video_id",
            "num_frames",
            "video_prob",
            "video_pred",
            "num_fake_frames_pred",
            "fake_ratio_pred",
            "segments",
            "segments_sec",
        ):
            assert key in r
        p = np.asarray(r["frame_probs"])
        assert r["num_frames"] == len(p) and r["num_fake_frames_pred"] == int((p >= 0.4).sum())
        assert r["video_pred"] == int(r["video_prob"] >= 0.4)
        assert math.isclose(r["fake_ratio_pred"], r["num_fake_frames_pred"] / r["num_frames"])
        assert sum(e - s for s, e, _ in r["segments"]) == r["num_fake_frames_pred"]
        assert "frame_labels" not in r and "fake_periods" not in r  # inference carries no ground truth


def test_infer_missing_features_is_user_error(fake_predictor, tmp_path, capsys):
    assert main(["infer", "--checkpoint", "x.pth", "--features_dir", str(tmp_path / "none")]) == 2
    assert "feature folder not found" in capsys.readouterr().err


# ---------------------------------------------------------------- with the real Predictor


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised tiny localizer recording the default encoders, like `vocalens train` writes."""
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pth")


def _talking_video(path, seconds=2.0, fps=25.0, size=(96, 80), audio=True, seed=0):
    from vocalens.media.video import write_video

    rng = np.random.default_rng(seed)
    T = int(round(seconds * fps))
    frames = np.full((T, size[0], size[1], 3), 120, np.uint8)
    frames[:, size[0] // 2 :, :, :] = rng.integers(0, 255, (T, size[0] - size[0] // 2, size[1], 3))
    t = np.arange(int(seconds * 16000)) / 16000
    wav = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return write_video(path, frames, fps, wav if audio else None)


def test_infer_with_real_predictor(checkpoint, tmp_path):
    store = make_store(tmp_path / "feats", n=3, dims=(512, 1024))
    out = tmp_path / "inf"
    assert (
        main(
            ["infer", "--checkpoint", str(checkpoint), "--features_dir", str(store / "test"), "--output_dir", str(out)]
        )
        == 0
    )
    res = json.loads((out / "inference_results.json").read_text())
    assert [r["video_id"] for r in res] == ["vid00", "vid01", "vid02"]
    assert all(0 <= r["video_prob"] <= 1 and len(r["frame_probs"]) == r["num_frames"] for r in res)


def test_detect_schema_fps_and_bad_files(checkpoint, tmp_path, capsys):
    good = _talking_video(tmp_path / "a.mp4", seconds=2.0, fps=25.0)
    other_fps = _talking_video(tmp_path / "b.mkv", seconds=1.2, fps=30.0, size=(64, 90))
    mute = _talking_video(tmp_path / "mute.mp4", audio=False)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    out = tmp_path / "det"
    rc = main(
        [
            "detect",
            str(good),
            str(mute),
            str(other_fps),
            str(junk),
            "--checkpoint",
            str(checkpoint),
            "--output_dir",
            str(out),
            "--face",
            "none",
            "--plot",
        ]
    )
    assert rc == 1  # some files failed, the others were answered
    cap = capsys.readouterr()
    err_lines = [line for line in cap.err.splitlines() if "error" in line]
    assert len(err_lines) == 2 and any("no audio track" in line for line in err_lines)
    assert any(line.startswith(str(good)) and ("REAL" in line or "FAKE" in line) for line in cap.out.splitlines())
    res = json.loads((out / "detections.json").read_text())
    assert [("error" in r) for r in res] == [False, True, False, True]
    a, b = res[0], res[2]
    assert a["num_frames"] == 50 and b["num_frames"] == 30  # resampled onto the checkpoint's 25 fps
    for r in (a, b):
        assert r["verdict"] == ("FAKE" if r["video_prob"] >= 0.5 else "REAL")
        assert len(r["frame_probs"]) == len(r["similarity"]) == r["num_frames"]
        assert len(r["segments_text"]) == len(r["segments_sec"])
        assert all(__import__("re").fullmatch(r"\d\d:\d\d\.\d{3}-\d\d:\d\d\.\d{3}", s) for s in r["segments_text"])
        assert (out / f"{r['video_id']}.png").is_file()


def test_detect_library_on_real_clip(checkpoint, real_clips):
    import vocalens

    det = vocalens.load(checkpoint)
    assert det.system == "localizer"
    r = det.detect(real_clips / "LipNet__bbaf2n.mpg", face="none")
    assert isinstance(r, vocalens.VideoResult)
    assert r.num_frames == 75 and r.duration == pytest.approx(3.0)
    assert r.verdict_line().startswith(str(real_clips / "LipNet__bbaf2n.mpg") + ": ")
    j = r.to_json()
    assert j["num_frames"] == 75 and j["verdict"] == r.verdict and len(j["frame_probs"]) == 75


def test_detect_checkpoint_without_encoders_is_user_error(tmp_path):
    from vocalens.errors import UserError
    from vocalens.localizer.detect import load_encoders

    with pytest.raises(UserError, match="does not record the encoders"):
        load_encoders({"visual_dim": 512}, source="old.pth")


def test_detect_no_face_is_one_line_error(checkpoint, tmp_path):
    import vocalens
    from vocalens.errors import UserError
    from vocalens.media.video import write_video

    t = np.arange(32000) / 16000
    path = write_video(
        tmp_path / "gray.mp4",
        np.full((50, 96, 128, 3), 128, np.uint8),
        25.0,
        (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32),
    )
    with pytest.raises(UserError) as e:
        vocalens.load(checkpoint).detect(path, face="auto")
    assert str(e.value).startswith(f"{path}: no face found") and "\n" not in str(e.value)


def test_write_json_streams_videos_and_is_standard(tmp_path):
    from vocalens.fileio import write_json

    obj = {
        "threshold": 0.5,
        "metrics": {"auc": float("nan")},
        "videos": [
            {
                "video_id": "a",
                "frame_probs": np.array([0.1234567891, 1.0], np.float32),
                "frame_labels": np.array([0, 1], np.uint8),
            },
            {"video_id": "b", "iou": np.float64("nan")},
        ],
    }
    path = write_json(tmp_path / "r.json", obj)
    back = json.loads(path.read_text())  # strict JSON: json.loads would accept NaN, so check the text too
    assert "NaN" not in path.read_text()
    assert back == {
        "threshold": 0.5,
        "metrics": {"auc": None},
        "videos": [
            {"video_id": "a", "frame_probs": [0.123457, 1.0], "frame_labels": [0, 1]},
            {"video_id": "b", "iou": None},
        ],
    }
    assert json.loads(write_json(tmp_path / "l.json", [{"x": np.int64(3)}], indent=1).read_text()) == [{"x": 3}]


def test_load_without_checkpoint_needs_the_shipped_model(monkeypatch, tmp_path):
    import vocalens
    import vocalens.localizer as loc
    from vocalens import assets
    from vocalens.errors import UserError

    monkeypatch.setattr(assets, "DEFAULT_LOCALIZER", tmp_path / "default_localizer.pth")
    assert loc.default_checkpoint() is None
    with pytest.raises(UserError, match="ships no default model"):
        vocalens.load()
    assert main(["detect", str(tmp_path / "x.mp4")]) == 2  # the same one-line error from the CLI


def test_load_picks_the_system_and_rejects_other_checkpoints(checkpoint, tmp_path):
    import torch

    import vocalens
    from vocalens.errors import UserError

    det = vocalens.load(checkpoint.parent)  # a run folder -> best.pth
    assert det.system == "localizer" and det.threshold == 0.5
    other = tmp_path / "other.pth"
    torch.save({"model": {}, "task": {"kind": "something-else"}}, other)
    with pytest.raises(UserError, match="neither a localizer nor an AVFF checkpoint"):
        vocalens.load(other)


@pytest.mark.parametrize("command", ["evaluate", "infer"])
def test_truncated_npz_is_one_line_naming_the_file(fake_predictor, tmp_path, capsys, command):
    """Issue 15.6: a truncated feature npz was a zipfile.BadZipFile traceback that named no file."""
    store = make_store(tmp_path / "feats", n=3)
    bad = store / "test" / "vid01" / "visual_embeddings.npz"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    if command == "evaluate":
        args = ["evaluate", "--features_root", str(store), "--split", "test", "--output", str(tmp_path / "r.json")]
    else:
        args = ["infer", "--features_dir", str(store / "test"), "--output_dir", str(tmp_path / "inf")]
    assert main([*args, "--checkpoint", "x.pth"]) == 1  # the batch continues (the others answered), then exit 1
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and "vid01" in skipped[0] and "unreadable feature files" in skipped[0]
    assert "2 videos" in out


def test_detect_uses_the_face_mode_the_checkpoint_records(tmp_path):
    """Issue 15.13: a checkpoint trained on face crops (--face none) makes detect crop alike by default;
    an unrecorded mode is `auto` (face detection), and --face still overrides either."""
    import torch

    import vocalens
    from serve_helpers import tiny_checkpoint
    from vocalens.errors import UserError
    from vocalens.media.video import write_video

    t = np.arange(16000) / 16000
    video = write_video(
        tmp_path / "crop.mp4", np.full((25, 64, 64, 3), 120, np.uint8), 25.0, (0.1 * np.sin(2 * np.pi * 200 * t))
    )
    auto = tiny_checkpoint(tmp_path / "auto.pth")
    with pytest.raises(UserError, match="no face found"):
        vocalens.load(auto).detect(video)
    ck = torch.load(auto, weights_only=True)
    ck["task"]["face"] = "none"
    torch.save(ck, tmp_path / "none.pth")
    r = vocalens.load(tmp_path / "none.pth").detect(video)
    assert r.face == "none" and r.faces_found is None
    with pytest.raises(UserError, match="no face found"):
        vocalens.load(tmp_path / "none.pth").detect(video, face="auto")
