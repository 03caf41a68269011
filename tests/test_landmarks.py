"""Face mesh landmarks, aligned lower-face crops and lip geometry on real clips."""

import cv2
import numpy as np
import pytest

from vocalens.errors import UserError
from vocalens.media import landmarks as L
from vocalens.media.faces import detect_faces
from vocalens.media.video import load_video

needs_mesh = pytest.mark.skipif(not L.mediapipe_mesh_available(), reason="mediapipe face mesh not installed")
CLIP = "LipNet__bbaf2n.mpg"  # GRID: silence, a six-word sentence, silence


@pytest.fixture(scope="module")
def clip(real_clips):
    m = load_video(real_clips / CLIP)
    return m.frames, m.audio, m.sample_rate


@pytest.fixture(scope="module")
def lm(clip):
    return L.detect_landmarks(clip[0])


def _eye_angle(points):
    el, er = L._mid(points, L.EYE_L), L._mid(points, L.EYE_R)
    d = er - el
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def _rotate(frames, deg):
    h, w = frames.shape[1:3]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return np.stack([cv2.warpAffine(f, m, (w, h)) for f in frames])


@needs_mesh
def test_landmarks_found_inside_the_face(clip, lm):
    frames = clip[0]
    assert lm.points.shape == (len(frames), 468, 2) and lm.points.dtype == np.float32
    assert lm.found_ratio > 0.95
    b = lm.track.boxes
    cen = lm.points.mean(axis=1)
    inside = (cen[:, 0] > b[:, 0]) & (cen[:, 0] < b[:, 2]) & (cen[:, 1] > b[:, 1]) & (cen[:, 1] < b[:, 3])
    assert inside[lm.found].mean() > 0.95
    # eyes above the nose tip above the chin, image-left eye on the left
    p = lm.points[lm.found]
    assert (p[:, L.EYE_L[0], 0] < p[:, L.EYE_R[0], 0]).all()
    assert (p[:, L.EYE_L[0], 1] < p[:, L.NOSE_TIP, 1]).all() and (p[:, L.NOSE_TIP, 1] < p[:, L.CHIN, 1]).all()


@needs_mesh
def test_stable_points_barely_jitter(lm):
    p = lm.points[:, list(L.STABLE)]
    motion = np.linalg.norm(np.diff(p, axis=0), axis=2).mean(axis=1) / L.face_scale(lm)[1:]
    assert np.median(motion) < 0.01  # under 1 % of the face per frame on a still speaker


@needs_mesh
def test_stride_interpolates_between_mesh_frames(clip, lm):
    frames = clip[0]
    lm5 = L.detect_landmarks(frames, lm.track, stride=5)
    assert lm5.found_ratio > 0.95
    err = np.linalg.norm(lm5.points - lm.points, axis=2).mean(axis=1) / L.face_scale(lm)
    assert np.median(err) < 0.03


@needs_mesh
@pytest.mark.parametrize("deg", [0.0, 15.0, 90.0])
def test_alignment_levels_the_eyes(clip, deg):
    """Level eyes after alignment on the clip, turned 15 deg and turned sideways (a phone video decoded
    without its rotation)."""
    frames = np.ascontiguousarray(np.rot90(clip[0][:40], 1, axes=(1, 2))) if deg == 90 else _rotate(clip[0][:40], deg)
    lm = L.detect_landmarks(frames)
    assert lm.found_ratio > 0.9
    # the mesh follows the turned head: cv2 rotates counter-clockwise on screen, i.e. -deg in image coordinates
    assert abs(np.median(_eye_angle(lm.points)) + deg) < 4.0
    mats = L.lower_face_matrices(lm, 96)
    aligned = L.transform_points(lm.points, mats)
    assert np.abs(_eye_angle(aligned)).max() < 2.0
    # the lower face fills the crop: nose tip near the top, chin near the bottom, mouth centred
    nose, chin = aligned[:, L.NOSE_TIP], aligned[:, L.CHIN]
    mouth = L._mid(aligned, L.MOUTH_CORNERS)
    assert (nose[:, 1] > 0).all() and (nose[:, 1] < 0.3 * 96).all()
    assert (chin[:, 1] > 0.7 * 96).all() and (chin[:, 1] < 96).all()
    assert np.abs(mouth[:, 0] - 48).max() < 0.1 * 96


@needs_mesh
def test_aligned_crops_shape_and_content(clip, lm):
    frames = clip[0]
    lower = L.align_lower_face(frames, lm, size=64)
    assert lower.shape == (len(frames), 64, 64, 3) and lower.dtype == np.uint8
    assert lower.mean() > 30  # face pixels, not the black border
    # the crop follows the landmarks: the mouth corners land where the matrices say
    mats = L.lower_face_matrices(lm, 64)
    corners = L.transform_points(lm.points[:, list(L.MOUTH_CORNERS)], mats)
    assert (corners > 0).all() and (corners < 64).all()


