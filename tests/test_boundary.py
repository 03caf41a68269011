"""The boundary head (vocalens.localizer.boundary): targets, DIoU, soft-NMS, decoding, proposals, wiring."""

import math

import numpy as np
import pytest
import torch

from vocalens.eval.metrics import AV1M_METRICS, LAVDF_METRICS, av1m_score, temporal_ap_ar
from vocalens.eval.proposals import soft_nms
from vocalens.localizer.boundary import (
    assign_targets,
    best_segment_threshold,
    boundary_loss,
    decode_window,
    diou_loss_1d,
    display_segments,
    edge_loss,
    edge_penalty,
    edge_targets,
    label_segments,
    make_points,
    overlapping_starts,
    pad_proposals,
    proposals_to_seconds,
    rank_segments,
    refine_edges,
    regression_ranges,
    window_candidates,
)
from vocalens.localizer.config import ModelConfig
from vocalens.localizer.evaluate import video_record
from vocalens.localizer.model import Localizer
from vocalens.localizer.predict import Predictor

torch.set_num_threads(1)


def test_regression_ranges_and_points():
    assert regression_ranges(3) == [(0.0, 4.0), (4.0, 8.0), (8.0, 1e8)]
    p = make_points(8, 2)
    assert p[:, 0].tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 1.0, 3.0, 5.0, 7.0]
    assert p[:, 3].tolist() == [1.0] * 8 + [2.0] * 4


def test_label_segments():
    np.testing.assert_array_equal(label_segments([0, 1, 1, 0, 0, 1]), [[1, 3], [5, 6]])
    assert label_segments([0, 0]).shape == (0, 2)


def test_target_assignment_hand_case():
    """Two levels, ranges (0,4) and (4,inf). [2,5): centre region [2,5] at stride 1 -> points 2.5, 3.5, 4.5 (max
    distance 2.5, 1.5, 2.5: level 0). [0,8): reach 4.5 at 3.5 is past level 0's range; at stride 2 its centre
    region is [1,7], points 3 and 5 (reach 5, inside [4, inf))."""
    cls, reg = assign_targets(make_points(8, 2), [[2, 5], [0, 8]], radius=1.5)
    assert torch.nonzero(cls).squeeze(1).tolist() == [2, 3, 4, 9, 10]
    torch.testing.assert_close(reg[2:5], torch.tensor([[0.5, 2.5], [1.5, 1.5], [2.5, 0.5]]))
    torch.testing.assert_close(reg[9:11], torch.tensor([[1.5, 2.5], [2.5, 1.5]]))  # (3-0, 8-3)/2, (5-0, 8-5)/2
    assert reg[cls == 0].abs().sum() == 0


def test_target_assignment_takes_the_shortest_segment():
    cls, reg = assign_targets(make_points(8, 1), [[0, 8], [2, 5]], radius=1.5)
    torch.testing.assert_close(reg[3], torch.tensor([1.5, 1.5]))  # point 3.5 is in both centre regions
    assert cls.sum() == 3  # 2.5, 3.5, 4.5 ([0,8)'s centre region [2.5, 5.5] has 3.5 and 4.5, both taken by [2,5))
    cls, _ = assign_targets(make_points(8, 1), np.zeros((0, 2)))
    assert cls.sum() == 0


def test_diou_against_hand_computation():
    """pred (1, 3), target (2, 2) from one point: segments [-1, 3] and [-2, 2]. Intersection 3, union 5,
    IoU 0.6; enclosing [-2, 3] = 5; centres 1 and 0 -> 1 - 0.6 + (1/5)^2 = 0.44."""
    loss = diou_loss_1d(torch.tensor([[1.0, 3.0], [2.0, 2.0]]), torch.tensor([[2.0, 2.0], [2.0, 2.0]]))
    torch.testing.assert_close(loss, torch.tensor([0.44, 0.0]))


