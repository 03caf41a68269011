"""Face detection, tracking and crops (vocalens.media.faces)."""

import numpy as np
import pytest

from vocalens.media import faces
from vocalens.media.faces import (
    FaceTrack,
    crop_faces,
    crop_regions,
    detect_faces,
    mouth_box,
    mouth_boxes,
    square_boxes,
    track_boxes,
)
from vocalens.media.video import load_video


@pytest.fixture(scope="module")
def grid_frames(real_clips):
    return load_video(real_clips / "LipNet__bbaf2n.mpg", audio="skip").frames


def _jitter(track):
    ok = track.found[1:] & track.found[:-1]
    c = (track.boxes[:, :2] + track.boxes[:, 2:]) / 2
    side = track.boxes[:, 2] - track.boxes[:, 0]
    return (np.abs(np.diff(c, axis=0)).max(axis=1) / side[:-1])[ok]


@pytest.mark.parametrize("clip", ["LipNet__bbaf2n.mpg", "video-retalking__3.mp4", "EAMM__disgusted.mp4"])
def test_real_clip_faces_found_and_stable(real_clips, clip):
    frames = load_video(real_clips / clip, audio="skip", max_side=360).frames[:75]
    tr = detect_faces(frames, stride=5, detector="haar")
    h, w = frames.shape[1:3]
    assert tr.boxes.shape == (len(frames), 4) and tr.boxes.dtype == np.float32
    assert tr.found_ratio > 0.9
    side = tr.boxes[tr.found, 2] - tr.boxes[tr.found, 0]
    assert (side > 0.2 * min(h, w)).all() and (side < min(h, w)).all()  # a face, not a freckle or the frame
    # centres inside the middle of the frame, and the box barely moves frame to frame
    c = (tr.boxes[tr.found, :2] + tr.boxes[tr.found, 2:]) / 2
    assert (c[:, 0] > 0.2 * w).all() and (c[:, 0] < 0.8 * w).all()
    assert np.median(_jitter(tr)) < 0.01 and _jitter(tr).max() < 0.05


def test_no_face_in_noise_or_flat_frames():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (12, 120, 160, 3), dtype=np.uint8)
    flat = np.full((12, 120, 160, 3), 128, np.uint8)
    for frames in (noise, flat):
        tr = detect_faces(frames, stride=3, detector="haar")
        assert not tr.found.any() and tr.found_ratio == 0.0
        # the fallback box is a centred square, so crops stay defined
        np.testing.assert_allclose(tr.boxes[0], [44, 24, 116, 96])
        assert crop_faces(frames, tr, size=32).shape == (12, 32, 32, 3)


def test_tracking_follows_a_moving_face(grid_frames):
    """Shift one real frame 2 px right per frame: detections on stride 5, boxes in between follow."""
    base = grid_frames[0]
    t_len, shift = 26, 2
    pad = np.pad(base, ((0, 0), (0, t_len * shift), (0, 0)), mode="edge")
    frames = np.stack([pad[:, shift * (t_len - i) : shift * (t_len - i) + base.shape[1]] for i in range(t_len)])
    tr = detect_faces(frames, stride=5, detector="haar", smooth=0)
    assert tr.found.all()
    assert tr.detected[::5].sum() >= 5 and not tr.detected[1:5].any()  # only keyframes ran the detector
    x = (tr.boxes[:, 0] + tr.boxes[:, 2]) / 2
    slope = np.polyfit(np.arange(t_len), x, 1)[0]
    assert abs(slope - shift) < 0.4
    assert np.abs(x - (x[0] + shift * np.arange(t_len))).max() < 6


