import numpy as np
import pytest
import torch

from vocalens.data.align import resample_to_frames
from vocalens.data.store import list_videos, read_features, write_features
from vocalens.datagen.toy import write_toy_store
from vocalens.errors import UserError
from vocalens.localizer.data import FeatureDataset, apply_modality, collate, stitch_windows, window_starts
from vocalens.train.sampler import GlobalBatchSampler, ShardBatchSampler


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_toy_store(tmp_path_factory.mktemp("feats"), {"train": 8, "dev": 4}, frames=(20, 70))


@pytest.mark.parametrize(
    "t,m,want",
    [(10, 16, [0]), (16, 16, [0]), (32, 16, [0, 16]), (33, 16, [0, 16, 17]), (40, 16, [0, 16, 24]), (5, 0, [0])],
)
def test_window_starts(t, m, want):
    starts = window_starts(t, m)
    assert starts == want
    covered = np.zeros(t, bool)
    for s in starts:
        covered[s : s + (m or t)] = True
        assert s + (m or t) <= max(t, m or t)
    assert covered.all()


def test_items_are_windows_with_audio_on_the_frames(store):
    ds = FeatureDataset(store, "train", max_frames=32)
    paths = list_videos(store, "train")
    assert len(ds) == sum(len(window_starts(read_features(p).num_frames, 32)) for p in paths)
    assert ds.visual_dim == 8 and ds.audio_dim == 6
    for i in range(len(ds)):
        item = ds[i]
        f = read_features(ds.paths[ds.windows[i][0]])
        s = item["start"]
        n = item["visual"].shape[0]
        assert n == ds.lengths[i] == min(32, f.num_frames - s)
        full_audio = resample_to_frames(f.audio, f.audio_rate, f.num_frames, f.fps)
        np.testing.assert_allclose(item["audio"].numpy(), full_audio[s : s + n])
        np.testing.assert_array_equal(item["visual"].numpy(), f.visual[s : s + n])
        np.testing.assert_array_equal(item["labels"].numpy(), f.frame_labels[s : s + n])
        assert item["window_label"] == float(f.frame_labels[s : s + n].any())
        assert item["video_label"] == int(f.frame_labels.any())
        assert item["manipulation"] == f.meta["manipulation"]


def test_collate_pads_with_mask(store):
    ds = FeatureDataset(store, "train", max_frames=512)
    items = [ds[0], ds[1], ds[2]]
    b = collate(items)
    lmax = max(len(it["labels"]) for it in items)
    assert b["visual"].shape == (3, lmax, 8) and b["mask"].shape == (3, lmax)
    for j, it in enumerate(items):
        n = len(it["labels"])
        assert b["mask"][j].sum() == n and b["mask"][j, :n].all()
        assert torch.equal(b["visual"][j, :n], it["visual"]) and (b["visual"][j, n:] == 0).all()
    assert b["video_id"] == [it["video_id"] for it in items]


def test_stitch_windows_round_trip(store):
    rng = np.random.default_rng(0)
    t, m = 45, 16
    truth = rng.random(t).astype(np.float32)
    outs = [
        {
            "video_id": "v",
            "start": s,
            "num_frames": t,
            "frame_probs": truth[s : s + m].copy(),
            "similarity": -truth[s : s + m].copy(),
            "video_prob": 0.1 * k,
            "video_label": 1,
        }
        for k, s in enumerate(window_starts(t, m))
    ]
    v = stitch_windows(outs[::-1])["v"]
    np.testing.assert_allclose(v["frame_probs"], truth, rtol=1e-6)
    np.testing.assert_allclose(v["similarity"], -truth, rtol=1e-6)
    assert v["video_prob"] == pytest.approx(0.2) and v["video_label"] == 1


def test_modality_ablation_zeroes_the_other_stream(store):
    v, a = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    assert apply_modality(v, a, "visual")[1].sum() == 0 and apply_modality(v, a, "visual")[0].sum() == 12
    assert apply_modality(v, a, "audio")[0].sum() == 0
    ds = FeatureDataset(store, "train", modality="audio")
    assert ds[0]["visual"].abs().sum() == 0 and ds[0]["audio"].abs().sum() > 0
    with pytest.raises(UserError):
        apply_modality(v, a, "video")


def test_frame_label_counts_match_stored_labels(store):
    ds = FeatureDataset(store, "train")
    labels = np.concatenate([read_features(p).frame_labels for p in ds.paths])
    assert ds.frame_label_counts() == (int(labels.sum()), int((labels == 0).sum()))


def test_mixed_dims_is_a_user_error(tmp_path):
    write_toy_store(tmp_path, {"train": 2})
    write_features(tmp_path / "train" / "odd", np.zeros((5, 3)), np.zeros((10, 6)), np.zeros(5), {"fps": 25.0})
    with pytest.raises(UserError, match="odd"):
        FeatureDataset(tmp_path, "train")