@needs_mesh
def test_lip_opening_larger_while_speaking(clip, lm):
    frames, wav, sr = clip
    geo = L.lip_geometry(lm)
    assert geo.shape == (len(frames), 6) and geo.dtype == np.float32
    np.testing.assert_allclose(geo[:, 3:], np.gradient(geo[:, :3], axis=0), atol=1e-6)
    hop = sr // 25
    n = min(len(frames), len(wav) // hop)
    energy = np.log(np.square(wav[: n * hop].reshape(n, hop)).mean(axis=1) + 1e-8)
    loud = energy > np.percentile(energy, 60)
    quiet = energy < np.percentile(energy, 20)
    inner = geo[:n, 0]
    assert np.median(inner[loud]) > 2 * np.median(inner[quiet])
    assert np.corrcoef(inner, energy)[0, 1] > 0.3
    # the outer opening includes the lips, so it is larger than the inner one; widths are plausible
    assert (geo[lm.found, 1] > geo[lm.found, 0]).all()
    assert 0.5 < np.median(geo[:, 2]) < 1.2


@needs_mesh
def test_no_face_has_no_landmarks_but_defined_crops():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 120, 160, 3), dtype=np.uint8)
    lm = L.detect_landmarks(frames)
    assert not lm.found.any() and np.isnan(lm.points).all()
    assert L.align_lower_face(frames, lm, 32).shape == (6, 32, 32, 3)
    assert not L.lip_geometry(lm).any()


def test_fill_interpolates_and_holds():
    pts = np.zeros((10, 1, 2), np.float32)
    ok = np.zeros(10, bool)
    pts[2], pts[6] = 2.0, 6.0
    ok[[2, 6]] = True
    out, found = L._fill(pts, ok, max_gap=4)
    np.testing.assert_allclose(out[:, 0, 0], [2, 2, 2, 3, 4, 5, 6, 6, 6, 6])
    assert found.tolist() == [False, False, True, True, True, True, True, False, False, False]
    _, found = L._fill(pts, ok, max_gap=3)
    assert found.tolist() == [False, False, True, False, False, False, True, False, False, False]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 32, 32), np.uint8),
        np.zeros((4, 32, 32, 3), np.float32),
        np.zeros((0, 32, 32, 3), np.uint8),
        "not frames",
    ],
)
def test_bad_frames_are_one_line_errors(bad):
    with pytest.raises(UserError) as e:
        L.detect_landmarks(bad)
    assert "frames" in str(e.value) and "\n" not in str(e.value)


def test_unknown_backend_is_an_error():
    with pytest.raises(UserError, match="unknown landmark backend 'dlib'"):
        L.detect_landmarks(np.zeros((2, 32, 32, 3), np.uint8), backend="dlib")


def test_mismatched_track_is_an_error():
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    track = detect_faces(np.zeros((3, 32, 32, 3), np.uint8), detector="haar")
    with pytest.raises(UserError, match="3 face boxes for 4 frames"):
        L.detect_landmarks(frames, track)


@pytest.mark.parametrize("detector,scale", [("haar", 0.75), ("mediapipe", 0.5)])
def test_small_face_in_1080p(clip, detector, scale):
    """A GRID face shrunk to ~108 px (haar) / ~72 px (mediapipe) in a 1920x1080 frame: the 240 px
    full-frame pass misses it, the tiled retry finds it, and the mesh runs on its crop."""
    if detector == "mediapipe" and not L.mediapipe_mesh_available():
        pytest.skip("mediapipe not installed")
    small = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in clip[0][:10]])
    frames = np.full((10, 1080, 1920, 3), 90, np.uint8)
    h, w = small.shape[1:3]
    frames[:, 600 : 600 + h, 1200 : 1200 + w] = small
    track = detect_faces(frames, detector=detector)
    assert track.found.all()
    cx, cy = (track.boxes[:, 0] + track.boxes[:, 2]) / 2, (track.boxes[:, 1] + track.boxes[:, 3]) / 2
    assert ((cx > 1200) & (cx < 1200 + w) & (cy > 600) & (cy < 600 + h)).all()
    assert np.median(track.boxes[:, 2] - track.boxes[:, 0]) < 0.6 * h
    if L.mediapipe_mesh_available():
        lm = L.detect_landmarks(frames, track)
        assert lm.found.all()
        assert (lm.points[:, L.NOSE_TIP, 0] > 1200).all() and (lm.points[:, L.NOSE_TIP, 0] < 1200 + w).all()


def test_aligned_lower_faces_without_the_mesh_fall_back_to_the_box(monkeypatch, capsys):
    """A plain `pip install vocalens` (no mediapipe): the lower half of the face box, and one warning."""
    from vocalens import extras

    monkeypatch.setattr(L, "mediapipe_mesh_available", lambda: False)
    monkeypatch.setattr(extras, "_WARNED", set(), raising=False)
    faces = np.random.default_rng(0).integers(0, 256, (6, 224, 224, 3), dtype=np.uint8)
    out = L.aligned_lower_faces(faces, 96)
    assert out.shape == (6, 96, 96, 3) and out.mean() > 30  # face pixels, not a black border
    L.aligned_lower_faces(faces, 96)
    assert capsys.readouterr().err.count("face mesh is not installed") == 1