def test_interpolation_hold_and_gaps_hand_computed():
    key = np.array([0, 5, 10, 15, 20, 25])
    boxes = np.array(
        [[0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [50, 0, 60, 10]], np.float32
    )
    ok = np.array([True, True, False, False, False, True])
    b, found = track_boxes(key, boxes, ok, 30, (100, 100), hold=3, max_gap=10, smooth=0)
    np.testing.assert_allclose(b[2], [4, 0, 14, 10])  # 0.6 * key0 + 0.4 * key5
    np.testing.assert_allclose(b[5], boxes[1])
    assert found[:9].all()  # detections 0 and 5, then held 3 frames after 5
    assert not found[9:22].any()  # gap 5 -> 25 is 20 frames > max_gap: not tracked
    assert found[22:29].all() and not found[29]  # held 3 frames before and after the detection at 25
    np.testing.assert_allclose(b[12], boxes[1])  # nearest box kept for cropping where not found
    np.testing.assert_allclose(b[29], boxes[5])


def test_smoothing_removes_keyframe_jitter():
    key = np.arange(0, 50, 5)
    rng = np.random.default_rng(1)
    clean = np.array([100, 100, 200, 200], np.float32)
    noisy = clean + rng.normal(0, 3, (len(key), 1)).astype(np.float32)
    b0, _ = track_boxes(key, noisy, np.ones(len(key), bool), 46, (400, 400), 5, 15, smooth=0)
    b1, _ = track_boxes(key, noisy, np.ones(len(key), bool), 46, (400, 400), 5, 15, smooth=2.5)
    assert np.abs(np.diff(b1[:, 0])).max() < np.abs(np.diff(b0[:, 0])).max()
    assert abs(b1[:, 0].mean() - b0[:, 0].mean()) < 1.0


def test_outlier_detection_is_rejected():
    boxes = np.tile(np.array([100, 100, 200, 200], np.float32), (7, 1))
    boxes[3] = [10, 300, 40, 330]  # a false positive elsewhere
    ok = faces._reject_outliers(boxes, np.ones(7, bool))
    assert ok.tolist() == [True, True, True, False, True, True, True]


def test_square_boxes_clamp_at_borders():
    b = square_boxes(np.array([[-20, 10, 40, 70], [150, 150, 210, 190]]), margin=0.25, frame_size=(200, 200))
    # side = 60 * 1.5 = 90, pushed inside the frame and unchanged in size
    np.testing.assert_allclose(b[0], [0, 0, 90, 90])
    np.testing.assert_allclose(b[1], [110, 110, 200, 200])
    big = square_boxes(np.array([[0, 0, 300, 300]]), margin=0.0, frame_size=(200, 100))
    np.testing.assert_allclose(big[0], [-100, -50, 200, 250])  # larger than the frame: centred, padded


def test_crop_regions_takes_the_right_pixels():
    yy, xx = np.mgrid[0:100, 0:120]
    frame = np.stack([xx * 2, yy * 2, np.zeros_like(xx)], -1).astype(np.uint8)[None]
    crop = crop_regions(frame, np.array([[20, 30, 60, 70]], np.float32), (40, 40))  # 1:1 scale
    np.testing.assert_array_equal(crop[0], frame[0, 30:70, 20:60])
    padded = crop_regions(frame, np.array([[-10, 0, 30, 40]], np.float32), (40, 40))
    assert (padded[0, :, :10] == 0).all()
    np.testing.assert_array_equal(padded[0, :, 10:], frame[0, 0:40, 0:30])


def test_crop_faces_size_and_content(grid_frames):
    frames = grid_frames[:20]
    tr = detect_faces(frames, stride=5, detector="haar")
    crops = crop_faces(frames, tr, size=224, margin=0.25)
    assert crops.shape == (20, 224, 224, 3) and crops.dtype == np.uint8
    assert crops.std() > 10  # real image content, not padding


def test_mouth_box_rule():
    # canonical face box occupies [m, 1+m]/(1+2m) of the crop; mouth at fixed fractions of it
    x0, y0, x1, y1 = mouth_box(150, margin=0.25)  # face box: [25, 125], side 100
    assert (x0, y0, x1, y1) == (50, 89, 100, 121)
    mb = mouth_boxes(np.array([[0, 0, 100, 100]]))
    np.testing.assert_allclose(mb[0], [25, 64, 75, 96])


def test_unknown_detector_and_bad_shape():
    with pytest.raises(ValueError, match="unknown face detector"):
        detect_faces(np.zeros((2, 10, 10, 3), np.uint8), detector="nope")
    with pytest.raises(ValueError, match="RGB"):
        detect_faces(np.zeros((2, 10, 10), np.uint8))


def test_facetrack_found_ratio():
    tr = FaceTrack(
        boxes=np.zeros((4, 4), np.float32),
        found=np.array([1, 0, 1, 1], bool),
        detected=np.zeros(4, bool),
        frame_size=(10, 10),
    )
    assert tr.found_ratio == 0.75 and len(tr) == 4


@pytest.mark.skipif(not faces.mediapipe_available(), reason="mediapipe not installed (optional)")
def test_mediapipe_boxes_agree_with_haar(grid_frames):
    frames = grid_frames[:30]
    a = detect_faces(frames, detector="haar")
    b = detect_faces(frames, detector="mediapipe")
    assert b.found.all()
    inter = np.clip(np.minimum(a.boxes[:, 2:], b.boxes[:, 2:]) - np.maximum(a.boxes[:, :2], b.boxes[:, :2]), 0, None)
    ia = inter.prod(1)
    union = (a.boxes[:, 2:] - a.boxes[:, :2]).prod(1) + (b.boxes[:, 2:] - b.boxes[:, :2]).prod(1) - ia
    assert np.median(ia / union) > 0.75  # one canonical box whichever detector ran


def test_mediapipe_detection_from_several_threads(grid_frames):
    """Decoding threads (extract --num_workers 2, serve) each get their own detector: mediapipe's graphs
    are not thread-safe, and a shared one failed with 'packet timestamp mismatch'."""
    from concurrent.futures import ThreadPoolExecutor

    pytest.importorskip("mediapipe")
    frames = grid_frames[:40]
    serial = detect_faces(frames, detector="mediapipe", stride=1)
    with ThreadPoolExecutor(4) as pool:
        tracks = list(pool.map(lambda _: detect_faces(frames, detector="mediapipe", stride=1), range(8)))
    for t in tracks:
        assert t.found.all()
        np.testing.assert_allclose(t.boxes, serial.boxes, atol=1e-3)
    assert faces.get_detector("haar") is faces.get_detector("haar")  # still cached within a thread
