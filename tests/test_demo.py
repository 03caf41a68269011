"""`vocalens demo` end to end at a toy size: every stage runs through the CLI and hands the next
stage what it needs; a second run resumes instead of starting over."""

import json

from vocalens.cli import main


def test_demo_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--output_dir",
        str(out),
        "--num_videos",
        "14",
        "--max_duration",
        "2.5",
        "--epochs",
        "1",
        "--d_model",
        "16",
        "--num_layers",
        "1",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    meta = json.loads((out / "data" / "metadata.min.json").read_text())
    test_ids = sorted(e["file"].split("/")[1][:-4] for e in meta if e["split"] == "test")
    results = json.loads((out / "results" / "test_results.json").read_text())
    assert sorted(v["video_id"] for v in results["videos"]) == test_ids
    for key in ("frame", "video", "localization", "temporal"):
        assert key in results["metrics"]
    assert (out / "visualizations" / "summary_statistics.png").stat().st_size > 10_000
    assert (out / "visualizations" / "index.html").is_file()
    from vocalens.localizer.predict import Predictor

    cfg = Predictor.from_checkpoint(out / "checkpoints" / "best.pth").config
    assert cfg["visual_encoder"]["name"] == "default" and cfg["audio_encoder"]["name"] == "default"
    assert 0.0 < cfg["threshold"] < 1.0
    det = json.loads((out / "detections" / "synthetic" / "detections.json").read_text())
    assert len(det) == 1 and det[0]["verdict"] in ("REAL", "FAKE")
    assert "headline (test split)" in capsys.readouterr().out

    # run again: the dataset, features and checkpoints are kept (training resumes at its last epoch)
    stamp = (out / "data" / "metadata.min.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "data" / "metadata.min.json").stat().st_mtime_ns == stamp
    assert " 0 extracted, 14 already complete" in capsys.readouterr().out


def test_localizer_train_argv_trains_on_train_and_dev_and_resumes_from_last(tmp_path):
    from vocalens.commands.demo import localizer_train_argv

    out = tmp_path / "ckpt"
    argv = localizer_train_argv(tmp_path / "feats", out, 3, ["--seed", "7"])
    assert argv == [
        "train",
        "--features_root",
        str(tmp_path / "feats"),
        "--splits",
        "train",
        "dev",
        "--output_dir",
        str(out),
        "--epochs",
        "3",
        "--seed",
        "7",
    ]
    out.mkdir()
    (out / "last.pth").write_bytes(b"")
    assert localizer_train_argv(tmp_path / "feats", out, 3, [])[-2:] == ["--resume", str(out / "last.pth")]
