import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vocalens.data.labels import frame_labels, labels_to_periods


def test_centre_rule_by_hand():
    # fps 25: frame 1 covers [0.04, 0.08), centre 0.06
    lab = frame_labels([[0.05, 0.13]], 6, 25.0)
    # centres 0.02 0.06 0.10 0.14 ...: 0.06 and 0.10 inside [0.05, 0.13)
    assert lab.tolist() == [0, 1, 1, 0, 0, 0]


def test_end_is_exclusive_and_start_inclusive():
    lab = frame_labels([[0.06, 0.10]], 4, 25.0)
    assert lab.tolist() == [0, 1, 0, 0]


def test_no_periods_and_empty():
    assert frame_labels([], 5).tolist() == [0] * 5
    assert frame_labels([[0, 1]], 0).shape == (0,)


periods_st = st.lists(st.tuples(st.floats(0, 10), st.floats(0.01, 3)).map(lambda t: (t[0], t[0] + t[1])), max_size=4)


@given(periods=periods_st, n=st.integers(0, 400), fps=st.sampled_from([25.0, 30.0, 29.97, 50.0]))
@settings(max_examples=200, deadline=None)
def test_matches_definition(periods, n, fps):
    lab = frame_labels(periods, n, fps)
    assert lab.shape == (n,) and lab.dtype == np.uint8
    for i in range(n):
        c = (i + 0.5) / fps
        assert lab[i] == int(any(s <= c < e for s, e in periods))


@given(bits=st.lists(st.integers(0, 1), max_size=200))
@settings(max_examples=100, deadline=None)
def test_periods_roundtrip(bits):
    lab = np.array(bits, dtype=np.uint8)
    assert frame_labels(labels_to_periods(lab), len(lab)).tolist() == lab.tolist()


@given(periods=periods_st, n=st.integers(1, 300))
@settings(max_examples=100, deadline=None)
def test_fake_frames_monotone_in_periods(periods, n):
    # adding a period can only add fake frames
    base = frame_labels(periods, n)
    more = frame_labels(periods + [(1.0, 2.0)], n)
    assert (more >= base).all()
