"""Calibration on dev speakers: Platt scaling, the verdict threshold, UNCERTAIN, and the shipped-checkpoint writer."""

import numpy as np
import pytest

from eval_fakes import make_store
from vocalens.cli import main
from vocalens.localizer.calibrate import Calibration, fit_calibration, fit_platt, pick_video_threshold, verdict


def test_pick_video_threshold_hand_case():
    probs = [0.1, 0.6, 0.7, 0.9, 0.95, 0.99]
    labels = [0, 0, 0, 0, 1, 1]
    t = pick_video_threshold(probs, labels, max_fpr=0.25)  # 1 of the 4 real videos may stay above
    assert 0.7 < t <= 0.9 and t == pytest.approx(0.7)
    assert pick_video_threshold(probs, labels, max_fpr=0.0) > 0.9  # every real video REAL
    assert pick_video_threshold([0.01, 0.2], [0, 0], max_fpr=0.0) == 0.5  # never below the floor
    assert pick_video_threshold([0.9], [1]) == 0.5  # no real video: the floor


def test_platt_is_monotonic_and_centres_the_classes():
    rng = np.random.default_rng(0)
    raw = np.concatenate([rng.uniform(0.7, 0.9, 50), rng.uniform(0.85, 0.99, 50)])  # reals score high too
    y = np.r_[np.zeros(50), np.ones(50)]
    a, b = fit_platt(raw, y)
    assert a > 0
    cal = Calibration(a=a, b=b)
    p = cal.apply(raw)
    assert np.all(np.diff(p[np.argsort(raw)]) >= 0)
    assert p[y == 0].mean() < 0.5 < p[y == 1].mean()  # raw probabilities were all above 0.5
    assert fit_platt([0.2, 0.3], [1, 1]) == (1.0, 0.0)  # one class: identity


def test_fit_calibration_meets_its_fpr_on_the_data():
    rng = np.random.default_rng(1)
    raw = np.concatenate([rng.beta(5, 2, 40), rng.beta(9, 1, 60)])
    y = np.r_[np.zeros(40), np.ones(60)]
    cal = fit_calibration(raw, y, max_fpr=0.05)
    called = cal.apply(raw) >= cal.video_threshold
    assert called[y == 0].mean() <= 0.05 and cal.dev["fpr"] == called[y == 0].mean()
    assert cal.dev["real"] == 40 and cal.dev["fake"] == 60
    assert Calibration.from_dict(cal.to_dict()) == cal and Calibration.from_dict(None) is None


def test_verdict_rules():
    assert verdict(0.9, 0.6, 0.1, []) == "FAKE"
    assert verdict(0.55, 0.6, 0.1, []) == "UNCERTAIN"  # just under the threshold
    assert verdict(0.2, 0.6, 0.1, []) == "REAL"
    assert verdict(0.9, 0.6, 0.1, ["audio track is silent"]) == "UNCERTAIN"  # no evidence, no verdict
    assert verdict(0.2, 0.6, 0.1, ["face found in only 10% of frames"]) == "UNCERTAIN"


@pytest.fixture
def tiny_checkpoint(tmp_path):
    import torch

    from vocalens.localizer.config import ModelConfig as LocalizerConfig
    from vocalens.localizer.model import Localizer
    from vocalens.train.checkpoint import save_atomic

    cfg = LocalizerConfig(visual_dim=6, audio_dim=4, d_model=16, num_layers=1, nhead=2)
    torch.manual_seed(0)
    task = {
        "kind": "vocalens-localizer",
        "model_config": cfg.to_dict(),
        "threshold": 0.5,
        "visual_dim": 6,
        "audio_dim": 4,
        "fps": 25.0,
        "audio_rate": 50.0,
        "max_frames": 64,
        "modality": "both",
    }
    path = tmp_path / "best.pth"
    save_atomic({"model": Localizer(cfg).state_dict(), "task": task, "optimizer": {"state": {}}, "epoch": 3}, path)
    return path


def test_calibrate_command_writes_a_slim_calibrated_checkpoint(tiny_checkpoint, tmp_path, capsys):
    import torch

    from vocalens.localizer.predict import Predictor

    store = make_store(tmp_path / "feats", n=12, split="dev")
    before = tiny_checkpoint.read_bytes()
    out = tmp_path / "model.pth"
    assert (
        main(
            [
                "calibrate",
                "--checkpoint",
                str(tiny_checkpoint),
                "--features_root",
                str(store),
                "--output",
                str(out),
                "--max_fpr",
                "0",
            ]
        )
        == 0
    )
    assert "calibrated on 12 dev videos (3 real, 9 fake)" in capsys.readouterr().out
    assert tiny_checkpoint.read_bytes() == before  # the input is never modified
    ck = torch.load(out, weights_only=True)
    assert "optimizer" not in ck and ck["epoch"] == 3
    raw, cal = Predictor.from_checkpoint(tiny_checkpoint), Predictor.from_checkpoint(out)
    assert cal.calibration is not None and cal.video_threshold == ck["task"]["video_threshold"] >= 0.5
    rng = np.random.default_rng(0)
    v, a = rng.normal(size=(40, 6)), rng.normal(size=(80, 4))
    r, c = raw.predict(v, a, 50.0), cal.predict(v, a, 50.0)
    assert c["video_prob_raw"] == pytest.approx(r["video_prob"])
    assert c["video_prob"] == pytest.approx(cal.calibration.apply(r["video_prob"]))
    np.testing.assert_allclose(c["frame_probs"], r["frame_probs"])  # frames are not recalibrated
    # with max_fpr 0 no dev real video is called FAKE by the evaluate command either
    res = tmp_path / "res.json"
    assert (
        main(
            [
                "evaluate",
                "--features_root",
                str(store),
                "--split",
                "dev",
                "--checkpoint",
                str(out),
                "--output",
                str(res),
            ]
        )
        == 0
    )
    import json

    vids = json.loads(res.read_text())["videos"]
    assert all(v["video_pred"] == 0 for v in vids if v["label"] == 0)
    assert all(v["video_threshold"] == cal.video_threshold for v in vids)


def test_calibrate_bad_input_is_one_line(tiny_checkpoint, tmp_path, capsys):
    assert (
        main(
            [
                "calibrate",
                "--checkpoint",
                str(tiny_checkpoint),
                "--features_root",
                str(tmp_path / "none"),
                "--output",
                str(tmp_path / "m.pth"),
            ]
        )
        == 2
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].endswith("none/dev: feature folder not found")
    assert not (tmp_path / "m.pth").exists()