def test_global_batches_identical_on_one_or_many_processes():
    lengths = np.random.default_rng(0).integers(5, 100, size=37)
    one = GlobalBatchSampler(37, 6, lengths, seed=3)
    two = [GlobalBatchSampler(37, 3, lengths, seed=3, rank=r, world_size=2) for r in range(2)]
    for epoch in (1, 2):
        for s in [one, *two]:
            s.set_epoch(epoch)
        b1 = list(one)
        b0, b_1 = list(two[0]), list(two[1])
        assert len(b1) == len(b0) == len(b_1) == 7
        assert [x + y for x, y in zip(b0, b_1)] == b1
        flat = [i for b in b1 for i in b]
        assert set(flat) == set(range(37)) and len(flat) == 42  # wrapped round to full batches
    one.set_epoch(1)
    e1 = list(one)
    one.set_epoch(2)
    assert list(one) != e1  # reshuffled per epoch


def test_length_buckets_cut_padding():
    lengths = np.random.default_rng(0).integers(5, 500, size=400)
    bucketed = GlobalBatchSampler(400, 8, lengths, seed=0)
    plain = GlobalBatchSampler(400, 8, None, seed=0)
    plain_pad = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in (np.array(x) for x in plain))
    bucket_pad = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in (np.array(x) for x in bucketed))
    assert bucket_pad < 0.1 * plain_pad


def test_shard_sampler_covers_each_item_once():
    lengths = np.arange(11)
    seen = [i for r in range(3) for b in ShardBatchSampler(11, 2, lengths, rank=r, world_size=3) for i in b]
    assert sorted(seen) == list(range(11))


def test_a_broken_video_is_reported_and_replaced(tmp_path, capsys):
    write_toy_store(tmp_path, {"train": 3}, frames=(20, 20))
    ds = FeatureDataset(tmp_path, "train")
    (ds.paths[1] / "audio_embeddings.npz").write_bytes(b"garbage")
    items = [ds[i] for i in range(3)]
    assert [it["video_id"] for it in items] == [ds.paths[0].name, ds.paths[2].name, ds.paths[2].name]
    _ = ds[1]
    err = capsys.readouterr().err
    assert err.count("skipping") == 1 and ds.paths[1].name in err


def test_splice_out_of_sync_moves_one_stream_from_elsewhere_and_labels_it():
    from vocalens.localizer.data import splice_out_of_sync

    t = 60
    visual = np.arange(t, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    audio = -np.arange(t, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    labels = np.zeros(t, np.uint8)
    labels[:3] = 1
    for seed in range(20):
        v, a, lab = splice_out_of_sync(visual, audio, labels, 10, 50, np.random.default_rng(seed))
        assert lab[:3].all() and (lab[3:10] == 0).all() and (lab[50:] == 0).all()  # only inside [lo, hi)
        assert lab[(v[:, 0] != visual[:, 0]) | (a[:, 0] != audio[:, 0])].all()  # changed frames are fake
        assert 5 <= int(lab[10:50].sum()) <= 40
        v, a, lab = splice_out_of_sync(visual, audio, labels, 10, 50, np.random.default_rng(seed), max_segments=1)
        moved_v = v[:, 0] != visual[:, 0]
        moved_a = a[:, 0] != audio[:, 0]
        assert moved_v.any() != moved_a.any()  # one stream per stretch
        assert np.array_equal(lab[10:50] == 1, (moved_v | moved_a)[10:50])
        # a replaced frame carries the same stream from >= 8 frames away (values encode the time)
        src_v = np.abs(v[moved_v, 0] - np.flatnonzero(moved_v))
        src_a = np.abs(-a[moved_a, 0] - np.flatnonzero(moved_a))
        assert (src_v >= 8).all() and (src_a >= 8).all()
    assert np.array_equal(visual[:, 0], np.arange(t))  # inputs untouched
    short = splice_out_of_sync(visual[:10], audio[:10], labels[:10], 0, 10, np.random.default_rng(0))
    assert short[2].sum() == labels[:10].sum()  # too short for a stretch 8 frames away: unchanged


def test_sync_aug_only_when_asked_and_then_per_item_deterministic(store):
    plain = FeatureDataset(store, "train", max_frames=32)
    aug = FeatureDataset(store, "train", max_frames=32, sync_aug=1.0)
    changed = 0
    for i in range(len(plain)):
        p = plain[i]
        torch.manual_seed(i)
        x = aug[i]
        torch.manual_seed(i)
        y = aug[i]
        assert torch.equal(x["labels"], y["labels"]) and torch.equal(x["audio"], y["audio"])  # same key, same item
        assert (x["labels"] >= p["labels"]).all()  # stored fake frames stay fake
        changed += int((x["labels"] != p["labels"]).any())
        assert x["window_label"] == float(x["labels"].any())
    assert changed >= len(plain) // 2
    with pytest.raises(UserError, match="sync_aug"):
        FeatureDataset(store, "train", sync_aug=1.5)


def test_a_truncated_npz_is_skipped_and_reported(tmp_path, capsys):
    """Issue 15.6: a truncated npz raised zipfile.BadZipFile, so train's skip-and-report never ran."""
    write_toy_store(tmp_path, {"train": 3}, frames=(20, 20))
    ds = FeatureDataset(tmp_path, "train")
    bad = ds.paths[1] / "visual_embeddings.npz"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(UserError, match="unreadable feature files"):
        read_features(ds.paths[1])
    assert [ds[i]["video_id"] for i in range(3)] == [ds.paths[0].name, ds.paths[2].name, ds.paths[2].name]
    err = capsys.readouterr().err
    assert err.count("skipping") == 1 and ds.paths[1].name in err
