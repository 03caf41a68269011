import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vocalens.data.align import resample_to_frames
from vocalens.eval.segments import format_timestamp, probs_to_segments


def test_resample_50hz_to_25fps_is_pair_mean():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)  # 10 features at 50 Hz = 0.2 s
    out = resample_to_frames(x, 50.0, 5, 25.0)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[:, 0], [1, 5, 9, 13, 17])


def test_resample_slower_audio_interpolates_and_pads():
    x = np.array([[0.0], [10.0]], np.float32)  # 12.5 Hz: centres at 0.04 s and 0.12 s
    out = resample_to_frames(x, 12.5, 6, 25.0)
    # frame 0 centre 0.02 -> clipped to feature 0; frame 1 centre 0.06 holds feature 0; frame 2 interp
    assert out[0, 0] == 0.0 and out[1, 0] == 0.0
    assert 0.0 < out[2, 0] <= 10.0
    assert out[-1, 0] == 10.0  # past the end repeats the last feature


@given(ta=st.integers(1, 300), t=st.integers(1, 200), rate=st.sampled_from([25.0, 50.0, 100.0, 12.5, 31.25]))
@settings(max_examples=100, deadline=None)
def test_resample_shape_and_range(ta, t, rate):
    x = np.random.default_rng(0).normal(size=(ta, 3)).astype(np.float32)
    out = resample_to_frames(x, rate, t, 25.0)
    assert out.shape == (t, 3)
    assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5


def test_segments_by_hand():
    p = [0.1, 0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.6, 0.6, 0.6]
    segs = probs_to_segments(p, 0.5)
    assert [(s, e) for s, e, _ in segs] == [(1, 3), (4, 5), (7, 10)]
    assert abs(segs[0].score - 0.85) < 1e-9
    merged = probs_to_segments(p, 0.5, merge_gap=1)
    assert [(s, e) for s, e, _ in merged] == [(1, 5), (7, 10)]
    assert abs(merged[0].score - np.mean([0.9, 0.8, 0.2, 0.7])) < 1e-9
    assert [(s, e) for s, e, _ in probs_to_segments(p, 0.5, min_length=2)] == [(1, 3), (7, 10)]
    assert probs_to_segments([], 0.5) == []


@given(p=st.lists(st.floats(0, 1), max_size=100), gap=st.integers(0, 5), ml=st.integers(1, 4))
@settings(max_examples=150, deadline=None)
def test_segments_properties(p, gap, ml):
    segs = probs_to_segments(p, 0.5, min_length=ml, merge_gap=gap)
    prev_end = -1
    for s, e, sc in segs:
        assert e - s >= ml and s > prev_end - 0 and p[s] >= 0.5 and p[e - 1] >= 0.5
        assert min(p[s:e]) - 1e-9 <= sc <= max(p[s:e]) + 1e-9
        prev_end = e
    covered = {i for s, e, _ in segs for i in range(s, e)}
    if gap == 0 and ml == 1:
        assert covered == {i for i, v in enumerate(p) if v >= 0.5}


def test_format_timestamp():
    assert format_timestamp(0) == "00:00.000"
    assert format_timestamp(83.4567) == "01:23.457"
