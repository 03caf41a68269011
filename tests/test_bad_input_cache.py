"""Issue 15 (messages): the AVFF decoded-video cache is bounded, least recently used first."""

import os
import time

import numpy as np

from vocalens.avff import data


def _entry(root, name, mb, used):
    d = root / name
    d.mkdir(parents=True)
    (d / "faces.npy").write_bytes(b"\0" * int(mb * 1e6))
    (d / "meta.json").write_text("{}")
    os.utime(d / "meta.json", (used, used))
    return d


def test_cache_is_pruned_least_recently_used_first(tmp_path):
    now = time.time()
    for i, name in enumerate(["old", "mid", "new"]):
        _entry(tmp_path, name, 1.0, now - 100 + 10 * i)
    stale = tmp_path / ".tmp-x-abc"
    stale.mkdir()
    os.utime(stale, (now - 7200, now - 7200))
    fresh_tmp = tmp_path / ".tmp-y-abc"
    fresh_tmp.mkdir()  # another process may be writing it: left alone
    removed = data.prune_cache(tmp_path, max_bytes=int(2.5e6), keep="old")
    assert sorted(removed) == [".tmp-x-abc", "mid"]  # 'old' is the one just written: never removed
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-y-abc", "new", "old"]
    assert data.prune_cache(tmp_path, max_bytes=0) == []  # 0: no bound


def test_prepare_touches_and_bounds_the_cache(tmp_path, monkeypatch):
    """A hit marks the entry used; a new entry prunes past VOCALENS_CACHE_MAX_GB."""
    from vocalens.media.video import write_video

    cache = tmp_path / "cache"
    videos = []
    for i in range(3):
        frames = np.full((10, 32, 32, 3), 40 * i, np.uint8)
        videos.append(write_video(tmp_path / f"v{i}.mp4", frames, 25.0, np.zeros(6400, np.float32)))
    monkeypatch.setattr(data, "_last_prune", -float("inf"))
    data.prepare(videos[0], 32, cache, "none")
    (entry,) = list(cache.iterdir())
    one = sum(f.stat().st_size for f in entry.iterdir())
    monkeypatch.setenv("VOCALENS_CACHE_MAX_GB", str(2.5 * one / 1e9))
    monkeypatch.setattr(data, "PRUNE_EVERY_S", 0.0)
    data.prepare(videos[1], 32, cache, "none")
    (second,) = [d for d in cache.iterdir() if d != entry]
    # file times tick coarsely (a few ms): set the order explicitly so a fast machine cannot tie them
    os.utime(second / "meta.json", (time.time() - 100, time.time() - 100))
    os.utime(entry / "meta.json", (0, 0))
    data.prepare(videos[0], 32, cache, "none")  # a hit: v0 is now the most recently used
    assert (entry / "meta.json").stat().st_mtime > 1e9
    data.prepare(videos[2], 32, cache, "none")  # 3 entries > 2.5: the least recently used (v1) goes
    assert entry.is_dir() and len(list(cache.iterdir())) == 2
    assert data.prepare(videos[1], 32, cache, "none").num_frames == 10  # gone from the cache, decoded again
