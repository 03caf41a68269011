"""evaluate / infer JSON schemas (stand-in predictor here; the real Predictor below), detect."""

import json
import math

import numpy as np
import pytest

from eval_fakes import fake_inference_module, make_store
from vocalens.cli import main
from vocalens.eval.metrics import frame_metrics, temporal_ap_ar


@pytest.fixture
def fake_predictor(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "vocalens.inference", fake_inference_module())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("feats"), n=8)


def test_evaluate_json_and_official_proposals(fake_predictor, store, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["evaluate", "--features_root", str(store), "--split", "test", "--checkpoint", "x.pth",
                 "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "EVALUATION RESULTS" in printed and "Localization IoU" in printed and "AR@100" in printed
    res = json.loads(out.read_text())  # standard JSON: NaN written as null
    assert res["threshold"] == 0.5 and len(res["videos"]) == 8
    v = res["videos"][1]
    for key in ("video_id", "frame_probs", "frame_labels", "similarity", "segments", "segments_sec", "video_prob",
                "video_max_prob", "manipulation", "fake_periods", "proposals", "iou", "f1"):
        assert key in v
    assert all(abs(s / 25 - a) < 1e-9 and abs(e / 25 - b) < 1e-9
               for (s, e, _), (a, b, _) in zip(v["segments"], v["segments_sec"]))
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
    assert main(["infer", "--checkpoint", "x.pth", "--features_dir", str(store / "test"), "--output_dir", str(out),
                 "--threshold", "0.4", "--visualize"]) == 0
    res = json.loads((out / "inference_results.json").read_text())
    assert len(res) == 8 and len(list(out.glob("*.png"))) == 8
    for r in res:
        for key in ("video_id", "num_frames", "video_prob", "video_pred", "num_fake_frames_pred", "fake_ratio_pred",
                    "segments", "segments_sec"):
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