def test_soft_nms_hand_case():
    """A [0,10] 0.9, B [0,8] 0.8 (IoU 0.8 with A), C [20,30] 0.5; sigma 0.5: B -> 0.8 exp(-0.64/0.5)."""
    segs, scores = soft_nms(np.array([[0, 10], [0, 8], [20, 30]]), np.array([0.9, 0.8, 0.5]), sigma=0.5)
    np.testing.assert_allclose(segs, [[0, 10], [20, 30], [0, 8]])
    np.testing.assert_allclose(scores, [0.9, 0.5, 0.8 * math.exp(-1.28)], rtol=1e-6)
    segs, scores = soft_nms(np.array([[0, 10], [0, 8], [20, 30]]), np.array([0.9, 0.8, 0.5]), sigma=0.5, limit=2)
    np.testing.assert_allclose(segs, [[0, 10], [20, 30]])


def _perfect_output(truth, length=64, levels=3):
    points = make_points(length, levels)
    cls, reg = assign_targets(points, truth)
    logit = torch.where(cls > 0, 10.0, -10.0)
    return {
        "cls": logit[None],
        "quality": logit[None],
        "offsets": reg[None],
        "point_mask": torch.ones(1, len(points), dtype=torch.bool),
        "points": points,
    }


def test_decoding_round_trip_gives_the_true_segments():
    truth = [[10.0, 20.0], [40.0, 56.0]]
    cands = decode_window(_perfect_output(truth), 0, 64)
    props = rank_segments(cands, 64, fusion=0.0)
    assert len(props) >= 100
    assert sorted(props[:2, :2].tolist()) == truth  # the two best are exactly the true segments
    assert [s[:2] for s in display_segments(props, 0.5)] == truth


def test_fusion_with_frame_probs_and_window_edges():
    cands = np.array([[0.0, 10.0, 0.81], [20.0, 30.0, 0.81]])
    probs = np.r_[np.full(10, 0.25), np.zeros(10), np.ones(10)]
    props = rank_segments(cands, 30, probs, fusion=0.5, voting_iou=1.0)
    np.testing.assert_allclose(props[:2], [[20, 30, 0.9], [0, 10, 0.45]])
    # window [10, 40) of a 60-frame video: its first candidate touches the cut at 10 (score halved)
    out = edge_penalty(np.array([[0.0, 5.0, 0.8], [8.0, 12.0, 0.8]]), 10, 30, 60)
    np.testing.assert_allclose(out, [[10, 15, 0.4], [18, 22, 0.8]])
    assert overlapping_starts(100, 40) == [0, 20, 40, 60]
    assert overlapping_starts(30, 40) == [0]


def test_pad_proposals_reaches_n_and_ranks_padding_last():
    rows = np.array([[2.0, 6.0, 0.9], [10.0, 12.0, 0.5]])
    out = pad_proposals(rows, 20.0, 100)
    assert len(out) >= 100
    np.testing.assert_allclose(out[:2], rows)
    assert (out[2:, 2] <= 0.5).all() and (out[:, 0] >= 0).all() and (out[:, 1] <= 20).all()
    assert (out[:, 1] > out[:, 0]).all()
    assert (np.diff(out[:, 2]) <= 0).all()  # the padding ranked too (copies of row 1 after those of row 2)


def test_proposals_have_100_per_video_and_official_ap_ar_semantics():
    """Ranked proposals of random candidates: >= 100 per video (also short videos with few candidates), and
    our AP/AR on them equal the loop-by-loop transcription of the official evaluators."""
    from test_metrics import _official_ap, _official_ar

    rng = np.random.default_rng(0)
    props, gts = {}, {}
    for v in range(8):
        t = int(rng.integers(12, 200))
        s = rng.uniform(0, t - 2, size=int(rng.integers(1, 40)))
        cands = np.stack([s, np.minimum(s + rng.uniform(1, 40, len(s)), t), rng.random(len(s))], 1)
        ranked = rank_segments(cands, t)
        assert len(ranked) >= 100
        props[f"v{v}"] = [[sc, st * 1.0, en * 1.0] for sc, st, en in proposals_to_seconds(ranked, 1.0)]
        a = float(rng.integers(0, t - 5))
        gts[f"v{v}"] = [[a / 25, (a + float(rng.integers(2, 5))) / 25]] if v % 4 else []
    for preset in (LAVDF_METRICS, AV1M_METRICS):
        ours = temporal_ap_ar(props, gts, preset["ap_ious"], preset["ar_ns"], preset["ar_ious"], fps=25.0)
        for t in preset["ap_ious"]:
            assert ours["ap"][t] == pytest.approx(_official_ap(props, gts, t, 25.0), abs=1e-9)
        theirs = _official_ar(props, gts, preset["ar_ns"], preset["ar_ious"], 25.0)
        for n in preset["ar_ns"]:
            assert ours["ar"][n] == pytest.approx(theirs[n], abs=1e-9)


