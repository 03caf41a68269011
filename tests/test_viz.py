"""`vocalens visualize` writes the summary, per-video figures and an index that links them."""

import json

import pytest
from matplotlib.image import imread

from eval_fakes import FakePredictor, make_store
from vocalens.cli import main
from vocalens.fileio import write_json
from vocalens.localizer.evaluate import evaluate_split


@pytest.fixture(scope="module")
def results_json(tmp_path_factory):
    root = make_store(tmp_path_factory.mktemp("feats"), n=6)
    res = evaluate_split(FakePredictor(), root, "test", progress=False)
    return write_json(root / "results.json", res)


def test_visualize_writes_expected_files(results_json, tmp_path):
    out = tmp_path / "viz"
    assert main(["visualize", "--input", str(results_json), "--output_dir", str(out), "--max_videos", "4"]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["summary_statistics.png", "vid00.png", "vid01.png", "vid02.png", "vid03.png"]
    for name in pngs:
        img = imread(out / name)
        assert img.shape[0] > 300 and img.shape[1] > 800 and img[..., :3].std() > 0.05  # a real picture
    html = (out / "index.html").read_text()
    for name in pngs:
        assert f'src="{name}"' in html
    assert "AP@0.5" in html and "AR@100" in html and "By manipulation" in html


def test_visualize_accepts_inference_results_without_labels(results_json, tmp_path):
    videos = json.loads(results_json.read_text())["videos"]
    keep = ("video_id", "num_frames", "video_prob", "video_pred", "segments", "segments_sec", "frame_probs", "fps")
    inf = tmp_path / "inference_results.json"
    inf.write_text(json.dumps([{k: v[k] for k in keep} for v in videos[:2]]))
    out = tmp_path / "viz"
    assert main(["visualize", "--input", str(inf), "--output_dir", str(out), "--threshold", "0.3"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["vid00.png", "vid01.png"]


def test_visualize_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "r.json"
    bad.write_text("{nope")
    assert main(["visualize", "--input", str(bad), "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not valid JSON" in err and len(err.splitlines()) == 1
