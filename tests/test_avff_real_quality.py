"""benchmarks/avff_real_quality.py: the data roots it assembles for the two AVFF stages, and the dev
threshold. The stage-1 root must hold real footage only, weighted by length; the stage-2 root must keep
each source set's own split and nothing else (test speakers never leak into training)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from vocalens.avff.data import read_items
from vocalens.media.video import write_video

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "avff_real_quality.py"


def _bench():
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("avff_real_quality", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _video(path: Path, seconds: float) -> Path:
    n = round(seconds * 25)
    frames = np.full((n, 32, 32, 3), 128, np.uint8)
    return write_video(path, frames, audio=np.zeros(int(seconds * 16000), np.float32))


def test_ssl_root_real_only_weighted_by_length(tmp_path):
    q = _bench()
    src = tmp_path / "sources"
    _video(src / "train" / "short_piece.mp4", 1.0)
    _video(src / "train" / "long_piece.mp4", 3.0)  # ceil(3.0 / 1.28) = 3 draws
    _video(src / "dev" / "dev_piece.mp4", 2.0)
    _video(src / "test" / "test_piece.mp4", 2.0)
    words = tmp_path / "short"
    _video(words / "w1.mp4", 1.24)
    counts = q.build_ssl_root(src, words, tmp_path / "ssl")
    assert counts == {"train pieces": 2, "train draws of pieces": 4, "short clips": 1, "dev pieces": 1}
    train = read_items(tmp_path / "ssl", ["train"])
    dev = read_items(tmp_path / "ssl", ["dev"])
    assert len(train) == 5 and len(dev) == 1
    assert all(it.label == 0 for it in train + dev)
    targets = [it.path.resolve().name for it in train]
    assert targets.count("long_piece.mp4") == 3 and targets.count("short_piece.mp4") == 1
    assert "test_piece.mp4" not in targets + [it.path.resolve().name for it in dev]
    # rebuilding in place (a resumed run) gives the same set, not a doubled one
    assert q.build_ssl_root(src, words, tmp_path / "ssl") == counts


def test_cls_root_keeps_only_each_sets_split(tmp_path):
    q = _bench()
    for name, split in (("ftrain", "train"), ("fdev", "dev")):
        root = tmp_path / name
        entries = []
        for i, s in enumerate((split, "test")):  # a stray test entry must not be copied
            f = f"{s}/{i:06d}.mp4"
            _video(root / f, 1.0)
            entries.append(
                {
                    "file": f,
                    "split": s,
                    "fake_periods": [[0.2, 0.6]] if i else [],
                    "modify_video": bool(i),
                    "modify_audio": False,
                }
            )
        (root / "metadata.json").write_text(json.dumps(entries))
    q.build_cls_root(tmp_path / "ftrain", tmp_path / "fdev", tmp_path / "cls")
    meta = json.loads((tmp_path / "cls" / "metadata.json").read_text())
    assert sorted(m["split"] for m in meta) == ["dev", "train"]
    items = read_items(tmp_path / "cls", ["train", "dev"])
    assert {it.path.resolve().parent.parent.name for it in items} == {"ftrain", "fdev"}
    assert read_items(tmp_path / "cls", ["test"]) == []


def test_youden_threshold_separates_dev_classes():
    q = _bench()
    t = q.youden_threshold([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.9])
    assert 0.3 < t <= 0.7
    # overlapping classes: still a threshold inside the score range
    t = q.youden_threshold([0, 1, 0, 1], [0.4, 0.5, 0.6, 0.8])
    assert 0.4 < t <= 0.8
