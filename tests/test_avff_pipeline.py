"""AVFF end to end on tiny synthetic videos: pretrain -> train -> evaluate -> detect, plus resume
and the avff encoders in the registry."""

import json

import numpy as np
import pytest
import torch

from vocalens.media.video import write_video

SR, FPS = 16000, 25.0


def _video(path, seed, fake: bool, seconds=1.2, size=32):
    """A bright disc whose radius follows the loudness of a 4 Hz amplitude-modulated tone; a fake
    plays the audio of another rhythm, so mouth and sound disagree."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    t = np.arange(int(seconds * SR)) / SR
    rate = rng.uniform(2.0, 5.0)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * rate * t)
    heard = env if not fake else 0.5 + 0.5 * np.sin(2 * np.pi * (rate + 2.5) * t + 1.0)
    wave = (0.3 * heard * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size] - size / 2
    frames = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        r = 3 + 8 * env[int((i + 0.5) / FPS * SR)]
        frames[i][(yy**2 + xx**2) < r**2] = (200, 160, 120)
    write_video(path, frames, FPS, wave)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("avff_data")
    meta = []
    plan = [("train", 6), ("dev", 2), ("test", 4)]
    k = 0
    for split, n in plan:
        for j in range(n):
            fake = j % 2 == 1
            file = f"{split}/{k:04d}.mp4"
            _video(root / file, k, fake)
            meta.append(
                {
                    "file": file,
                    "split": split,
                    "n_fakes": int(fake),
                    "fake_periods": [[0.0, 1.2]] if fake else [],
                    "duration": 1.2,
                    "modify_video": False,
                    "modify_audio": bool(fake),
                    "video_frames": 30,
                    "audio_frames": int(1.2 * SR),
                }
            )
            k += 1
    (root / "metadata.json").write_text(json.dumps(meta))
    return root


def _cli(*argv):
    from vocalens.cli import main

    return main([str(a) for a in argv])


FAST = [
    "--preset",
    "tiny",
    "--batch_size",
    "4",
    "--num_workers",
    "0",
    "--no_progress",
    "--faces",
    "center",
    "--clips_per_video",
    "2",
    "--val_clips_per_video",
    "2",
]


@pytest.mark.slow
def test_pretrain_train_evaluate_detect(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    cache = tmp_path / "cache"
    ssl = tmp_path / "ssl"
    pre = ["avff", "pretrain", "--data_root", tiny_dataset, "--output_dir", ssl, "--cache_dir", cache, *FAST]
    assert _cli(*pre, "--epochs", "2", "--stop_after_epoch", "1") == 0  # a killed run ...
    assert torch.load(ssl / "last.pth", map_location="cpu", weights_only=True)["epoch"] == 1
    assert _cli(*pre, "--epochs", "2", "--resume", ssl) == 0  # ... resumes where it stopped
    ck = torch.load(ssl / "last.pth", map_location="cpu", weights_only=True)
    assert ck["task"]["stage"] == "pretrain" and ck["epoch"] == 2
    run = ck["task"]["config"]  # the whole run's config, as the command line built it
    assert run["stage"] == "pretrain" and run["preset"] == "tiny" and run["fit"]["weight_decay"] == 0.05
    assert run["model"] == ck["task"]["avff_config"]
    assert {"rec", "av_retrieval_top1"} <= set(ck["metrics"])
    assert list(cache.iterdir())  # decoded once, reused
    # stage 2 from stage 1: encoder weights start from the pretrained ones
    cls = tmp_path / "cls"
    assert (
        _cli(
            "avff",
            "train",
            "--data_root",
            tiny_dataset,
            "--output_dir",
            cls,
            "--epochs",
            "1",
            "--pretrained",
            ssl / "best.pth",
            "--freeze_encoders",
            "--cache_dir",
            cache,
            *FAST,
        )
        == 0
    )
    ck2 = torch.load(cls / "last.pth", map_location="cpu", weights_only=True)
    assert ck2["task"]["stage"] == "classify" and "video_auc" in ck2["metrics"]
    best_ssl = torch.load(ssl / "best.pth", map_location="cpu", weights_only=True)["model"]
    w = "visual.backbone.embeddings.patch_embeddings.projection.weight"
    torch.testing.assert_close(ck2["model"][w], best_ssl[w])  # frozen: unchanged by stage 2
    assert not torch.equal(ck2["model"]["classifier.1.weight"], best_ssl["classifier.1.weight"])

    out = tmp_path / "eval.json"
    assert (
        _cli(
            "avff",
            "evaluate",
            "--checkpoint",
            cls / "last.pth",
            "--data_root",
            tiny_dataset,
            "--split",
            "test",
            "--output",
            out,
            "--cache_dir",
            cache,
            "--faces",
            "center",
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["metrics"]["all"]["n"] == 4 and res["metrics"]["all"]["n_fake"] == 2
    assert "audio" in res["metrics"] and 0.0 <= res["metrics"]["all"]["auc"] <= 1.0
    assert all(0 <= v["score"] <= 1 for v in res["videos"])

    video = tiny_dataset / "test" / "0008.mp4"
    det = tmp_path / "det"
    assert _cli("avff", "detect", video, "--checkpoint", cls, "--output_dir", det, "--faces", "center") == 0
    (r,) = json.loads((det / "detections.json").read_text())  # `vocalens detect`'s schema, AVFF's clips added
    assert (det / "0008.png").read_bytes()[:4] == b"\x89PNG"
    assert r["system"] == "avff" and r["num_frames"] == 30 and len(r["frame_probs"]) == 30
    # 30 frames, 8-frame clips: starts 0, 8, 16 and a last one ending at frame 30
    assert [round(c["start"] * 25) for c in r["clips"]] == [0, 8, 16, 22]
    assert r["video_prob"] == pytest.approx(max(c["score"] for c in r["clips"]))
    assert r["frame_probs"][0] == pytest.approx(r["clips"][0]["score"], abs=1e-6)  # clip scores painted on frames
    assert r["verdict"] == ("FAKE" if r["video_prob"] >= r["threshold"] else "REAL")
    # the same video scored by evaluate gets the same score
    ev = {v["video_id"]: v for v in res["videos"]}["0008"]
    assert ev["score"] == pytest.approx(r["video_prob"], abs=1e-5)
    # `vocalens detect` serves the AVFF checkpoint too (vocalens.load picks the system)
    det2 = tmp_path / "det2"
    assert _cli("detect", video, "--checkpoint", cls, "--output_dir", det2, "--face", "none") == 0
    assert json.loads((det2 / "detections.json").read_text())[0]["video_prob"] == pytest.approx(r["video_prob"])
    # issue 15.4: two files named clip.mp4 in different folders both keep their answer (and their PNG)
    import shutil

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(video, tmp_path / sub / "clip.mp4")
    det3 = tmp_path / "det3"
    two = [tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"]
    assert _cli("avff", "detect", *two, "--checkpoint", cls, "--output_dir", det3, "--face", "none") == 0
    got = json.loads((det3 / "detections.json").read_text())
    assert [g["source"] for g in got] == [str(v) for v in two] and len({g["video_id"] for g in got}) == 2
    assert len(list(det3.glob("clip*.png"))) == 2


def test_avff_encoders_in_registry(tmp_path):
    import vocalens.encoders as enc
    from vocalens.avff.config import get_preset
    from vocalens.avff.model import backbone_configs, build_model

    cfg = get_preset("tiny")
    model = build_model(cfg)
    ckpt = tmp_path / "ssl.pth"
    torch.save(
        {
            "model": model.state_dict(),
            "task": {"stage": "pretrain", "avff_config": cfg.to_dict(), "backbones": backbone_configs(model)},
        },
        ckpt,
    )
    v = enc.build_visual_encoder("avff", weights=str(ckpt))
    a = enc.build_audio_encoder("avff", weights=str(ckpt))
    faces = np.random.default_rng(0).integers(0, 255, (30, 48, 48, 3), dtype=np.uint8)
    emb = v.encode(faces)
    assert emb.shape == (30, cfg.dim) and v.config()["name"] == "avff"
    # per-frame: a frame's embedding does not depend on its neighbours
    np.testing.assert_allclose(v.encode(faces[5:6])[0], emb[5], rtol=1e-4, atol=1e-5)
    wave = np.random.default_rng(1).standard_normal(int(1.2 * SR)).astype(np.float32) * 0.1
    ae = a.encode(wave)
    assert a.rate == 25.0 and ae.shape == (30, cfg.dim)
