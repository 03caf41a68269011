"""Metrics: hand-computed AP/AR cases, agreement with a loop-by-loop transcription of the official
LAV-DF / AV-Deepfake1M evaluators, and scikit-learn agreement for the classification metrics."""

import math

import numpy as np
import pytest

from vocalens.eval.metrics import (
    AR_IOUS,
    AV1M_METRICS,
    LAVDF_METRICS,
    benchmark_metrics,
    flatten_ap_ar,
    frame_metrics,
    localization_scores,
    localization_summary,
    segment_iou,
    temporal_ap,
    temporal_ap_ar,
    temporal_ar,
    video_metrics,
)

# ---------------------------------------------------------------- hand-computed AP

A_GT = [[0, 2], [4, 5], [6, 7]]
A_PROPS = [[0.9, 4, 5], [0.8, 0, 1], [0.7, 6, 7]]  # [0, 1] vs [0, 2] has IoU exactly 0.5


def test_ap_strict_iou_threshold():
    # t=0.5: [0,1] is a FP (IoU 0.5 is not > 0.5). Ranked TP, FP, TP over 3 labels.
    # curve (1,0),(2/3,2/3),(1/3,1/2),(1/3,1) -> 1/3*0 + 1/3*2/3 + 0*2/3 = 2/9
    ap = temporal_ap({"a": A_PROPS}, {"a": A_GT}, [0.5, 0.4])
    assert ap[0.5] == pytest.approx(2 / 9)
    # t=0.4: all three TP -> (N-1)/N = 2/3 (the top row's recall step is never integrated)
    assert ap[0.4] == pytest.approx(2 / 3)


def test_ap_single_perfect_proposal_is_zero_official_quirk():
    assert temporal_ap({"a": [[0.9, 0, 1]]}, {"a": [[0, 1]]}, [0.5])[0.5] == 0.0
    assert temporal_ap({"a": [[0.9, 0, 1], [0.8, 2, 3]]}, {"a": [[0, 1], [2, 3]]}, [0.5])[0.5] == pytest.approx(0.5)


def test_ap_video_without_proposals_counts_its_labels():
    # 4 labels, 3 TPs: curve (1,0),(3/4,1),(1/2,1),(1/4,1) -> 0 + 1/4 + 1/4 = 1/2
    ap = temporal_ap({"a": A_PROPS}, {"a": A_GT, "b": [[0, 1]]}, [0.4])
    assert ap[0.4] == pytest.approx(0.5)
    ap_missing_key = temporal_ap({"a": A_PROPS, "b": []}, {"a": A_GT, "b": [[0, 1]]}, [0.4])
    assert ap_missing_key == ap


def test_ap_proposals_on_real_video_are_false_positives():
    # top-ranked FP from the real video c: ranks FP,TP,TP,TP, precision .5,.667,.75 -> envelope .75 * 1
    ap = temporal_ap({"a": A_PROPS, "c": [[0.95, 0, 1]]}, {"a": A_GT, "c": []}, [0.4])
    assert ap[0.4] == pytest.approx(0.75)
    # proposals of videos not in the ground truth are ignored
    assert temporal_ap({"a": A_PROPS, "zzz": [[0.99, 0, 1]]}, {"a": A_GT}, [0.4])[0.4] == pytest.approx(2 / 3)


def test_ap_ties_keep_pooled_order():
    gt = {"x": [[0, 1]]}
    fp_first = temporal_ap({"x": [[0.5, 5, 6], [0.5, 0, 1]]}, gt, [0.5])[0.5]
    tp_first = temporal_ap({"x": [[0.5, 0, 1], [0.5, 5, 6]]}, gt, [0.5])[0.5]
    assert fp_first == pytest.approx(0.5)
    assert tp_first == 0.0


def test_ap_each_label_takes_first_unused_proposal_in_list_order():
    # both labels overlap both proposals; label 1 takes p1, label 2 must take p2 -> two TPs
    gt = {"x": [[0, 1], [0, 1.1]], "r": []}
    props = {"x": [[0.8, 0, 1], [0.7, 0, 1.05]], "r": [[0.9, 3, 4]]}
    # ranks FP(0.9), TP, TP: precision .5, .667 over 2 labels -> .5*.667 + .5*.667
    assert temporal_ap(props, gt, [0.5])[0.5] == pytest.approx(2 / 3)
    # a duplicate cannot be matched twice: second label gets nothing
    props_dup = {"x": [[0.8, 0, 1], [0.7, 10, 11]], "r": [[0.9, 3, 4]]}
    # ranks FP, TP, FP over 2 labels: curve (1,0),(.5,1/3),(.5,.5),(0,0) -> .5*.5
    assert temporal_ap(props_dup, gt, [0.5])[0.5] == pytest.approx(0.25)


def test_ap_no_labels_is_nan():
    assert math.isnan(temporal_ap({"r": [[0.9, 0, 1]]}, {"r": []}, [0.5])[0.5])