def test_av1m_score():
    r = {"ap": {0.5: 0.8, 0.75: 0.6, 0.9: 0.4, 0.95: 0.2}, "ar": {50: 0.9, 30: 0.8, 20: 0.7, 10: 0.6, 5: 0.5}}
    assert av1m_score(r) == pytest.approx(2.0 / 8 + 3.5 / 10)


def test_best_segment_threshold():
    props = {"a": np.array([[0.0, 10.0, 0.9], [20.0, 30.0, 0.3]]), "b": np.array([[5.0, 9.0, 0.6]])}
    truth = {"a": np.array([[0.0, 10.0]]), "b": np.zeros((0, 2))}
    thr, f1 = best_segment_threshold(props, truth)
    assert thr == pytest.approx(0.65) and f1 == pytest.approx(1.0)  # above b's 0.6, only the true one is shown


def _model(**kw):
    torch.manual_seed(0)
    return Localizer(ModelConfig(7, 5, d_model=16, num_layers=1, nhead=2, **kw)).eval()


def test_boundary_head_padding_is_invisible():
    m = _model(boundary_levels=3)
    g = torch.Generator().manual_seed(1)
    v, a = torch.randn(3, 11, 7, generator=g), torch.randn(3, 11, 5, generator=g)
    mask = torch.arange(11)[None] < torch.tensor([11, 6, 3])[:, None]
    v = v.masked_fill(~mask[..., None], 1e3)
    out = m(v, a, mask, all_heads=True).boundary
    for i, n in enumerate(mask.sum(1).tolist()):
        one = m(v[i : i + 1, :n], a[i : i + 1, :n], all_heads=True).boundary
        for stride in (1, 2, 4):
            lb, lo = out["points"][:, 3] == stride, one["points"][:, 3] == stride
            k = int(one["point_mask"][0, lo].sum())
            assert k == math.ceil(n / stride)
            for key in ("cls", "quality", "offsets"):
                torch.testing.assert_close(out[key][i, lb][:k], one[key][0, lo][:k], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["edges"][i, :n], one["edges"][0, :n], atol=1e-5, rtol=1e-5)


def test_old_config_has_no_head_and_flag_turns_it_off():
    assert ModelConfig.from_dict({"visual_dim": 7, "audio_dim": 5}).boundary_head is False  # pre-head checkpoints
    old = ModelConfig.from_dict({"visual_dim": 7, "audio_dim": 5, "boundary_head": True})  # head, before edges
    assert (old.boundary_head, old.boundary_streams, old.boundary_edges) == (True, False, False)
    assert _model(boundary_head=False).boundary_head is None
    assert _model().boundary_head is not None


