"""Proposals from frame probabilities: invariants and the behaviour the docs promise."""

import math

import numpy as np
import pytest

from vocalens.eval.metrics import temporal_ap_ar
from vocalens.eval.proposals import make_proposals, score_segments, soft_nms, to_official_format


def _curve(T, segs, lo=0.05, hi=0.95):
    p = np.full(T, lo)
    for s, e in segs:
        p[s:e] = hi
    return p


@pytest.mark.parametrize("seed", range(5))
def test_invariants_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(20, 400))
    p = np.clip(np.convolve(rng.random(T), np.ones(5) / 5, mode="same"), 0, 1)
    props = make_proposals(p, fps=25.0, max_proposals=30)
    assert 1 <= len(props) <= 30
    scores = [r[0] for r in props]
    assert scores == sorted(scores, reverse=True)
    for sc, s, e in props:
        assert 0 <= s < e <= T / 25.0 + 1e-9 and 0 <= sc <= 1
    assert len({(s, e) for _, s, e in props}) == len(props)  # no duplicate segment


def test_clean_step_curve_ranks_true_segments_first():
    p = _curve(250, [(50, 100), (180, 200)])
    props = make_proposals(p, fps=25.0)
    top = {(round(s * 25), round(e * 25)) for _, s, e in props[:2]}
    assert top == {(50, 100), (180, 200)}
    gt = {"v": [[2.0, 4.0], [7.2, 8.0]]}
    r = temporal_ap_ar({"v": props}, gt, [0.95], [2])
    assert r["ar"][2] == 1.0


def test_never_empty_and_fallback_around_peak():
    p = np.zeros(50)
    p[20:23] = [0.02, 0.06, 0.03]  # below every default threshold
    props = make_proposals(p, fps=25.0)
    assert len(props) == 1
    _, s, e = props[0]
    assert round(s * 25) == 21 and round(e * 25) == 23  # frames >= max/2 around the peak
    assert make_proposals(np.zeros(10), fps=10.0)[0][1:] == [0.0, 1.0]
    assert make_proposals([], fps=25.0) == []


def test_video_score_scales_every_proposal():
    p = _curve(100, [(10, 30)])
    a = make_proposals(p, video_score=1.0)
    b = make_proposals(p, video_score=0.5)
    assert [r[1:] for r in a] == [r[1:] for r in b]
    np.testing.assert_allclose([r[0] for r in b], [0.5 * r[0] for r in a])


def test_score_prefers_edges_at_the_drop():
    p = _curve(100, [(40, 60)])
    sc = score_segments(p, np.array([[40, 60], [45, 55], [30, 70]]))
    assert sc[0] > sc[1] and sc[0] > sc[2]


def test_soft_nms_decays_overlaps():
    segs, scores = soft_nms(np.array([[0, 10], [0, 10], [20, 30]]), np.array([0.9, 0.8, 0.5]))
    assert segs.tolist() == [[0, 10], [20, 30], [0, 10]]
    np.testing.assert_allclose(scores, [0.9, 0.5, 0.8 * math.exp(-1 / 0.4)])


def test_official_format_units():
    props = {"000001": [[0.9, 1.0, 2.0]]}
    assert to_official_format(props, {"000001": "test/000001.mp4"}, fps=25) == {"test/000001.mp4": [[0.9, 25.0, 50.0]]}
    assert to_official_format(props) == props