def test_proposals_in_frames_with_fps():
    secs = temporal_ap_ar({"a": A_PROPS}, {"a": A_GT}, [0.4, 0.5], [1, 2])
    frames = [[s, b * 25, e * 25] for s, b, e in A_PROPS]
    assert temporal_ap_ar({"a": frames}, {"a": A_GT}, [0.4, 0.5], [1, 2], fps=25.0) == secs


# ---------------------------------------------------------------- hand-computed AR


def test_ar_first_n_in_list_order_and_strict():
    gt = {"a": [[0, 2], [4, 5]]}
    props = {"a": [[0.1, 4, 5], [0.9, 0, 1.8]]}  # list order, not score order
    ar = temporal_ar(props, gt, [1, 2])
    assert ar[1] == pytest.approx(0.5)  # only [4,5] kept: one of two found at every t
    # [0,1.8] has IoU 0.9: found for t = .5 .. .85 (8 of 10), not at .9 (strict) nor .95
    assert ar[2] == pytest.approx((8 * 1.0 + 2 * 0.5) / 10)


def test_ar_video_without_proposals_and_real_videos():
    gt = {"a": [[0, 2], [4, 5]], "b": [[0, 1]], "r": []}
    props = {"a": [[0.1, 4, 5], [0.9, 0, 1.8]], "r": [[0.9, 0, 1], [0.8, 2, 3]]}
    assert temporal_ar(props, gt, [1])[1] == pytest.approx(1 / 3)  # b's label is missed
    assert temporal_ar(props, gt, [1], empty="ignore")[1] == pytest.approx(0.5)  # AV-Deepfake1M's quirk
    assert temporal_ar(props, {"r": []}, [1])[1] == 0.0  # nothing to find -> 0 like the Rust evaluator


def test_ar_without_ns_is_empty():
    assert temporal_ap_ar({"a": [[0.5, 0, 1]]}, {"a": [[0, 1]]}, [0.5], [])["ar"] == {}


def test_ar_fewer_proposals_than_n_uses_all():
    gt = {"a": [[0, 1]]}
    assert temporal_ar({"a": [[0.5, 0, 1]]}, gt, [100, 1]) == {100: 1.0, 1: 1.0}


def test_presets_and_flatten():
    assert LAVDF_METRICS["ap_ious"] == (0.5, 0.75, 0.95) and LAVDF_METRICS["ar_ns"] == (100, 50, 20, 10)
    assert AV1M_METRICS["ap_ious"] == (0.5, 0.75, 0.9, 0.95) and AV1M_METRICS["ar_ns"] == (50, 30, 20, 10, 5)
    assert AR_IOUS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    r = benchmark_metrics({"a": A_PROPS}, {"a": A_GT}, "av1m")
    assert list(flatten_ap_ar(r)) == [
        "AP@0.5",
        "AP@0.75",
        "AP@0.9",
        "AP@0.95",
        "AR@50",
        "AR@30",
        "AR@20",
        "AR@10",
        "AR@5",
    ]


def test_segment_iou_values():
    iou = segment_iou([[0, 1], [0.5, 1.5], [3, 4]], [[0, 2]])
    np.testing.assert_allclose(iou[:, 0], [0.5, 0.5, 0.0])


# ---------------------------------------------------------------- transcription of the officials


def _iou_official(p, g):
    """iou_1d of LAV-DF utils.py / loc_1d.rs, element by element in float32."""
    out = np.zeros((len(p), len(g)), np.float32)
    for i in range(len(p)):
        for j in range(len(g)):
            ib, ie = max(p[i][0], g[j][0]), min(p[i][1], g[j][1])
            ob, oe = min(p[i][0], g[j][0]), max(p[i][1], g[j][1])
            out[i, j] = np.float32(max(ie - ib, np.float32(0))) / np.float32(oe - ob)
    return out


def _official_ap(props, gts, t, fps):
    """AP.__call__ / get_values / calculate_curve / calculate_ap of LAV-DF metrics.py, as loops."""
    rows, n_labels = [], 0
    for key, labels in gts.items():
        p = np.asarray(props.get(key, []), np.float32).reshape(-1, 3)
        labels = np.asarray(labels, np.float32).reshape(-1, 2)
        ious = _iou_official(p[:, 1:] / np.float32(fps), labels)
        tp_indexes = []
        for i in range(len(labels)):
            for j in range(len(p)):
                if ious[j, i] > np.float32(t) and j not in tp_indexes:
                    tp_indexes.append(j)
                    break
        rows += [(float(p[j, 0]), j in tp_indexes) for j in range(len(p))]
        n_labels += len(labels)
    rows.sort(key=lambda r: -r[0])  # Python's sort is stable, like torch sort(stable=True)
    curve, acc = [], 0
    for k, (_, tp) in enumerate(rows):
        acc += tp
        curve.append((acc / n_labels, acc / (k + 1)))
    curve = [(1.0, 0.0)] + curve[::-1]
    ap, y_max = 0.0, -1.0
    for i in range(len(curve) - 1):
        y_max = max(y_max, curve[i][1])
        ap += abs(curve[i + 1][0] - curve[i][0]) * y_max
    return ap