def test_predictor_and_record_use_the_boundary_segments():
    m = _model()
    cfg = {"visual_dim": 7, "audio_dim": 5, "max_frames": 40, "fps": 25.0, "boundary_threshold": 0.0}
    p = Predictor(m, cfg)
    rng = np.random.default_rng(0)
    out = p.predict(rng.normal(size=(100, 7)).astype(np.float32), rng.normal(size=(200, 5)).astype(np.float32), 50.0)
    props = out["boundary_proposals"]
    assert len(props) >= 100 and (props[:, 0] >= 0).all() and (props[:, 1] <= 100).all()
    assert (np.diff(props[:, 2]) <= 1e-12).all()  # ranked
    assert out["boundary_segments"]  # threshold 0: at least the best proposal is shown
    rec = video_record("v", out["frame_probs"], out["similarity"], out["video_prob"], boundary=out, fps=25.0)
    assert rec["segments_source"] == "boundary head" and len(rec["proposals"]) >= 100
    assert rec["segments_sec"][0][0] == pytest.approx(out["boundary_segments"][0][0] / 25)
    assert "frame_segments" in rec and rec["proposals"][0][0] == pytest.approx(props[0, 2])
    no_head = Predictor(_model(boundary_head=False), cfg).predict(
        rng.normal(size=(50, 7)).astype(np.float32), rng.normal(size=(100, 5)).astype(np.float32), 50.0
    )
    assert "boundary_proposals" not in no_head


def test_edges_snap_to_whole_frames():
    props = rank_segments(np.array([[10.4, 19.6, 0.9], [30.2, 30.4, 0.5]]), 40, voting_iou=1.0)
    np.testing.assert_allclose(props[:2, :2], [[10, 20], [30, 31]])  # at least one frame long
    props = rank_segments(np.array([[10.4, 19.6, 0.9]]), 40, voting_iou=1.0, snap=False)
    np.testing.assert_allclose(props[0, :2], [10.4, 19.6])


def test_video_result_shows_the_boundary_segments_and_keeps_the_frame_ones():
    from vocalens.result import VideoResult

    probs = np.r_[np.zeros(10), np.ones(5), np.zeros(10)]
    r = VideoResult("v", "v.mp4", "localizer", 0.9, 0.5, probs, 25.0, boundary_segments=[[9.6, 15.2, 0.8]])
    assert r.segments == [[10, 15, 0.8]] and r.segments_sec[0][:2] == pytest.approx([9.6 / 25, 15.2 / 25])
    j = r.to_json()
    assert j["frame_segments"] == [[10, 15, 1.0]] and j["segments_source"] == "boundary head"
    assert "00:00.384-00:00.608" in r.verdict_line()
    plain = VideoResult("v", "v.mp4", "localizer", 0.9, 0.5, probs, 25.0)
    assert plain.segments == [[10, 15, 1.0]] and "frame_segments" not in plain.to_json()


def test_verdict_line_words_the_boundary_segments_of_a_real_verdict_as_suspect():
    from vocalens.result import VideoResult

    probs = np.r_[np.zeros(10), np.ones(5), np.zeros(10)]
    real = VideoResult("v", "v.mp4", "localizer", 0.2, 0.5, probs, 25.0, boundary_segments=[[10, 15, 0.7]])
    assert real.verdict == "REAL" and "; suspect segments at 00:00.400-00:00.600 (0.70)" in real.verdict_line()
    fake = VideoResult("v", "v.mp4", "localizer", 0.9, 0.5, probs, 25.0, boundary_segments=[[10, 15, 0.7]])
    assert " fake segments: 00:00.400" in fake.verdict_line()
    plain = VideoResult("v", "v.mp4", "localizer", 0.2, 0.5, probs, 25.0)
    assert "; frames above threshold at 00:00.400" in plain.verdict_line()


def test_edge_targets_hand_case():
    """Runs [1,4) and [6,7): starts on frames 1 and 6, last frames 3 and 6; neighbours 0.5; padding 0."""
    labels = torch.tensor([[0, 1, 1, 1, 0, 0, 1, 1]], dtype=torch.float32)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    t = edge_targets(labels, mask)[0]
    assert t[:, 0].tolist() == [0.5, 1, 0.5, 0, 0, 0.5, 1, 0]
    assert t[:, 1].tolist() == [0, 0, 0.5, 1, 0.5, 0.5, 1, 0]


