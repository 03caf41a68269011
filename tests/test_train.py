import json
import math

import numpy as np
import pytest
import torch

from vocalens.cli import main
from vocalens.data.store import list_videos, read_features
from vocalens.datagen.toy import write_toy_store
from vocalens.errors import UserError
from vocalens.localizer.predict import Predictor
from vocalens.localizer.task import best_f1_threshold, localization_metrics
from vocalens.train import checkpoint as ckpt_io
from vocalens.train.schedule import warmup_cosine

torch.set_num_threads(1)

TINY = [
    "--d_model",
    "16",
    "--num_layers",
    "1",
    "--nhead",
    "2",
    "--num_workers",
    "0",
    "--no_progress",
    "--batch_size",
    "4",
    "--lr",
    "3e-3",
    "--warmup_epochs",
    "1",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # 96 frames max with --max_frames 40: long videos are split into windows
    return write_toy_store(tmp_path_factory.mktemp("feats"), {"train": 12, "dev": 8}, frames=(30, 96))


def train_args(store):
    return [
        "train",
        "--features_root",
        str(store),
        "--splits",
        "train",
        "dev",
        "--epochs",
        "3",
        "--max_frames",
        "40",
        *TINY,
    ]


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main([*train_args(store), "--output_dir", str(out)]) == 0
    return out


def test_train_writes_checkpoints_logs_and_metrics(trained):
    for name in ("best.pth", "last.pth", "checkpoint_epoch1.pth", "checkpoint_epoch3.pth", "config.json"):
        assert (trained / name).is_file(), name
    assert not list(trained.glob(".tmp-*"))
    assert list((trained / "tensorboard").iterdir())
    records = [json.loads(line) for line in open(trained / "metrics.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for r in records:
        assert 0 <= r["val_frame_auc"] <= 1 and 0 <= r["val_video_auc"] <= 1
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    best = max(records, key=lambda r: r["val_frame_ap"])
    ck = ckpt_io.load(trained / "best.pth")
    assert ck["epoch"] == best["epoch"] and ck["best"]["metric"] == "frame_ap"
    assert ck["best"]["score"] == pytest.approx(best["val_frame_ap"])
    # the checkpoint stores exactly the config the command line built, and it reads back
    from vocalens.localizer.config import LocalizerConfig

    cfg = LocalizerConfig.from_dict(ck["task"]["config"])
    assert cfg.data.features_root == str(ck["task"]["config"]["data"]["features_root"])
    assert cfg.loss.pos_weight == -1.0 and ck["task"]["pos_weight"] > 0  # the flag as given, and its resolved value
    assert cfg.fit.output_dir == str(trained) and cfg.model.to_dict() == {
        **ck["task"]["model_config"],
        "visual_dim": None,
        "audio_dim": None,
    }


def test_validation_pools_every_frame_of_every_dev_video(store, trained):
    records = [json.loads(line) for line in open(trained / "metrics.jsonl")]
    total = sum(read_features(p).num_frames for p in list_videos(store, "dev"))
    assert records[-1]["val_frames"] == total and records[-1]["val_videos"] == 8


def test_predictor_reproduces_validation_and_carries_its_config(store, trained):
    p = Predictor.from_checkpoint(trained / "best.pth")
    c = p.config
    assert c["visual_dim"] == 8 and c["audio_dim"] == 6 and c["fps"] == 25.0 and c["max_frames"] == 40
    assert c["audio_rate"] == 50.0 and c["visual_encoder"]["name"] == "toy" and 0 < c["threshold"] < 1
    assert c["threshold"] == pytest.approx(c["metrics"]["threshold"])
    # recompute the dev metrics with the Predictor (window by window, stitched): same numbers
    videos = {}
    for path in list_videos(store, "dev"):
        f = read_features(path)
        out = p.predict_features(f)
        assert out["frame_probs"].shape == (f.num_frames,) and out["frame_probs"].dtype == np.float32
        videos[f.video_id] = {
            **out,
            "labels": f.frame_labels.astype(np.float32),
            "video_label": int(f.frame_labels.any()),
        }
    m = localization_metrics(videos)
    assert m["frame_auc"] == pytest.approx(c["metrics"]["frame_auc"], abs=1e-4)
    assert m["frame_ap"] == pytest.approx(c["metrics"]["frame_ap"], abs=1e-4)
    assert m["video_auc"] == pytest.approx(c["metrics"]["video_auc"], abs=1e-4)


def test_predictor_rejects_other_dims_in_one_line(trained):
    p = Predictor.from_checkpoint(trained / "last.pth")
    with pytest.raises(UserError) as e:
        p.predict(np.zeros((10, 5), np.float32), np.zeros((20, 6), np.float32), audio_rate=50.0, name="clip7")
    assert "clip7" in str(e.value) and "\n" not in str(e.value)


def test_long_video_is_predicted_window_by_window(trained):
    p = Predictor.from_checkpoint(trained / "last.pth")
    rng = np.random.default_rng(0)
    vis, aud = rng.normal(size=(100, 8)).astype(np.float32), rng.normal(size=(200, 6)).astype(np.float32)
    out = p.predict(vis, aud, audio_rate=50.0)
    assert out["frame_probs"].shape == (100,)
    # frames 0..39 are covered by the first window only: same as predicting that window alone
    head = p.predict(vis[:40], aud[:80], audio_rate=50.0)
    np.testing.assert_allclose(out["frame_probs"][:40], head["frame_probs"], atol=1e-5)
    assert out["video_prob"] >= head["video_prob"] - 1e-6


def test_resume_after_a_stop_equals_an_uninterrupted_run(store, trained, tmp_path):
    args = train_args(store)
    assert main([*args, "--output_dir", str(tmp_path / "cut"), "--stop_after_epoch", "1"]) == 0
    assert not (tmp_path / "cut" / "checkpoint_epoch2.pth").exists()
    assert (
        main(
            [*args, "--output_dir", str(tmp_path / "cut"), "--resume", str(tmp_path / "cut" / "checkpoint_epoch1.pth")]
        )
        == 0
    )
    assert [json.loads(x)["epoch"] for x in open(tmp_path / "cut" / "metrics.jsonl")] == [1, 2, 3]
    a, b = ckpt_io.load(trained / "last.pth"), ckpt_io.load(tmp_path / "cut" / "last.pth")
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["scheduler"] == b["scheduler"] and a["best"] == b["best"]
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 4, 20) == pytest.approx(0.25)
    assert warmup_cosine(3, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine(4, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine(12, 4, 20) == pytest.approx(0.5)
    assert warmup_cosine(20, 4, 20) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(12, 0, 16, min_ratio=0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.75)))


def test_checkpoints_are_weights_only_and_bad_files_are_user_errors(tmp_path):
    ckpt_io.save_atomic({"model": {"w": torch.ones(2)}, "rng": ckpt_io.rng_state()}, tmp_path / "a.pth")
    assert torch.load(tmp_path / "a.pth", weights_only=True)["model"]["w"].sum() == 2
    assert [p.name for p in tmp_path.iterdir()] == ["a.pth"]
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="bad.pth"):
        ckpt_io.load(tmp_path / "bad.pth")
    with pytest.raises(UserError, match="missing.pth"):
        Predictor.from_checkpoint(tmp_path / "missing.pth")


def test_rng_state_round_trip():
    import random

    ckpt_io.seed_everything(5)
    state = ckpt_io.rng_state()
    want = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt_io.seed_everything(99)
    ckpt_io.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == want


def test_best_f1_threshold_hand_case():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    thr, f1 = best_f1_threshold(y, p)
    assert thr == pytest.approx(0.35) and f1 == pytest.approx(2 * 0.75 * 1.0 / 1.75)


def test_temporal_ap50_uses_the_official_rule():
    """Two fake videos predicted perfectly: AP@0.5 = (N-1)/N = 0.5, the LAV-DF evaluator's quirk."""
    from vocalens.localizer.task import temporal_ap50

    a = np.zeros(100)
    a[20:40] = 1
    c = np.zeros(50)
    c[10:20] = 1
    videos = {
        "a": {"frame_probs": a * 0.9 + 0.05, "labels": a, "video_prob": 0.9},
        "b": {"frame_probs": np.full(50, 0.1), "labels": np.zeros(50), "video_prob": 0.1},
        "c": {"frame_probs": c, "labels": c, "video_prob": 0.8},
    }
    assert temporal_ap50(videos, 25.0) == pytest.approx(0.5)
    assert math.isnan(temporal_ap50({"b": videos["b"]}, 25.0))


def test_resume_from_an_older_checkpoint_redoes_its_epochs(store, trained, tmp_path):
    import shutil

    run = tmp_path / "again"
    shutil.copytree(trained, run)
    assert main([*train_args(store), "--output_dir", str(run), "--resume", str(run / "checkpoint_epoch2.pth")]) == 0
    assert [json.loads(x)["epoch"] for x in open(run / "metrics.jsonl")] == [1, 2, 3]  # epoch 3 once, not twice
    a, b = ckpt_io.load(trained / "last.pth"), ckpt_io.load(run / "last.pth")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_cli_errors_are_one_line(store, tmp_path, capsys):
    assert main(["train", "--features_root", str(tmp_path / "nope")]) == 2
    assert main(["train", "--features_root", str(store), "--d_model", "30", "--nhead", "4"]) == 2
    assert (
        main(
            [
                "train",
                "--features_root",
                str(store),
                "--resume",
                str(tmp_path / "gone.pth"),
                *TINY,
                "--output_dir",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert main(["train", "--features_root", str(store), "--conv_kernel", "4"]) == 2
    assert main(["train", "--features_root", str(store), "--sync_aug", "1.5"]) == 2
    assert main(["train", "--features_root", str(store), "--attn_dropout", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([e for e in err if e.startswith("vocalens train: error:")]) == 6
    assert "nope" in err[0] and "nhead" in err[1] and "gone.pth" in err[2]
    assert "--conv_kernel" in err[3] and "--sync_aug" in err[4] and "--attn_dropout" in err[5]


class _Killed(BaseException):
    """Stands in for kill -9: nothing after it runs (not an Exception, so no handler sees it)."""


@pytest.mark.parametrize("after", ["best.pth", "checkpoint_epoch2.pth", "last.pth"])
def test_a_kill_at_the_checkpoint_boundary_loses_nothing(store, trained, tmp_path, monkeypatch, after):
    """Issue 15.5: a kill between last.pth and best.pth left best.pth older than the run believed, and after
    resume metrics.jsonl lacked that epoch. Whatever file a kill follows, the resumed run agrees with its files."""
    run = tmp_path / "run"
    real_save = ckpt_io.save_atomic

    def save(obj, path):
        real_save(obj, path)
        if obj.get("epoch") == 2 and str(path).endswith(after):
            raise _Killed

    monkeypatch.setattr(ckpt_io, "save_atomic", save)
    with pytest.raises(_Killed):
        main([*train_args(store), "--output_dir", str(run)])
    monkeypatch.setattr(ckpt_io, "save_atomic", real_save)
    assert main([*train_args(store), "--output_dir", str(run), "--resume", str(run)]) == 0
    assert [json.loads(x)["epoch"] for x in open(run / "metrics.jsonl")] == [1, 2, 3]
    last, best = ckpt_io.load(run / "last.pth"), ckpt_io.load(run / "best.pth")
    assert best["epoch"] == last["best"]["epoch"] == 3 and last["best"] == ckpt_io.load(trained / "last.pth")["best"]
    a = ckpt_io.load(trained / "best.pth")
    assert all(torch.equal(a["model"][k], best["model"][k]) for k in a["model"])


def test_resume_repairs_a_best_pth_older_than_the_run_believes(store, trained, tmp_path):
    """Issue 15.5, a run killed under the old write order (last.pth, then best.pth): best.pth is rewritten."""
    import shutil

    run = tmp_path / "old"
    shutil.copytree(trained, run)
    shutil.copy(run / "checkpoint_epoch1.pth", run / "best.pth")
    lines = open(run / "metrics.jsonl").read().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n")
    assert main([*train_args(store), "--output_dir", str(run), "--resume", str(run)]) == 0
    assert ckpt_io.load(run / "best.pth")["epoch"] == ckpt_io.load(run / "last.pth")["best"]["epoch"] == 3
    assert [json.loads(x)["epoch"] for x in open(run / "metrics.jsonl")] == [1, 2, 3]


def test_resume_with_a_truncated_last_metrics_line(store, trained, tmp_path):
    """Issue 15.9: a metrics.jsonl line cut short by a kill made `train --resume` a JSONDecodeError."""
    import shutil

    run = tmp_path / "cut"
    shutil.copytree(trained, run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "train_lo')
    assert main([*train_args(store), "--output_dir", str(run), "--resume", str(run)]) == 0
    assert [json.loads(x)["epoch"] for x in open(run / "metrics.jsonl")] == [1, 2, 3]


def test_checkpoint_records_the_face_mode_of_its_features(tmp_path):
    """Issue 15.13: the checkpoint did not record the face mode its features were made with, so detect used
    `auto` on face crops. Train writes it from the store's meta.json; mixed or unstated modes record None."""
    from vocalens.data.store import META_FILE, list_videos, read_meta

    feats = write_toy_store(tmp_path / "feats", {"train": 6, "dev": 4}, frames=(30, 40))
    for split in ("train", "dev"):
        for p in list_videos(feats, split):
            (p / META_FILE).write_text(json.dumps({**read_meta(p), "face": "none"}))
    args = ["train", "--features_root", str(feats), "--splits", "train", "dev", "--epochs", "1", *TINY]
    assert main([*args, "--output_dir", str(tmp_path / "run")]) == 0
    assert torch.load(tmp_path / "run" / "best.pth", weights_only=True)["task"]["face"] == "none"
    first = list_videos(feats, "train")[0]
    (first / META_FILE).write_text(json.dumps({**read_meta(first), "face": "auto"}))
    assert main([*args, "--output_dir", str(tmp_path / "mixed")]) == 0
    assert torch.load(tmp_path / "mixed" / "best.pth", weights_only=True)["task"]["face"] is None


def test_resume_removes_the_temps_a_kill_left(store, trained, tmp_path):
    """Issue 15 (messages): a kill -9 inside torch.save left 0-byte .tmp-*.pth files in the run folder for good
    (atomic_path's cleanup never runs under SIGKILL). The run's start removes them."""
    import shutil

    run = tmp_path / "killed"
    shutil.copytree(trained, run)
    for name in (".tmp-best-a1b2c3d4.pth", ".tmp-last-x9y8z7w6.pth", ".tmp-metrics-q1w2e3r4.jsonl"):
        (run / name).write_bytes(b"")
    assert main([*train_args(store), "--output_dir", str(run), "--resume", str(run)]) == 0
    assert not list(run.glob(".tmp-*"))
    assert [json.loads(x)["epoch"] for x in open(run / "metrics.jsonl")] == [1, 2, 3]


def test_train_with_an_unreadable_feature_file_finishes_and_exits_1(tmp_path, capsys):
    """Issue 15: train skipped unreadable feature files and exited 0; the one exit rule (errors.batch_exit)
    says 1 when any input was skipped, after the work is done, as detect and extract do."""
    feats = write_toy_store(tmp_path / "feats", {"train": 6, "dev": 4}, frames=(30, 40))
    bad = list_videos(feats, "train")[2] / "visual_embeddings.npz"
    bad.write_bytes(bad.read_bytes()[:100])
    args = ["train", "--features_root", str(feats), "--splits", "train", "dev", "--epochs", "1", *TINY]
    assert main([*args, "--output_dir", str(tmp_path / "run")]) == 1
    assert (tmp_path / "run" / "best.pth").is_file() and (tmp_path / "run" / "last.pth").is_file()
    err = capsys.readouterr().err
    assert f"error: {bad.parent}" in err and "1 feature folders skipped" in err