def _official_ar(props, gts, ns, ious, fps):
    """calc_ar_values / calc_ar_scores of AV-Deepfake1M loc_1d.rs, as loops (empty list -> TP=FN=0)."""
    tp = np.zeros((len(ious), len(ns)))
    fn = np.zeros((len(ious), len(ns)))
    for key, labels in gts.items():
        p = np.asarray(props.get(key, []), np.float32).reshape(-1, 3)[: max(ns)]
        labels = np.asarray(labels, np.float32).reshape(-1, 2)
        if len(p) == 0:
            continue
        m = _iou_official(p[:, 1:] / np.float32(fps), labels)
        for a, t in enumerate(ious):
            for b, n in enumerate(ns):
                n = min(n, len(p))
                found = sum(1 for j in range(len(labels)) if m[:n, j].max() > np.float32(t))
                tp[a, b] += found
                fn[a, b] += len(labels) - found
    rec = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    return {n: rec[:, b].mean() for b, n in enumerate(ns)}


def _random_case(rng, n_videos=12, fps=25.0):
    gts, props = {}, {}
    for v in range(n_videos):
        T = int(rng.integers(50, 300))
        n_gt = int(rng.integers(0, 4))
        g = []
        for _ in range(n_gt):
            s = int(rng.integers(0, T - 10))
            g.append([s / fps, int(rng.integers(s + 2, min(T, s + 80))) / fps])
        gts[f"v{v}"] = g
        n_p = int(rng.integers(0, 30))
        p = []
        for _ in range(n_p):
            s = int(rng.integers(0, T - 2))
            # coarse scores so that ties happen
            p.append([float(rng.integers(0, 8)) / 8, float(s), float(rng.integers(s + 1, min(T, s + 90)))])
        if n_p or rng.random() < 0.5:
            props[f"v{v}"] = p
    return props, gts


@pytest.mark.parametrize("seed", range(15))
def test_agrees_with_official_transcription(seed):
    rng = np.random.default_rng(seed)
    props, gts = _random_case(rng)
    if sum(len(g) for g in gts.values()) == 0:
        gts["v0"] = [[0.0, 1.0]]
    for preset in (LAVDF_METRICS, AV1M_METRICS):
        ours = temporal_ap_ar(
            props, gts, preset["ap_ious"], preset["ar_ns"], preset["ar_ious"], fps=25.0, empty="ignore"
        )
        for t in preset["ap_ious"]:
            assert ours["ap"][t] == pytest.approx(_official_ap(props, gts, t, 25.0), abs=1e-9)
        theirs = _official_ar(props, gts, preset["ar_ns"], preset["ar_ious"], 25.0)
        for n in preset["ar_ns"]:
            assert ours["ar"][n] == pytest.approx(theirs[n], abs=1e-9)


# ---------------------------------------------------------------- classification metrics


def test_frame_metrics_hand_values():
    m = frame_metrics([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], threshold=0.5)
    assert m["auc"] == pytest.approx(0.75)
    assert m["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert (m["precision"], m["recall"]) == (1.0, 0.5)
    assert m["f1"] == pytest.approx(2 / 3)


def test_video_metrics_agree_with_sklearn():
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    m = video_metrics(s, y, 0.5)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(average_precision_score(y, s))
    assert m["f1"] == pytest.approx(f1_score(y, s >= 0.5))


def test_single_class_gives_nan_auc():
    m = frame_metrics([0.2, 0.7], [0, 0])
    assert math.isnan(m["auc"]) and math.isnan(m["ap"]) and m["precision"] == 0.0


def test_localization_scores_and_summary():
    fake = localization_scores([0.9, 0.9, 0.1, 0.6], [1, 0, 0, 1], 0.5)
    assert fake["iou"] == pytest.approx(2 / 3) and fake["f1"] == pytest.approx(0.8)
    assert fake["fake_ratio"] == 0.5 and fake["false_positive_rate"] == 0.5
    real = localization_scores([0.9, 0.1, 0.1, 0.1], [0, 0, 0, 0], 0.5)
    assert math.isnan(real["iou"]) and real["false_positive_rate"] == 0.25
    perfect = localization_scores([0.0, 1.0], [0, 1], 0.5)
    s = localization_summary([fake, real, perfect])
    assert s["iou"]["mean"] == pytest.approx((2 / 3 + 1) / 2) and s["iou"]["n"] == 2
    assert s["iou"]["std"] == pytest.approx(np.std([2 / 3, 1]))
    assert s["real_false_positive_rate"]["mean"] == 0.25 and s["n_real_videos"] == 1