def test_edge_loss_against_hand_computation():
    """Logits 0: BCE log 2 on every frame -> 0.5 log 2 per (channel, near/far) group = 2 log 2. A start logit of
    +2 on its edge frame (target 1) changes the start's near group to the mean of log(1 + e^-2) and the
    neighbour's log 2 ... here frame 1 is the only start frame and frame 0, 2 its neighbours (target 0.5)."""
    labels = torch.tensor([[0, 1, 1, 1, 0]], dtype=torch.float32)
    mask = torch.ones(1, 5, dtype=torch.bool)
    t = edge_targets(labels, mask)
    assert edge_loss(torch.zeros(1, 5, 2), t, mask).item() == pytest.approx(2 * math.log(2))
    logits = torch.zeros(1, 5, 2)
    logits[0, 1, 0] = 2.0
    near = (math.log(1 + math.exp(-2)) + 2 * math.log(2)) / 3
    assert edge_loss(logits, t, mask).item() == pytest.approx(0.5 * near + 1.5 * math.log(2), rel=1e-6)
    assert edge_loss(torch.zeros(1, 5, 2), t, torch.zeros(1, 5, dtype=torch.bool)).item() == 0.0


def test_refine_edges_hand_case():
    """Start peak on frame 10, end peak on frame 19 (edge 20): (11.4, 18.6) moves to (10, 20) with radius 2,
    stays with radius 0, stays when the peak is below min_prob, and an edge peak 3 frames away is out of reach."""
    ps, pe = np.full(30, 0.01), np.full(30, 0.01)
    ps[10], pe[19] = 0.9, 0.4
    cands = np.array([[11.4, 18.6, 0.8], [13.0, 25.0, 0.5]])
    out = refine_edges(cands, ps, pe, radius=2)
    np.testing.assert_allclose(out, [[10, 20, 0.8], [13.0, 25.0, 0.5]])  # row 2: peaks 3 and 5 frames away
    np.testing.assert_allclose(refine_edges(cands, ps, pe, radius=0), cands)
    np.testing.assert_allclose(refine_edges(cands, ps, pe, radius=2, min_prob=0.95), cands)
    w = refine_edges(cands[:1], ps, pe, radius=2, weight=0.5)
    assert w[0, 2] == pytest.approx(0.8**0.5 * math.sqrt(0.9 * 0.4) ** 0.5)


def test_decoding_round_trip_with_edges_repairs_a_one_frame_miss():
    """The regressed segments are one frame off; the edge logits peak on the true edges: refine 2 gives back
    the truth, refine 0 the regressed segments."""
    truth = [[10.0, 20.0], [40.0, 56.0]]
    out = _perfect_output([[11.0, 19.0], [41.0, 57.0]])
    edges = torch.full((1, 64, 2), -6.0)
    for s, e in truth:
        edges[0, int(s), 0] = edges[0, int(e) - 1, 1] = 4.0
    out["edges"] = edges
    props = rank_segments(decode_window(out, 0, 64, refine=2), 64, fusion=0.0)
    assert sorted(props[:2, :2].tolist()) == truth
    props = rank_segments(decode_window(out, 0, 64, refine=0), 64, fusion=0.0)
    assert sorted(props[:2, :2].tolist()) == [[11.0, 19.0], [41.0, 57.0]]


def test_boundary_loss_has_the_edge_term_and_old_heads_decode_as_before():
    new, old = _model(), _model(boundary_streams=False, boundary_edges=False)
    g = torch.Generator().manual_seed(2)
    v, a = torch.randn(2, 16, 7, generator=g), torch.randn(2, 16, 5, generator=g)
    labels = torch.zeros(2, 16)
    labels[0, 4:9] = 1
    mask = torch.ones(2, 16, dtype=torch.bool)
    out = new(v, a, mask, all_heads=True).boundary
    assert out["edges"].shape == (2, 16, 2) and set(boundary_loss(out, labels, mask)) >= {"cls", "edges"}
    assert new.boundary_head.stem.conv.in_channels == 16 + 1 + 2 * 16  # encoding, similarity, both streams
    o = old(v, a, mask, all_heads=True).boundary
    assert "edges" not in o and old.boundary_head.stem.conv.in_channels == 17
    assert "edges" not in boundary_loss(o, labels, mask)
    np.testing.assert_array_equal(window_candidates(o, 0, 16, old.cfg), decode_window(o, 0, 16, old.cfg.boundary_topk))
