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


def _tiny_localizer(path, audio_dim, **task_extra):
    """A randomly initialised tiny localizer checkpoint (visual 6-d, ``audio_dim``-d audio) as training writes it."""
    import torch

    from vocalens.localizer.config import ModelConfig
    from vocalens.localizer.model import Localizer
    from vocalens.train.checkpoint import save_atomic

    cfg = ModelConfig(visual_dim=6, audio_dim=audio_dim, d_model=16, num_layers=1, nhead=2)
    torch.manual_seed(0)
    task = {
        "kind": "vocalens-localizer",
        "model_config": cfg.to_dict(),
        "threshold": 0.5,
        "visual_dim": 6,
        "audio_dim": audio_dim,
        "fps": 25.0,
        "audio_rate": 50.0,
        "max_frames": 64,
        "modality": "both",
        **task_extra,
    }
    save_atomic({"model": Localizer(cfg).state_dict(), "task": task, "optimizer": {"state": {}}, "epoch": 3}, path)
    return path


@pytest.fixture
def tiny_checkpoint(tmp_path):
    return _tiny_localizer(tmp_path / "best.pth", audio_dim=4)


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


def _sync_videos(n=12, seed=0):
    """Videos whose raw cosine drops on the fake frames while the 'model' probabilities are noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = int(rng.integers(80, 140))
        lab = np.zeros(t, np.uint8)
        if i % 3:
            s = int(rng.integers(10, t - 40))
            lab[s : s + 30] = 1
        cos = 0.4 - 0.5 * lab + 0.05 * rng.normal(size=t)
        probs = np.clip(0.5 + 0.1 * rng.normal(size=t), 0.01, 0.99)
        out.append((probs, cos, lab))
    return out


def test_fit_fusion_learns_the_sync_direction_and_fuse_applies_it():
    from vocalens.localizer.calibrate import fit_fusion, fuse, fused_logits

    videos = _sync_videos()
    f = fit_fusion(videos, logit_smooth=5, cos_smooth=9, topk=10)
    assert f["w_cos"] > 0  # low cosine (out of sync) -> fake
    assert f["dev_frame_auc"]["fused"] > 0.95 > 0.6 > f["dev_frame_auc"]["model"]
    probs, cos, lab = videos[1]
    p, vp = fuse(probs, cos, f)
    z = fused_logits(probs, cos, f)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z)), rtol=1e-5)
    assert vp == pytest.approx(1 / (1 + np.exp(-np.sort(z)[-10:].mean())))
    assert p[lab == 1].mean() > p[lab == 0].mean()
    _, v_all = fuse(probs[:4], cos[:4], f)  # k longer than the video: the mean of all frames
    assert v_all == pytest.approx(1 / (1 + np.exp(-fused_logits(probs[:4], cos[:4], f).mean())))
    with pytest.raises(ValueError):
        fit_fusion([(probs, cos, np.zeros_like(lab))])


def test_raw_cosine_needs_a_pair():
    from vocalens.localizer.calibrate import raw_cosine

    v = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(raw_cosine(v, np.array([[2.0, 0.0], [1.0, 0.0]])), [1.0, 0.0], atol=1e-5)
    assert raw_cosine(v, np.ones((2, 3))) is None
    assert Calibration.from_dict({"a": 1.0}).fusion == {}  # calibrations from before fusion: off


@pytest.fixture
def pair_checkpoint(tmp_path):
    """Visual and audio features of one width, as a sync encoder pair gives: fusion applies."""
    return _tiny_localizer(tmp_path / "pair.pth", audio_dim=6, boundary_threshold=0.5)


def test_calibrate_fuse_sync_is_what_predict_applies(pair_checkpoint, tiny_checkpoint, tmp_path, capsys):
    import torch

    from vocalens.localizer.calibrate import fuse
    from vocalens.localizer.predict import Predictor

    store = make_store(tmp_path / "feats", n=12, split="dev", dims=(6, 6))
    out = tmp_path / "fused.pth"
    argv = ["calibrate", "--checkpoint", str(pair_checkpoint), "--features_root", str(store), "--output", str(out)]
    assert main([*argv, "--fuse_sync"]) == 0
    assert "video score: the video head" in capsys.readouterr().out
    task = torch.load(out, weights_only=True)["task"]
    fusion = task["calibration"]["fusion"]
    assert set(fusion) >= {"w_logit", "w_cos", "bias", "logit_smooth", "cos_smooth"} and fusion["video_topk"] == 0
    assert task["threshold_rule"].startswith("maximises fused frame F1")
    assert "fused frame scores" in task["boundary_threshold_rule"]
    raw, cal = Predictor.from_checkpoint(pair_checkpoint), Predictor.from_checkpoint(out)
    rng = np.random.default_rng(0)
    v, a = rng.normal(size=(90, 6)), rng.normal(size=(180, 6))
    r, c = raw.predict(v, a, 50.0), cal.predict(v, a, 50.0)
    np.testing.assert_allclose(c["frame_probs_model"], r["frame_probs"])  # the model itself is unchanged
    p, vp = fuse(r["frame_probs"], r["raw_similarity"], fusion)
    np.testing.assert_allclose(c["frame_probs"], p, rtol=1e-5)
    assert vp is None and c["video_prob_raw"] == pytest.approx(r["video_prob"])  # the video head's score
    # --video_topk: videos scored by their top fused frames
    assert main([*argv[:-1], str(tmp_path / "topk.pth"), "--fuse_sync", "--video_topk", "10"]) == 0
    assert "video score: top-10 mean" in capsys.readouterr().out
    top = Predictor.from_checkpoint(tmp_path / "topk.pth")
    c = top.predict(v, a, 50.0)
    p, vp = fuse(r["frame_probs"], r["raw_similarity"], top.calibration.fusion)
    assert c["video_prob_raw"] == pytest.approx(vp) and c["video_prob_head"] == pytest.approx(r["video_prob"])
    assert c["video_prob"] == pytest.approx(top.calibration.apply(vp))
    assert main([*argv[:-1], str(tmp_path / "y.pth"), "--video_topk", "10"]) == 2  # needs --fuse_sync
    capsys.readouterr()
    # features that are not a sync pair (6-d visual, 4-d audio): one line naming the folder
    store4 = make_store(tmp_path / "feats4", n=4, split="dev")
    argv4 = ["calibrate", "--checkpoint", str(tiny_checkpoint), "--features_root", str(store4)]
    assert main([*argv4, "--output", str(tmp_path / "x.pth"), "--fuse_sync"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "needs features of a sync encoder pair" in errors[0] and "vid00" in errors[0]
    assert not (tmp_path / "x.pth").exists()
