"""The default model shipped in the package: loads without pickle, gives back the outputs recorded
when it was installed, stays within its size budget, and is what `vocalens detect` uses by default."""

import hashlib
import json

import numpy as np
import pytest
import torch

from vocalens import assets
from vocalens.cli import main
from vocalens.localizer import shipped

pytestmark = pytest.mark.skipif(assets.default_localizer() is None, reason="this build ships no default model")


def test_shipped_files_match_their_record_and_budget():
    rec = shipped.recorded()
    for name, digest in rec["files"].items():
        assert hashlib.sha256((assets.ASSETS / name).read_bytes()).hexdigest() == digest
    total = sum((assets.ASSETS / n).stat().st_size for n in rec["files"])
    assert total <= shipped.MAX_BYTES
    ck = torch.load(assets.DEFAULT_LOCALIZER, weights_only=True)  # no pickle of code
    assert "optimizer" not in ck and ck["task"]["calibration"] == rec["calibration"]
    assert ck["task"]["visual_encoder"]["name"] == ck["task"]["audio_encoder"]["name"] == "sync"


def test_shipped_model_gives_the_recorded_outputs():
    rec = shipped.recorded()["reference"]
    now = shipped.reference_outputs()
    assert now["visual_sum"] == pytest.approx(rec["visual_sum"], rel=1e-4, abs=1e-3)
    assert now["audio_sum"] == pytest.approx(rec["audio_sum"], rel=1e-4, abs=1e-3)
    np.testing.assert_allclose(now["frame_probs"], rec["frame_probs"], atol=1e-4)
    assert now["video_prob"] == pytest.approx(rec["video_prob"], abs=1e-4)


def test_reference_input_is_deterministic_and_talks():
    (f1, w1), (f2, w2) = shipped.reference_input(), shipped.reference_input()
    assert np.array_equal(f1, f2) and np.array_equal(w1, w2)
    dark = (f1[:, 40:90, 30:66, 0] < 100).sum((1, 2))
    assert dark.max() > 2 * dark.min()  # the mouth opens and closes


def test_detect_without_checkpoint_uses_the_shipped_model(real_clips, tmp_path, capsys):
    clip = real_clips / "LipNet__bbaf2n.mpg"
    assert main(["detect", str(clip), "--output_dir", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "detections.json").read_text())[0]
    assert r["verdict"] in ("REAL", "FAKE", "UNCERTAIN")
    assert r["video_threshold"] == torch.load(assets.DEFAULT_LOCALIZER, weights_only=True)["task"]["video_threshold"]
    assert 0.0 <= r["video_prob"] <= 1.0 and r["num_frames"] == 75
    assert capsys.readouterr().out.startswith(f"{clip}: {r['verdict']}")


def test_load_without_checkpoint_is_the_shipped_model(real_clips):
    import vocalens

    det = vocalens.load(device="cpu")
    r = det.detect(real_clips / "LipNet__bbaf2n.mpg")
    rec = shipped.recorded()["calibration"]
    j = r.to_json()
    assert j["video_threshold"] == pytest.approx(rec["video_threshold"])
    assert j["verdict"] in ("REAL", "FAKE", "UNCERTAIN") and j["num_frames"] == 75
    assert r.verdict_line().startswith(f"{real_clips / 'LipNet__bbaf2n.mpg'}: {j['verdict']}")
