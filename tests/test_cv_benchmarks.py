"""benchmarks/sync_cv.py and localizer_cv.py: what makes their cross-validation honest. A held-out speaker's
real piece and fakes are all scored and none trained on; sources without a speaker label are always trained
on; folds add up exactly; the jobs they run in parallel report the ones that failed."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_localizer_folds_hold_out_a_speaker_whole(tmp_path):
    cv = _bench("localizer_cv")
    pieces = ["spkA_clip__c00.mp4", "spkA_clip__c01.mp4", "spkB_clip__c00.mp4", "real-clips_thing__c00.mp4"]
    meta, feats = [], tmp_path / "features" / "train"
    for i, piece in enumerate(pieces * 2):  # each piece: a real copy and a fake
        file = f"train/{i:06d}.mp4"
        meta.append({"file": file, "source": piece, "n_fakes": i // len(pieces)})
        (feats / f"{i:06d}").mkdir(parents=True)
        (feats / f"{i:06d}" / "meta.json").write_text(json.dumps({"file": file}))
    (tmp_path / "forge").mkdir()
    (tmp_path / "forge" / "metadata.json").write_text(json.dumps(meta))
    keep, held = cv.held_out_folders(tmp_path / "features", tmp_path / "forge", {"spkA_clip"})
    assert [f.name for f in held] == ["000000", "000001", "000004", "000005"]
    assert [f.name for f in keep] == ["000002", "000003", "000006", "000007"]
    assert cv.clip_stem("a__b__c12.mp4") == "a__b" and cv.clip_stem("x.mp4") == "x"


def test_sync_folds_add_up_exactly():
    cv = _bench("sync_cv")
    a = {"holdout_hits": 30, "holdout_near_hits": 80, "holdout_windows": 100, "holdout_clips": 2,
         "holdout_clip_acc": 0.5, "holdout_clip_near": 0.9}  # fmt: skip
    b = {"holdout_hits": 1, "holdout_near_hits": 2, "holdout_windows": 4, "holdout_clips": 1,
         "holdout_clip_acc": 0.25, "holdout_clip_near": 0.5}  # fmt: skip
    p = cv.pooled([a, b])
    assert p["acc"] == pytest.approx(31 / 104) and p["near"] == pytest.approx(82 / 104)
    assert p["c_acc"] == pytest.approx((0.5 * 2 + 0.25) / 3) and p["c_near"] == pytest.approx((1.8 + 0.5) / 3)
    assert (p["clips"], p["windows"]) == (3, 104)


def test_run_jobs_reports_the_failed_ones(tmp_path):
    common = _bench("_common")
    jobs = {str(tmp_path / "good"): ["--version"], str(tmp_path / "bad"): ["no-such-command"]}
    with pytest.raises(SystemExit, match="bad") as e:
        common.run_jobs(jobs, max_jobs=2)
    assert "good" not in str(e.value) and (tmp_path / "good.log").read_text().strip()
    common.run_jobs({str(tmp_path / "again"): ["no-such-command"]}, max_jobs=1, ok=(2,))  # argparse's exit 2
